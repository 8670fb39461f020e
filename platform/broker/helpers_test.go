package broker

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	pahopackets "github.com/eclipse/paho.golang/packets"
	"github.com/eclipse/paho.golang/paho"
	"github.com/mochi-mqtt/server/v2/packets"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/certlab/certlab/iotda"
	"github.com/certlab/certlab/platform/registry"
	"github.com/certlab/certlab/sim/pki"
)

// ---- in-memory Directory (the registry is not under test here) ----

type statusCall struct {
	deviceID string
	online   bool
	at       time.Time
}

type memDir struct {
	trust atomic.Pointer[registry.Trust]

	mu       sync.Mutex
	cas      map[string]*registry.CA // by ID
	devices  map[string]registry.Device
	products map[string]registry.Product // project/product
	statuses []statusCall
	bindErr  error
	binds    int
}

func newMemDir() *memDir {
	d := &memDir{cas: map[string]*registry.CA{}, devices: map[string]registry.Device{}, products: map[string]registry.Product{}}
	d.rebuildLocked()
	return d
}

var _ Directory = (*memDir)(nil)

func (d *memDir) Trust() *registry.Trust { return d.trust.Load() }

func (d *memDir) LookupDevice(id string) (registry.Device, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	dev, ok := d.devices[id]
	return dev, ok
}

func (d *memDir) Product(projectID, productID string) (registry.Product, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	p, ok := d.products[projectID+"/"+productID]
	if !ok {
		return registry.Product{}, registry.ErrNotFound
	}
	return p, nil
}

func (d *memDir) BindFingerprint(_ context.Context, id, fp string) (bool, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.binds++
	if d.bindErr != nil {
		return false, d.bindErr
	}
	dev, ok := d.devices[id]
	if !ok {
		return false, registry.ErrNotFound
	}
	if dev.Fingerprint == "" {
		dev.Fingerprint = fp
		d.devices[id] = dev
	}
	return dev.Fingerprint == fp, nil
}

func (d *memDir) SetOnline(_ context.Context, id string, online bool, at time.Time) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.statuses = append(d.statuses, statusCall{id, online, at})
	return nil
}

// addCA uploads (and optionally verifies) a CA in a project.
func (d *memDir) addCA(projectID, id string, cert *x509.Certificate, verified bool) *registry.CA {
	d.mu.Lock()
	defer d.mu.Unlock()
	ca := &registry.CA{ID: id, ProjectID: projectID, CNName: cert.Subject.CommonName, Verified: verified, Cert: cert, SHA256: sha256Hex(cert.Raw)}
	d.cas[id] = ca
	d.rebuildLocked()
	return ca
}

func (d *memDir) deleteCA(id string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	delete(d.cas, id)
	d.rebuildLocked()
}

func (d *memDir) rebuildLocked() {
	t := &registry.Trust{Verified: x509.NewCertPool(), All: x509.NewCertPool(), BySHA256: map[string]*registry.CA{}, Built: time.Now()}
	for _, ca := range d.cas {
		t.All.AddCert(ca.Cert)
		if ca.Verified {
			t.Verified.AddCert(ca.Cert)
		}
		t.BySHA256[ca.SHA256] = ca
	}
	d.trust.Store(t)
}

func (d *memDir) addProduct(projectID, id, protocol string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.products[projectID+"/"+id] = registry.Product{ID: id, ProjectID: projectID, ProtocolType: protocol}
}

func (d *memDir) putDevice(dev registry.Device) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.devices[dev.ID] = dev
}

func (d *memDir) update(id string, fn func(*registry.Device)) {
	d.mu.Lock()
	defer d.mu.Unlock()
	dev := d.devices[id]
	fn(&dev)
	d.devices[id] = dev
}

func (d *memDir) device(id string) registry.Device {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.devices[id]
}

func (d *memDir) statusCalls(id string) []statusCall {
	d.mu.Lock()
	defer d.mu.Unlock()
	var out []statusCall
	for _, s := range d.statuses {
		if s.deviceID == id {
			out = append(out, s)
		}
	}
	return out
}

// ---- PKI fixture, built once per test binary ----

