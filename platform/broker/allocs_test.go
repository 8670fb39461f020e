package broker

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"runtime"
	"sync"
	"testing"
	"time"
)

// loginAllocBudget is how many more heap allocations one device login
// (TCP + TLS 1.3 mutual handshake + CONNECT/CONNACK + close) may cost in
// the broker than the same handshake with a one-byte echo costs a bare
// crypto/tls server, both sides of the connection counted. Measured: 57-59
// before the handshake lost its context (and crypto/tls its watcher
// goroutine), 48 after; about 42 of them are mochi's per-client setup
// (topic aliases, inflights, subscriptions, buffers, context). A change
// that adds work to every login fails here.
const loginAllocBudget = 55

// TestLoginAllocationBudget guards the login hot path against new
// per-login allocations: it counts the heap allocations of 200 logins
// against a bare crypto/tls server and against the broker, in this
// process, and compares the two (the handshake's own allocations cancel).
func TestLoginAllocationBudget(t *testing.T) {
	if testing.Short() {
		t.Skip("400 logins")
	}
	f := getFixture(t)
	d := newDir(t)
	dev := addDevice(t, d, f.caA, "prod-mqtt_allocs", nil)
	clientCfg := tlsConfig(t, dev.Leaf, tls.VersionTLS13)
	clientCfg.CurvePreferences = []tls.CurveID{tls.X25519}

	pool := x509.NewCertPool()
	pool.AddCert(f.caA.Cert)
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{f.serverCert},
		ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: pool})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			_ = c.SetDeadline(time.Now().Add(5 * time.Second))
			if _, err := c.Write([]byte{1}); err == nil {
				_, _ = io.Copy(io.Discard, c)
			}
			_ = c.Close()
		}
	})
	defer func() { _ = ln.Close(); wg.Wait() }()

	br := startBroker(t, d, nil)
	var buf connBuf
	if err := newRawClient(t, &buf, 4).sendConnect(connectOpts{clientID: clientID(dev.ID), username: dev.ID, keepalive: 120}); err != nil {
		t.Fatal(err)
	}
	connect := buf.b

	perLogin := func(addr string, login func(c *tls.Conn) error) float64 {
		const warmup, n = 20, 200
		var before, after runtime.MemStats
		for i := range warmup + n {
			if i == warmup {
				runtime.GC()
				runtime.ReadMemStats(&before)
			}
			raw, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			c := tls.Client(raw, clientCfg)
			if err := login(c); err != nil {
				t.Fatal(err)
			}
			_ = c.Close()
		}
		time.Sleep(100 * time.Millisecond) // the server side of the last login finishes
		runtime.ReadMemStats(&after)
		return float64(after.Mallocs-before.Mallocs) / n
	}
	one := make([]byte, 1)
	bare := perLogin(ln.Addr().String(), func(c *tls.Conn) error { _, err := io.ReadFull(c, one); return err })
	ack := make([]byte, 4)
	broker := perLogin(br.Addr(), func(c *tls.Conn) error {
		if _, err := c.Write(connect); err != nil {
			return err
		}
		if _, err := io.ReadFull(c, ack); err != nil {
			return err
		}
		if ack[3] != 0 {
			return fmt.Errorf("CONNACK % x", ack)
		}
		return nil
	})
	t.Logf("allocations per login: bare crypto/tls %.1f, broker %.1f (+%.1f; budget +%d)", bare, broker, broker-bare, loginAllocBudget)
	if broker-bare > loginAllocBudget {
		t.Errorf("a broker login allocates %.1f more than a bare handshake; the budget is %d: find the new per-login work", broker-bare, loginAllocBudget)
	}
}
