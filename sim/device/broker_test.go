package device

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/listeners"
	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/certlab/certlab/iotda"
	"github.com/certlab/certlab/sim/pki"
)

// testPKI is the certificate material shared by every test: a server CA and
// server certificate, the device CA the broker trusts, and a rogue CA it does
// not. Generated once per test binary.
type testPKI struct {
	serverCA *pki.CA
	server   *pki.Leaf
	deviceCA *pki.CA
	rogueCA  *pki.CA
}

var sharedPKI = sync.OnceValues(func() (*testPKI, error) {
	p := &testPKI{}
	var err error
	if p.serverCA, err = pki.NewRootCA("certlab test server CA"); err != nil {
		return nil, err
	}
	if p.server, err = p.serverCA.NewServerCert("mqtt.test", []string{"localhost"}); err != nil {
		return nil, err
	}
	if p.deviceCA, err = pki.NewRootCA("certlab test device CA"); err != nil {
		return nil, err
	}
	if p.rogueCA, err = pki.NewRootCA("rogue device CA"); err != nil {
		return nil, err
	}
	return p, nil
})

func getPKI(t testing.TB) *testPKI {
	t.Helper()
	p, err := sharedPKI()
	if err != nil {
		t.Fatalf("test PKI: %v", err)
	}
	return p
}

func certPool(certs ...*x509.Certificate) *x509.CertPool {
	p := x509.NewCertPool()
	for _, c := range certs {
		p.AddCert(c)
	}
	return p
}

// serverTLS is the broker's TLS config: a client certificate chaining to the
// device CA is required and verified in the handshake. [LOGIN-TLS]
func (p *testPKI) serverTLS() *tls.Config {
	return &tls.Config{
		Certificates: []tls.Certificate{p.server.TLSCertificate()},
		ClientAuth:   tls.RequireAndVerifyClientCert,
		ClientCAs:    certPool(p.deviceCA.Cert),
		MinVersion:   tls.VersionTLS12,
	}
}

// clientTLS is a device's TLS config pinned to one TLS version. leaf may be
// nil (no client certificate). ServerName is left empty so Login derives it.
func (p *testPKI) clientTLS(leaf *pki.Leaf, version uint16) *tls.Config {
	c := &tls.Config{RootCAs: certPool(p.serverCA.Cert), MinVersion: version, MaxVersion: version}
	if leaf != nil {
		c.Certificates = []tls.Certificate{leaf.TLSCertificate()}
	}
	return c
}

// deviceCert issues a device certificate with CN = deviceID from ca.
func deviceCert(t testing.TB, ca *pki.CA, deviceID string) *pki.Leaf {
	t.Helper()
	l, err := ca.NewDeviceCert(deviceID)
	if err != nil {
		t.Fatalf("device cert %s: %v", deviceID, err)
	}
	return l
}

// testHook is the in-test broker's auth/ACL hook: it accepts any client whose
// certificate the TLS layer verified, refuses chosen client ids with a chosen
// CONNACK code (docs/libraries.md A1.4), lets a device use only topics under
// $oc/devices/{username}/ [ACL-OWN-TOPICS], and records how sessions ended.
type testHook struct {
	mqtt.HookBase
	srv *mqtt.Server

	mu      sync.Mutex
	refuse  map[string]packets.Code // client id -> CONNACK code
	peerCN  map[string]string       // client id -> CN of the verified client certificate
	stopped map[string]error        // client id -> mochi's stop cause when it went away
}

func (h *testHook) ID() string { return "certlab-device-test" }

func (h *testHook) Provides(b byte) bool {
	return bytes.Contains([]byte{mqtt.OnConnect, mqtt.OnConnectAuthenticate, mqtt.OnACLCheck, mqtt.OnDisconnect}, []byte{b})
}

func (h *testHook) OnConnect(cl *mqtt.Client, _ packets.Packet) error {
	h.mu.Lock()
	code, refuse := h.refuse[cl.ID]
	if tc, ok := cl.Net.Conn.(*tls.Conn); ok {
		if pc := tc.ConnectionState().PeerCertificates; len(pc) > 0 {
			h.peerCN[cl.ID] = pc[0].Subject.CommonName
		}
	}
	h.mu.Unlock()
	if refuse {
		_ = h.srv.SendConnack(cl, code, false, nil)
		return code // closes the connection after the CONNACK
	}
	return nil
}

func (h *testHook) OnConnectAuthenticate(cl *mqtt.Client, _ packets.Packet) bool {
	tc, ok := cl.Net.Conn.(*tls.Conn)
	return ok && len(tc.ConnectionState().PeerCertificates) > 0
}

func (h *testHook) OnACLCheck(cl *mqtt.Client, topic string, _ bool) bool {
	return strings.HasPrefix(topic, iotda.TopicPrefix(string(cl.Properties.Username)))
}

func (h *testHook) OnDisconnect(cl *mqtt.Client, _ error, _ bool) {
	h.mu.Lock()
	h.stopped[cl.ID] = cl.StopCause()
	h.mu.Unlock()
}

// testBroker is a real mochi-mqtt broker on 127.0.0.1:0 behind a mutual-TLS listener.
type testBroker struct {
	*testPKI
	srv  *mqtt.Server
	hook *testHook
	addr string
}