const (
	projectA = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	projectB = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"

	caAID = "0000000000000000000000a1"
	caBID = "0000000000000000000000b1"
	caUID = "0000000000000000000000c1" // uploaded, unverified

	productMQTT = "prod-mqtt"
	productCoAP = "prod-coap"
	productB    = "prod-b"
)

type fixture struct {
	serverCert tls.Certificate
	serverPool *x509.CertPool
	caA, caB   *pki.CA // verified, projects A and B
	caU        *pki.CA // uploaded to A, not verified
	intA       *pki.CA // intermediate under caA
	foreign    *pki.CA // never uploaded
}

var (
	fixOnce sync.Once
	fix     *fixture
	fixErr  error
)

func getFixture(t testing.TB) *fixture {
	t.Helper()
	fixOnce.Do(func() { fix, fixErr = buildFixture() })
	if fixErr != nil {
		t.Fatalf("build PKI fixture: %v", fixErr)
	}
	return fix
}

func buildFixture() (*fixture, error) {
	f := &fixture{}
	srvCA, err := pki.NewRootCA("certlab test server CA")
	if err != nil {
		return nil, err
	}
	srv, err := srvCA.NewServerCert("localhost", []string{"localhost"})
	if err != nil {
		return nil, err
	}
	f.serverCert = srv.TLSCertificate()
	f.serverPool = x509.NewCertPool()
	f.serverPool.AddCert(srvCA.Cert)
	for _, c := range []struct {
		dst **pki.CA
		cn  string
	}{{&f.caA, "Device CA A"}, {&f.caB, "Device CA B"}, {&f.caU, "Device CA Unverified"}, {&f.foreign, "Foreign CA"}} {
		if *c.dst, err = pki.NewRootCA(c.cn); err != nil {
			return nil, err
		}
	}
	if f.intA, err = f.caA.NewIntermediate("Device Intermediate A"); err != nil {
		return nil, err
	}
	return f, nil
}

// newDir returns a directory with the fixture's CAs and products.
func newDir(t testing.TB) *memDir {
	t.Helper()
	f := getFixture(t)
	d := newMemDir()
	d.addCA(projectA, caAID, f.caA.Cert, true)
	d.addCA(projectB, caBID, f.caB.Cert, true)
	d.addCA(projectA, caUID, f.caU.Cert, false)
	d.addProduct(projectA, productMQTT, iotda.ProtocolMQTT)
	d.addProduct(projectA, productCoAP, "CoAP")
	d.addProduct(projectB, productB, iotda.ProtocolMQTT)
	return d
}

// testDevice is a registered device and its certificate.
type testDevice struct {
	ID   string
	Leaf *pki.Leaf
}

// addDevice registers a CERTIFICATES device of product prod_mqtt in project A
// with a certificate from ca, fingerprint = the leaf's SHA-256.
func addDevice(t testing.TB, d *memDir, ca *pki.CA, id string, mod func(*registry.Device)) testDevice {
	t.Helper()
	leaf, err := ca.NewDeviceCert(id)
	if err != nil {
		t.Fatalf("device cert %s: %v", id, err)
	}
	dev := registry.Device{ID: id, ProjectID: projectA, ProductID: productMQTT, NodeID: id, AuthType: iotda.AuthCertificates,
		Fingerprint: leaf.FingerprintSHA256(), Status: iotda.StatusInactive}
	if mod != nil {
		mod(&dev)
	}
	d.putDevice(dev)
	return testDevice{ID: id, Leaf: leaf}
}

// clientID builds an IoTDA ClientId for the current hour.
func clientID(deviceID string) string { return clientIDAt(deviceID, time.Now()) }

func clientIDAt(deviceID string, t time.Time) string { return iotda.ClientIDFor(deviceID, t) }

// ---- broker ----

type testBroker struct {
	*Broker
	dir *memDir
	reg *prometheus.Registry
}

