package broker

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/certlab/certlab/iotda"
)

// stallConn lets a TLS client send its ClientHello and then holds its
// reads until released: the server, having answered, waits for the
// client's next flight and so keeps its handshake slot.
type stallConn struct {
	net.Conn
	release chan struct{}
}

func (c *stallConn) Read(p []byte) (int, error) {
	<-c.release
	return c.Conn.Read(p)
}

// holdHandshake starts a device's handshake that stalls after the
// ClientHello; the returned func lets it finish and returns the TLS conn.
func holdHandshake(t *testing.T, addr string, dev testDevice) (finish func() (*tls.Conn, error)) {
	t.Helper()
	raw, err := net.DialTimeout("tcp", addr, 3*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = raw.Close() })
	sc := &stallConn{Conn: raw, release: make(chan struct{})}
	tc := tls.Client(sc, tlsConfig(t, dev.Leaf, tls.VersionTLS13))
	done := make(chan error, 1)
	go func() { done <- tc.Handshake() }()
	return func() (*tls.Conn, error) {
		close(sc.release)
		return tc, <-done
	}
}

// countingConn counts the bytes the server sent.
type countingConn struct {
	net.Conn
	n atomic.Int64
}

func (c *countingConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.n.Add(int64(n))
	return n, err
}

// requireClosedBeforeTLS runs a handshake on raw and checks that the server
// closed the connection without sending a single byte.
func requireClosedBeforeTLS(t *testing.T, raw net.Conn, dev testDevice) {
	t.Helper()
	cc := &countingConn{Conn: raw}
	_ = raw.SetDeadline(time.Now().Add(5 * time.Second))
	err := tls.Client(cc, tlsConfig(t, dev.Leaf, tls.VersionTLS13)).Handshake()
	if err == nil {
		t.Fatal("handshake succeeded; want the connection closed before TLS")
	}
	if ne, ok := errors.AsType[net.Error](err); ok && ne.Timeout() {
		t.Fatalf("handshake timed out (%v); want the connection closed at once", err)
	}
	if n := cc.n.Load(); n != 0 {
		t.Fatalf("server sent %d bytes before closing (%v); want none", n, err)
	}
}

// [server_busy] With every handshake slot taken and no queue, a new
// connection is closed before the server sends any TLS byte — at accept, or
// when its ClientHello arrives if it was accepted before the slot went — and
// recorded and counted as server_busy; the held handshake, released, logs in.
func TestHandshakeBoundRefusesBeforeTLS(t *testing.T) {
	d := newDir(t)
	b := startBroker(t, d, func(c *Config) { c.MaxHandshakes = 1; c.HandshakeQueue = -1 })
	fx := getFixture(t)
	held := addDevice(t, d, fx.caA, "prod-mqtt_held", nil)
	other := addDevice(t, d, fx.caA, "prod-mqtt_other", nil)

	// Accepted while a slot was free; its ClientHello comes after the slot went.
	early, err := net.DialTimeout("tcp", b.Addr(), 3*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer early.Close()
	eventually(t, "the early connection to be accepted", func() bool {
		b.ln.mu.Lock()
		defer b.ln.mu.Unlock()
		return len(b.ln.conns) == 1
	})

	finish := holdHandshake(t, b.Addr(), held)
	eventually(t, "the held handshake to take the slot", func() bool {
		return counterValue(t, b.reg, "certlab_platform_tls_handshakes_in_flight") == 1
	})

	requireClosedBeforeTLS(t, early, other)
	// Refused at accept with a reset: the dial itself may already see it.
	if late, err := net.DialTimeout("tcp", b.Addr(), 3*time.Second); err == nil {
		defer late.Close()
		requireClosedBeforeTLS(t, late, other)
	} else if !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("dial: %v; want a connection or a reset", err)
	}

	for at, want := range map[string]float64{refusedAtClientHello: 1, refusedAtAccept: 1, refusedAtQueue: 0} {
		if got := counterValue(t, b.reg, "certlab_platform_handshakes_refused_total", "at", at); got != want {
			t.Errorf("handshakes_refused_total{at=%s} = %v, want %v", at, got, want)
		}
	}
	eventually(t, "two server_busy logins counted", func() bool {
		return counterValue(t, b.reg, "certlab_platform_logins_total", "reason", string(iotda.ReasonServerBusy)) == 2
	})
	as := b.LoginAttempts("", string(iotda.ReasonServerBusy), 0)
	if len(as) != 2 {
		t.Fatalf("server_busy attempts %+v, want 2", as)
	}
	for _, a := range as {
		if a.Outcome != iotda.OutcomeRefused || !strings.Contains(a.Detail, "closed before the handshake") || a.Peer == "" {
			t.Errorf("attempt %+v", a)
		}
	}

	tc, err := finish()
	if err != nil {
		t.Fatalf("held handshake: %v", err)
	}
	c := newRawClient(t, tc, 4)
	if raw, pk := c.login(connectOpts{clientID: clientID(held.ID), username: held.ID, keepalive: 120}); pk.ReasonCode != 0 {
		t.Fatalf("held device: CONNACK % x", raw)
	}
	eventually(t, "the slot to be free", func() bool {
		return counterValue(t, b.reg, "certlab_platform_tls_handshakes_in_flight") == 0
	})
	loginRaw(t, b.Addr(), other, 5)
}