// newBroker starts a mochi broker with the test hook behind a TLS listener
// on 127.0.0.1:0 and returns it with its address.
func newBroker(tlsCfg *tls.Config) (*mqtt.Server, *testHook, string, error) {
	caps := mqtt.NewDefaultServerCapabilities()
	caps.MaximumClientWritesPending = 64 // small per-client queues: benchmarks hold many clients
	srv := mqtt.New(&mqtt.Options{Capabilities: caps, Logger: slog.New(slog.DiscardHandler)})
	h := &testHook{srv: srv, refuse: map[string]packets.Code{}, peerCN: map[string]string{}, stopped: map[string]error{}}
	if err := srv.AddHook(h, nil); err != nil {
		return nil, nil, "", fmt.Errorf("add hook: %w", err)
	}
	l := listeners.NewTCP(listeners.Config{Type: listeners.TypeTCP, ID: "mqtts", Address: "127.0.0.1:0", TLSConfig: tlsCfg})
	if err := srv.AddListener(l); err != nil {
		return nil, nil, "", fmt.Errorf("add listener: %w", err)
	}
	if err := srv.Serve(); err != nil {
		return nil, nil, "", fmt.Errorf("serve: %w", err)
	}
	return srv, h, l.Address(), nil
}

// closeBroker closes srv, giving up after 5 s (mochi's Close waits for
// half-open clients forever, docs/libraries.md A1.7).
func closeBroker(srv *mqtt.Server) error {
	done := make(chan struct{})
	go func() { _ = srv.Close(); close(done) }()
	select {
	case <-done:
		return nil
	case <-time.After(5 * time.Second):
		return errors.New("broker Close did not return within 5s (a client left half-open?)")
	}
}

func startBroker(t testing.TB) *testBroker {
	t.Helper()
	p := getPKI(t)
	srv, h, addr, err := newBroker(p.serverTLS())
	if err != nil {
		t.Fatalf("start broker: %v", err)
	}
	t.Cleanup(func() {
		if err := closeBroker(srv); err != nil {
			t.Error(err)
		}
	})
	return &testBroker{testPKI: p, srv: srv, hook: h, addr: addr}
}

// refuse makes the broker answer clientID's CONNECT with code.
func (b *testBroker) refuse(clientID string, code packets.Code) {
	b.hook.mu.Lock()
	b.hook.refuse[clientID] = code
	b.hook.mu.Unlock()
}

// peerCN is the CN of the certificate the broker verified for clientID.
func (b *testBroker) peerCN(clientID string) string {
	b.hook.mu.Lock()
	defer b.hook.mu.Unlock()
	return b.hook.peerCN[clientID]
}

// waitStopped waits until the broker has seen clientID go away and returns
// mochi's stop cause (packets.CodeDisconnect after a client DISCONNECT).
func (b *testBroker) waitStopped(t testing.TB, clientID string) error {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		b.hook.mu.Lock()
		cause, ok := b.hook.stopped[clientID]
		b.hook.mu.Unlock()
		if ok {
			return cause
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("broker never saw %s disconnect", clientID)
	return nil
}

// client returns the broker's live client for clientID.
func (b *testBroker) client(t testing.TB, clientID string) *mqtt.Client {
	t.Helper()
	cl, ok := b.srv.Clients.Get(clientID)
	if !ok {
		t.Fatalf("broker has no client %s", clientID)
	}
	return cl
}

// device is a registered test identity: its certificate and a ready Config.
type device struct {
	id   string
	leaf *pki.Leaf
}

func newDevice(t testing.TB, ca *pki.CA, id string) device {
	t.Helper()
	return device{id: id, leaf: deviceCert(t, ca, id)}
}

// config is an IoTDA-style login for d against b: ClientId
// {device_id}_0_0_{YYYYMMDDHH}, username = device_id, no password.
func (b *testBroker) config(d device, mqttVersion iotda.MQTTVersion, tlsVersion uint16) Config {
	return Config{
		Addr:           b.addr,
		TLS:            b.clientTLS(d.leaf, tlsVersion),
		MQTTVersion:    mqttVersion,
		ClientID:       iotda.ClientIDFor(d.id, time.Now()),
		Username:       d.id,
		ConnectTimeout: 5 * time.Second,
	}
}

// rawServer is a TLS or TCP listener on 127.0.0.1:0 whose connections are
// handed to handle (for misbehaving-server cases mochi cannot play). It closes
// the listener and every accepted connection at cleanup.
func rawServer(t testing.TB, cfg *tls.Config, handle func(net.Conn)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			if cfg != nil {
				c = tls.Server(c, cfg)
			}
			wg.Go(func() { handle(c) })
		}
	})
	t.Cleanup(func() {
		_ = ln.Close()
		mu.Lock()
		for _, c := range conns {
			_ = c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return ln.Addr().String()
}

// requireOutcome checks the classification of a login result.
func requireOutcome(t testing.TB, res Result, o iotda.Outcome, p Phase, reason string) {
	t.Helper()
	if res.Outcome != o || res.Phase != p || (reason != "" && res.Reason != reason) {
		t.Fatalf("login = {%s %q %q} (err: %v), want {%s %q %q}", res.Outcome, res.Phase, res.Reason, res.Err, o, p, reason)
	}
}