func startBroker(t testing.TB, d *memDir, mod func(*Config)) *testBroker {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	cfg := Config{
		Addr:           "127.0.0.1:0",
		Certificate:    getFixture(t).serverCert,
		Directory:      d,
		ConnectTimeout: 3 * time.Second,
		Registerer:     reg,
	}
	if mod != nil {
		mod(&cfg)
	}
	b, err := New(cfg)
	if err != nil {
		t.Fatalf("new broker: %v", err)
	}
	if err := b.Start(t.Context()); err != nil {
		t.Fatalf("start broker: %v", err)
	}
	t.Cleanup(func() { _ = b.Close() })
	return &testBroker{Broker: b, dir: d, reg: reg}
}

// waitAttempt polls the attempt log for the newest attempt with reason.
func waitAttempt(t testing.TB, b *Broker, deviceID string, reason iotda.Reason) iotda.LoginAttempt {
	t.Helper()
	deadline := time.Now().Add(3 * time.Second)
	for {
		if as := b.LoginAttempts(deviceID, string(reason), 1); len(as) == 1 {
			return as[0]
		}
		if time.Now().After(deadline) {
			t.Fatalf("no login attempt with device %q reason %q; have %+v", deviceID, reason, b.LoginAttempts("", "", 5))
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// eventually polls cond for up to 3 s.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// ---- clients ----

// tlsConfig is a device's TLS client configuration (leaf nil: no certificate).
func tlsConfig(t testing.TB, leaf *pki.Leaf, version uint16) *tls.Config {
	t.Helper()
	c := &tls.Config{RootCAs: getFixture(t).serverPool, ServerName: "localhost", MinVersion: version, MaxVersion: version}
	if leaf != nil {
		c.Certificates = []tls.Certificate{leaf.TLSCertificate()}
	}
	return c
}

func dialTLS(t testing.TB, addr string, cfg *tls.Config) (*tls.Conn, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	d := tls.Dialer{Config: cfg}
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	t.Cleanup(func() { _ = c.Close() })
	return c.(*tls.Conn), nil
}

// probeRefused reports whether the server refused the TLS handshake: under
// TLS 1.2 the dial fails; under TLS 1.3 the client finishes first and the
// alert arrives on the first read (docs/libraries.md A2.4).
func probeRefused(t testing.TB, addr string, cfg *tls.Config) (bool, error) {
	t.Helper()
	c, err := dialTLS(t, addr, cfg)
	if err != nil {
		return true, err
	}
	_ = c.SetReadDeadline(time.Now().Add(400 * time.Millisecond))
	_, err = c.Read(make([]byte, 1))
	if ne, ok := errors.AsType[net.Error](err); ok && ne.Timeout() {
		return false, nil
	}
	return true, err
}

// rawClient speaks MQTT 3.1.1 or 5 with mochi's packet codec, so tests see
// the exact bytes on the wire.
type rawClient struct {
	t       testing.TB
	conn    net.Conn
	br      *bufio.Reader
	version byte
}

func newRawClient(t testing.TB, conn net.Conn, version byte) *rawClient {
	return &rawClient{t: t, conn: conn, br: bufio.NewReader(conn), version: version}
}

type connectOpts struct {
	clientID  string
	username  string
	keepalive uint16
	will      bool
	password  string
}

func (c *rawClient) sendConnect(o connectOpts) error {
	pk := packets.Packet{
		FixedHeader:     packets.FixedHeader{Type: packets.Connect},
		ProtocolVersion: c.version,
		Connect: packets.ConnectParams{
			ProtocolName:     []byte("MQTT"),
			Clean:            true,
			Keepalive:        o.keepalive,
			ClientIdentifier: o.clientID,
		},
	}
	if o.username != "" {
		pk.Connect.UsernameFlag, pk.Connect.Username = true, []byte(o.username)
	}
	if o.password != "" {
		pk.Connect.PasswordFlag, pk.Connect.Password = true, []byte(o.password)
	}
	if o.will {
		pk.Connect.WillFlag, pk.Connect.WillTopic, pk.Connect.WillPayload = true, "$oc/devices/x/sys/events/up", []byte("bye")
		pk.Connect.WillQos, pk.Connect.WillRetain = 1, true
	}
	if c.version == 5 {
		pk.Properties.RequestProblemInfo, pk.Properties.RequestProblemInfoFlag = 1, true
	}
	return c.write(pk)
}

func (c *rawClient) write(pk packets.Packet) error {
	pk.ProtocolVersion = c.version
	var buf bytes.Buffer
	var err error
	switch pk.FixedHeader.Type {
	case packets.Connect:
		err = pk.ConnectEncode(&buf)
	case packets.Publish:
		err = pk.PublishEncode(&buf)
	case packets.Subscribe:
		err = pk.SubscribeEncode(&buf)
	case packets.Puback:
		err = pk.PubackEncode(&buf)
	case packets.Disconnect:
		err = pk.DisconnectEncode(&buf)
	default:
		return fmt.Errorf("rawClient: cannot encode packet type %d", pk.FixedHeader.Type)
	}
	if err != nil {
		return err
	}
	_ = c.conn.SetWriteDeadline(time.Now().Add(3 * time.Second))
	_, err = c.conn.Write(buf.Bytes())
	return err
}

// read reads one packet; it returns the raw bytes and the decoded packet.
func (c *rawClient) read(timeout time.Duration) ([]byte, packets.Packet, error) {
	_ = c.conn.SetReadDeadline(time.Now().Add(timeout))
	pk := packets.Packet{ProtocolVersion: c.version}
	first, err := c.br.ReadByte()
	if err != nil {
		return nil, pk, err
	}
	raw := []byte{first}
	if err := pk.FixedHeader.Decode(first); err != nil {
		return raw, pk, err
	}
	remaining, mult := 0, 1
	for i := 0; ; i++ {
		b, err := c.br.ReadByte()
		if err != nil {
			return raw, pk, err
		}
		raw = append(raw, b)
		remaining += int(b&0x7f) * mult
		mult *= 128
		if b&0x80 == 0 {
			break
		}
		if i == 3 {
			return raw, pk, errors.New("malformed remaining length")
		}
	}
	pk.FixedHeader.Remaining = remaining
	body := make([]byte, remaining)
	if _, err := io.ReadFull(c.br, body); err != nil {
		return raw, pk, err
	}
	raw = append(raw, body...)
	switch pk.FixedHeader.Type {
	case packets.Connack:
		err = pk.ConnackDecode(body)
	case packets.Publish:
		err = pk.PublishDecode(body)
	case packets.Puback:
		err = pk.PubackDecode(body)
	case packets.Suback:
		err = pk.SubackDecode(body)
	case packets.Disconnect:
		err = pk.DisconnectDecode(body)
	}
	return raw, pk, err
}

// login connects and returns the raw CONNACK bytes and the decoded CONNACK.
func (c *rawClient) login(o connectOpts) ([]byte, packets.Packet) {
	c.t.Helper()
	if err := c.sendConnect(o); err != nil {
		c.t.Fatalf("send CONNECT: %v", err)
	}
	raw, pk, err := c.read(3 * time.Second)
	if err != nil {
		c.t.Fatalf("read CONNACK: %v (got % x)", err, raw)
	}
	if pk.FixedHeader.Type != packets.Connack {
		c.t.Fatalf("first packet type %d, want CONNACK (% x)", pk.FixedHeader.Type, raw)
	}
	return raw, pk
}

// expectClosed asserts the server closes the connection within timeout
// (packets may still arrive first; they are returned).
func (c *rawClient) expectClosed(timeout time.Duration) []packets.Packet {
	c.t.Helper()
	got, _ := c.readToEnd(timeout)
	return got
}

// expectCleanClose is expectClosed that also requires the TLS connection to
// end cleanly: with close_notify (io.EOF from crypto/tls), not a record that
// cannot be decrypted (bad record MAC), a reset or a bare TCP close.
func (c *rawClient) expectCleanClose(timeout time.Duration) []packets.Packet {
	c.t.Helper()
	got, err := c.readToEnd(timeout)
	if err != io.EOF { //nolint:errorlint // crypto/tls returns io.EOF itself for close_notify
		c.t.Errorf("the connection ended with %v after %s, want a clean TLS close (close_notify)", err, describe(got))
	}
	return got
}

// readToEnd reads packets until the connection ends and returns them and
// the error that ended it; it fails the test on a timeout.
func (c *rawClient) readToEnd(timeout time.Duration) ([]packets.Packet, error) {
	c.t.Helper()
	var got []packets.Packet
	deadline := time.Now().Add(timeout)
	for {
		_, pk, err := c.read(time.Until(deadline))
		if err != nil {
			if ne, ok := errors.AsType[net.Error](err); ok && ne.Timeout() {
				c.t.Fatalf("connection still open after %s (packets: %s)", timeout, describe(got))
			}
			return got, err
		}
		got = append(got, pk)
	}
}

// dialRaw dials with TLS and wraps the connection in a raw MQTT client.
func dialRaw(t testing.TB, addr string, leaf *pki.Leaf, tlsVersion uint16, mqttVersion byte) *rawClient {
	t.Helper()
	c, err := dialTLS(t, addr, tlsConfig(t, leaf, tlsVersion))
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	return newRawClient(t, c, mqttVersion)
}

// loginRaw dials and logs a device in with defaults (keepalive 120), failing
// the test unless the CONNACK says success.
func loginRaw(t testing.TB, addr string, dev testDevice, mqttVersion byte) *rawClient {
	t.Helper()
	c := dialRaw(t, addr, dev.Leaf, tls.VersionTLS13, mqttVersion)
	raw, pk := c.login(connectOpts{clientID: clientID(dev.ID), username: dev.ID, keepalive: 120})
	if pk.ReasonCode != 0 {
		t.Fatalf("login %s: CONNACK % x, want success", dev.ID, raw)
	}
	return c
}

// ---- paho (MQTT 5) ----

type pahoDevice struct {
	c        *paho.Client
	received chan *paho.Publish
	discon   chan *paho.Disconnect
	connack  *paho.Connack
}

// loginPaho logs a device in over MQTT 5 with paho.golang.
func loginPaho(t testing.TB, addr string, dev testDevice, cid string) (*pahoDevice, error) {
	t.Helper()
	conn, err := dialTLS(t, addr, tlsConfig(t, dev.Leaf, tls.VersionTLS13))
	if err != nil {
		return nil, err
	}
	pd := &pahoDevice{received: make(chan *paho.Publish, 16), discon: make(chan *paho.Disconnect, 1)}
	pd.c = paho.NewClient(paho.ClientConfig{
		Conn:          packetsThreadSafe(conn),
		PacketTimeout: 3 * time.Second,
		OnPublishReceived: []func(paho.PublishReceived) (bool, error){func(pr paho.PublishReceived) (bool, error) {
			select {
			case pd.received <- pr.Packet:
			default:
			}
			return true, nil
		}},
		OnServerDisconnect: func(d *paho.Disconnect) {
			select {
			case pd.discon <- d:
			default:
			}
		},
	})
	rm := uint16(16)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	pd.connack, err = pd.c.Connect(ctx, &paho.Connect{
		ClientID: cid, Username: dev.ID, UsernameFlag: true, KeepAlive: 120, CleanStart: true,
		Properties: &paho.ConnectProperties{ReceiveMaximum: &rm, RequestProblemInfo: true},
	})
	if err != nil {
		return pd, err
	}
	t.Cleanup(func() { _ = pd.c.Disconnect(&paho.Disconnect{}) })
	return pd, nil
}

func packetsThreadSafe(c net.Conn) net.Conn { return pahopackets.NewThreadSafeConn(c) }

// describe summarises packets as "type/reason" for failure messages.
func describe(pks []packets.Packet) string {
	if len(pks) == 0 {
		return "nothing"
	}
	names := map[byte]string{packets.Connack: "CONNACK", packets.Publish: "PUBLISH", packets.Puback: "PUBACK",
		packets.Suback: "SUBACK", packets.Disconnect: "DISCONNECT"}
	var out []string
	for _, pk := range pks {
		n := names[pk.FixedHeader.Type]
		if n == "" {
			n = fmt.Sprintf("type %d", pk.FixedHeader.Type)
		}
		out = append(out, fmt.Sprintf("%s 0x%02x", n, pk.ReasonCode))
	}
	return strings.Join(out, ", ")
}