// A connection that finds the slots taken waits in the queue: it gets the
// slot when one frees within the wait, and is refused (queue) when none does.
func TestHandshakeQueue(t *testing.T) {
	d := newDir(t)
	const wait = 300 * time.Millisecond
	b := startBroker(t, d, func(c *Config) { c.MaxHandshakes = 1; c.HandshakeQueue = 1; c.HandshakeQueueWait = wait })
	fx := getFixture(t)
	held := addDevice(t, d, fx.caA, "prod-mqtt_held", nil)
	waiter := addDevice(t, d, fx.caA, "prod-mqtt_waiter", nil)

	idle := func(t *testing.T) {
		t.Helper()
		eventually(t, "no handshake in flight or queued", func() bool {
			return counterValue(t, b.reg, "certlab_platform_tls_handshakes_in_flight") == 0 &&
				counterValue(t, b.reg, "certlab_platform_tls_handshake_queue") == 0
		})
	}
	t.Run("slot freed in time", func(t *testing.T) {
		idle(t)
		finish := holdHandshake(t, b.Addr(), held)
		eventually(t, "the slot taken", func() bool { return counterValue(t, b.reg, "certlab_platform_tls_handshakes_in_flight") == 1 })
		done := make(chan *rawClient, 1)
		go func() {
			c, err := dialTLS(t, b.Addr(), tlsConfig(t, waiter.Leaf, tls.VersionTLS13))
			if err != nil {
				t.Errorf("queued handshake: %v", err)
				done <- nil
				return
			}
			done <- newRawClient(t, c, 4)
		}()
		eventually(t, "one connection queued", func() bool { return counterValue(t, b.reg, "certlab_platform_tls_handshake_queue") == 1 })
		if _, err := finish(); err != nil {
			t.Fatal(err)
		}
		c := <-done
		if c == nil {
			return
		}
		if raw, pk := c.login(connectOpts{clientID: clientID(waiter.ID), username: waiter.ID, keepalive: 120}); pk.ReasonCode != 0 {
			t.Fatalf("queued device: CONNACK % x", raw)
		}
	})
	t.Run("wait runs out", func(t *testing.T) {
		idle(t)
		finish := holdHandshake(t, b.Addr(), held)
		defer func() { _, _ = finish() }()
		eventually(t, "the slot taken", func() bool { return counterValue(t, b.reg, "certlab_platform_tls_handshakes_in_flight") == 1 })
		raw, err := net.DialTimeout("tcp", b.Addr(), 3*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		defer raw.Close()
		start := time.Now()
		requireClosedBeforeTLS(t, raw, waiter)
		if took := time.Since(start); took < wait-50*time.Millisecond {
			t.Errorf("refused after %v, want after the queue wait of %v", took, wait)
		}
		if got := counterValue(t, b.reg, "certlab_platform_handshakes_refused_total", "at", refusedAtQueue); got != 1 {
			t.Errorf("handshakes_refused_total{at=queue} = %v, want 1", got)
		}
		a := waitAttempt(t, b.Broker, "", iotda.ReasonServerBusy)
		if !strings.Contains(a.Detail, "waited for one of the platform's 1 TLS handshake slots") {
			t.Errorf("detail %q", a.Detail)
		}
	})
}

// A burst of concurrent logins far above the bound: every login either
// succeeds or is refused before TLS, none hangs, and the platform's
// counters add up to the burst.
func TestHandshakeBoundBurst(t *testing.T) {
	if testing.Short() {
		t.Skip("a burst of 120 logins")
	}
	d := newDir(t)
	b := startBroker(t, d, func(c *Config) { c.MaxHandshakes = 2; c.HandshakeQueue = 2 })
	fx := getFixture(t)
	const n = 120
	devs := make([]testDevice, n)
	for i := range devs {
		devs[i] = addDevice(t, d, fx.caA, "prod-mqtt_burst-"+string(rune('a'+i/26))+string(rune('a'+i%26)), nil)
	}
	var ok, busy atomic.Int64
	var wg sync.WaitGroup
	start := make(chan struct{})
	for _, dev := range devs {
		wg.Go(func() {
			<-start
			raw, err := net.DialTimeout("tcp", b.Addr(), 5*time.Second)
			if errors.Is(err, syscall.ECONNRESET) { // refused at accept, before connect returned
				busy.Add(1)
				return
			}
			if err != nil {
				t.Error(err)
				return
			}
			defer raw.Close()
			_ = raw.SetDeadline(time.Now().Add(10 * time.Second))
			cc := &countingConn{Conn: raw}
			tc := tls.Client(cc, tlsConfig(t, dev.Leaf, tls.VersionTLS13))
			if err := tc.HandshakeContext(context.Background()); err != nil {
				if cc.n.Load() != 0 {
					t.Errorf("%s: handshake failed after the server answered: %v", dev.ID, err)
				}
				busy.Add(1)
				return
			}
			c := newRawClient(t, tc, 4)
			if _, pk := c.login(connectOpts{clientID: clientID(dev.ID), username: dev.ID, keepalive: 120}); pk.ReasonCode == 0 {
				ok.Add(1)
			} else {
				busy.Add(1) // refused at CONNECT: not expected, counted below
				t.Errorf("%s: CONNACK %#x", dev.ID, pk.ReasonCode)
			}
		})
	}
	close(start)
	wg.Wait()
	if ok.Load()+busy.Load() != n || ok.Load() == 0 {
		t.Fatalf("%d logged in, %d refused busy, of %d", ok.Load(), busy.Load(), n)
	}
	eventually(t, "the platform's counters", func() bool {
		return counterValue(t, b.reg, "certlab_platform_logins_total", "reason", string(iotda.ReasonOK)) == float64(ok.Load()) &&
			counterValue(t, b.reg, "certlab_platform_logins_total", "reason", string(iotda.ReasonServerBusy)) == float64(busy.Load())
	})
	t.Logf("%d logged in, %d refused before TLS", ok.Load(), busy.Load())
}

// The bound's defaults: HandshakesPerProc per GOMAXPROCS, a queue as long,
// and negative values for unbounded / no queue.
func TestHandshakeBoundConfig(t *testing.T) {
	for _, tc := range []struct {
		name                  string
		max, queue            int
		wantMax, wantQueueMax int
	}{
		{"defaults", 0, 0, HandshakesPerProc * runtime.GOMAXPROCS(0), HandshakesPerProc * runtime.GOMAXPROCS(0)},
		{"set", 8, 3, 8, 3},
		{"no queue", 8, -1, 8, 0},
		{"unbounded", -1, 0, 0, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := startBroker(t, newDir(t), func(c *Config) { c.MaxHandshakes, c.HandshakeQueue = tc.max, tc.queue })
			if b.ln.gate.max != tc.wantMax || b.ln.gate.queueMax != int64(tc.wantQueueMax) {
				t.Errorf("max %d queue %d, want %d and %d", b.ln.gate.max, b.ln.gate.queueMax, tc.wantMax, tc.wantQueueMax)
			}
			if got := counterValue(t, b.reg, "certlab_platform_max_tls_handshakes"); got != float64(tc.wantMax) {
				t.Errorf("max_tls_handshakes = %v, want %d", got, tc.wantMax)
			}
		})
	}
}
