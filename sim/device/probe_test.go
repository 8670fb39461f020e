package device

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"runtime"
	"slices"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/certlab/certlab/iotda"
)

// [LOGIN-SUCCESS] [LOGIN-TLS] LoginProbe classifies every login as Login
// does, and ends an accepted one with a DISCONNECT the broker records as a
// normal disconnection.
func TestLoginProbe(t *testing.T) {
	t.Parallel()
	b := startBroker(t)
	rogue := newDevice(t, b.rogueCA, "prod_probe_rogue")
	cases := []struct {
		name    string
		mqtt    iotda.MQTTVersion
		tls     uint16
		rogue   bool
		refuse  *packets.Code
		outcome iotda.Outcome
		phase   Phase
		reason  string
	}{
		{"success-v3-tls13", 4, tls.VersionTLS13, false, nil, iotda.OutcomeSuccess, PhaseNone, ReasonOK},
		{"success-v3-tls12", 4, tls.VersionTLS12, false, nil, iotda.OutcomeSuccess, PhaseNone, ReasonOK},
		{"success-v31-tls13", 3, tls.VersionTLS13, false, nil, iotda.OutcomeSuccess, PhaseNone, ReasonOK},
		{"success-v5-tls13", 5, tls.VersionTLS13, false, nil, iotda.OutcomeSuccess, PhaseNone, ReasonOK},
		{"connack-refused-v3", 4, tls.VersionTLS13, false, &packets.ErrNotAuthorized, iotda.OutcomeRefused, PhaseConnect, ConnackReason(0x87)},
		{"connack-refused-v5", 5, tls.VersionTLS13, false, &packets.ErrNotAuthorized, iotda.OutcomeRefused, PhaseConnect, ConnackReason(0x87)},
		{"unknown-ca-tls12", 4, tls.VersionTLS12, true, nil, iotda.OutcomeRefused, PhaseTLS, AlertReason("unknown certificate authority")},
		// Under TLS 1.3, without the probe: an alert or a drop, in the TLS phase.
		{"unknown-ca-tls13", 4, tls.VersionTLS13, true, nil, iotda.OutcomeRefused, PhaseTLS, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			d := newDevice(t, b.deviceCA, "prod_probe-"+tc.name)
			if tc.rogue {
				d = rogue
			}
			cfg := b.config(d, tc.mqtt, tc.tls)
			cfg.ClientID += "-" + tc.name // rogue cases share a device
			if tc.refuse != nil {
				b.refuse(cfg.ClientID, *tc.refuse)
			}
			res := LoginProbe(t.Context(), cfg)
			requireOutcome(t, res, tc.outcome, tc.phase, tc.reason)
			if tc.outcome != iotda.OutcomeSuccess {
				if res.Err == nil || res.ErrText == "" {
					t.Errorf("refusal without a diagnostic error: %+v", res)
				}
				return
			}
			if res.Err != nil || res.TLSVersion != tc.tls || res.TCP <= 0 || res.TLSHandshake <= 0 || res.Connack <= 0 ||
				res.Total < res.TCP+res.TLSHandshake+res.Connack {
				t.Errorf("result = %+v", res)
			}
			if cause := b.waitStopped(t, cfg.ClientID); cause != packets.CodeDisconnect {
				t.Errorf("broker stop cause = %v, want %v (a DISCONNECT packet)", cause, packets.CodeDisconnect)
			}
		})
	}
}

// recordingConn records what a server reads from the raw TCP connection, one
// entry per Read that returned data.
type recordingConn struct {
	net.Conn
	mu    sync.Mutex
	reads [][]byte
}

func (c *recordingConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if n > 0 {
		c.mu.Lock()
		c.reads = append(c.reads, append([]byte(nil), p[:n]...))
		c.mu.Unlock()
	}
	return n, err
}

func (c *recordingConn) stream() ([]byte, [][]byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return bytes.Join(c.reads, nil), c.reads
}

// tlsRecordLens splits a raw TLS stream into its records' payload lengths.
func tlsRecordLens(t testing.TB, b []byte) []int {
	t.Helper()
	var lens []int
	for len(b) > 0 {
		if len(b) < 5 {
			t.Fatalf("truncated record header % x", b)
		}
		n := int(binary.BigEndian.Uint16(b[3:5]))
		if len(b) < 5+n {
			t.Fatalf("truncated record: %d of %d bytes", len(b)-5, n)
		}
		lens = append(lens, n)
		b = b[5+n:]
	}
	return lens
}

// TestLoginProbeWire checks a LoginProbe login on the wire against a raw TLS
// 1.3 server: CONNECT as Login sends it, then DISCONNECT and the TLS
// close_notify [MQTT-3.14.4-1]; and the writes it takes: three (BatchConn).
func TestLoginProbeWire(t *testing.T) {
	t.Parallel()
	p := getPKI(t)
	d := newDevice(t, p.deviceCA, "prod_probe_wire")
	type seen struct {
		packets [][]byte // decrypted: CONNECT, then what followed
		readErr error
		raw     *recordingConn
		connack int // index of the first raw read after CONNACK was sent
	}
	got := make(chan seen, 1)
	addr := rawServer(t, nil, func(c net.Conn) {
		rc := &recordingConn{Conn: c}
		tc := tls.Server(rc, p.serverTLS())
		var s seen
		s.raw = rc
		buf := make([]byte, 512)
		n, err := tc.Read(buf) // CONNECT: one record
		if err != nil {
			s.readErr = err
			got <- s
			return
		}
		s.packets = append(s.packets, append([]byte(nil), buf[:n]...))
		rc.mu.Lock()
		s.connack = len(rc.reads)
		rc.mu.Unlock()
		_, _ = tc.Write([]byte{0x20, 0x02, 0x00, 0x00}) // CONNACK accepted
		for {
			n, err := tc.Read(buf)
			if n > 0 {
				s.packets = append(s.packets, append([]byte(nil), buf[:n]...))
			}
			if err != nil {
				s.readErr = err
				break
			}
		}
		got <- s
	})
	var cc *countingConn
	cfg := Config{Addr: addr, TLS: p.clientTLS(d.leaf, tls.VersionTLS13), ClientID: iotda.ClientIDFor(d.id, time.Now()), Username: d.id,
		wrapConn: func(c net.Conn) net.Conn { cc = &countingConn{Conn: c}; return cc }}
	res := LoginProbe(t.Context(), cfg)
	if !res.OK() {
		t.Fatalf("login: %+v", res)
	}
	// ClientHello; the last flight with CONNECT; DISCONNECT with close_notify.
	if w := cc.count(); len(w) != 3 {
		t.Errorf("the client wrote %d times (%v bytes), want 3", len(w), w)
	}
	var s seen
	select {
	case s = <-got:
	case <-time.After(5 * time.Second):
		t.Fatal("server saw nothing")
	}
	if len(s.packets) != 2 || s.packets[0][0] != 0x10 || !bytes.Equal(s.packets[1], []byte{0xe0, 0x00}) {
		t.Fatalf("packets = % x (read error %v), want CONNECT then DISCONNECT", s.packets, s.readErr)
	}
	if !errors.Is(s.readErr, io.EOF) {
		t.Errorf("server read ended with %v, want io.EOF", s.readErr)
	}
	// After CONNACK the client sent two records, DISCONNECT and close_notify,
	// each a 2-byte plaintext + content type + 16-byte AEAD tag, in one write.
	_, reads := s.raw.stream()
	after := bytes.Join(reads[s.connack:], nil)
	if lens := tlsRecordLens(t, after); len(lens) != 2 || lens[0] != 19 || lens[1] != 19 {
		t.Errorf("records after CONNACK: lengths %v, want [19 19] (DISCONNECT, close_notify)", lens)
	}
}

// countingConn counts the writes that reach the real connection under a
// BatchConn.
type countingConn struct {
	net.Conn
	mu     sync.Mutex
	writes []int
}

func (c *countingConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	c.writes = append(c.writes, len(p))
	c.mu.Unlock()
	return c.Conn.Write(p)
}

func (c *countingConn) count() []int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]int(nil), c.writes...)
}

// tcpPair is a connected loopback TCP pair; both ends close at cleanup.
func tcpPair(t *testing.T) (client, server net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, _ := ln.Accept()
		accepted <- c
	}()
	client, err = net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	server = <-accepted
	if server == nil {
		t.Fatal("accept failed")
	}
	t.Cleanup(func() { _ = client.Close(); _ = server.Close() })
	return client, server
}

// readN reads exactly n bytes from c within a second.
func readN(t *testing.T, c net.Conn, n int) []byte {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(time.Second))
	b := make([]byte, n)
	if _, err := io.ReadFull(c, b); err != nil {
		t.Fatalf("read %d bytes: %v", n, err)
	}
	return b
}

// requireSilent checks that nothing arrives on c for a short while.
func requireSilent(t *testing.T, c net.Conn) {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
	var b [1]byte
	if n, err := c.Read(b[:]); n > 0 || !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("peer received %d bytes (err %v) while writes were held", n, err)
	}
}

// newBatchPair is a BatchConn over a counted loopback TCP connection, and
// the peer's end.
func newBatchPair(t *testing.T) (*BatchConn, *countingConn, net.Conn) {
	t.Helper()
	raw, peer := tcpPair(t)
	cc := &countingConn{Conn: raw}
	return NewBatchConn(cc), cc, peer
}

// requireWrites checks the sizes of the writes that reached the socket.
func requireWrites(t *testing.T, cc *countingConn, want ...int) {
	t.Helper()
	if got := cc.count(); !slices.Equal(got, want) {
		t.Errorf("writes = %v, want %v", got, want)
	}
}

// readAll reads the peer's end to EOF within a second.
func readAll(t *testing.T, peer net.Conn) string {
	t.Helper()
	_ = peer.SetReadDeadline(time.Now().Add(time.Second))
	b, err := io.ReadAll(peer)
	if err != nil {
		t.Fatalf("peer read: %v", err)
	}
	return string(b)
}

func TestBatchConn(t *testing.T) {
	t.Parallel()
	t.Run("holds writes until a read", func(t *testing.T) {
		t.Parallel()
		bc, cc, peer := newBatchPair(t)
		for _, s := range []string{"flight", "+connect"} {
			if n, err := bc.Write([]byte(s)); n != len(s) || err != nil {
				t.Fatalf("Write = %d, %v", n, err)
			}
		}
		requireSilent(t, peer)
		go func() { _, _ = peer.Write([]byte{1}) }()
		_ = bc.SetReadDeadline(time.Now().Add(time.Second))
		var b [1]byte
		if _, err := bc.Read(b[:]); err != nil {
			t.Fatal(err)
		}
		if got := string(readN(t, peer, 14)); got != "flight+connect" {
			t.Errorf("peer got %q", got)
		}
		requireWrites(t, cc, 14)
	})
	t.Run("release sends the queue with the next write", func(t *testing.T) {
		t.Parallel()
		bc, cc, peer := newBatchPair(t)
		_, _ = bc.Write([]byte("ab"))
		bc.Release()
		_, _ = bc.Write([]byte("cd"))
		_, _ = bc.Write([]byte("ef"))
		if got := string(readN(t, peer, 6)); got != "abcdef" {
			t.Errorf("peer got %q", got)
		}
		requireWrites(t, cc, 4, 2)
	})
	t.Run("close drops the queue", func(t *testing.T) {
		t.Parallel()
		bc, cc, peer := newBatchPair(t)
		_, _ = bc.Write([]byte("never"))
		if err := bc.Close(); err != nil {
			t.Fatal(err)
		}
		if got := readAll(t, peer); got != "" {
			t.Errorf("peer read %q, want nothing", got)
		}
		requireWrites(t, cc)
	})
	t.Run("close flushing sends the queue despite a past deadline", func(t *testing.T) {
		t.Parallel()
		bc, cc, peer := newBatchPair(t)
		bc.CloseFlushing(time.Now().Add(time.Second))
		_, _ = bc.Write([]byte("disconnect"))
		_, _ = bc.Write([]byte("+close_notify"))
		_ = bc.SetWriteDeadline(time.Now()) // what crypto/tls's Close does
		if err := bc.Close(); err != nil {
			t.Fatal(err)
		}
		if got := readAll(t, peer); got != "disconnect+close_notify" {
			t.Errorf("peer read %q", got)
		}
		requireWrites(t, cc, 23)
	})
	t.Run("a failed flush reaches the reader", func(t *testing.T) {
		t.Parallel()
		bc, _, _ := newBatchPair(t)
		_, _ = bc.Write([]byte("x"))
		_ = bc.SetWriteDeadline(pastDeadline)
		var b [1]byte
		if _, err := bc.Read(b[:]); !isTimeout(err) {
			t.Errorf("Read = %v, want the flush's timeout", err)
		}
	})
}

// A LoginProbe churn does not leave goroutines behind (no session reader).
func TestLoginProbeNoGoroutines(t *testing.T) {
	b := startBroker(t)
	d := newDevice(t, b.deviceCA, "prod_probe_leak")
	cfg := b.config(d, 4, tls.VersionTLS13)
	if res := LoginProbe(t.Context(), cfg); !res.OK() { // warm up the broker's pools
		t.Fatalf("login: %+v", res)
	}
	before := runtime.NumGoroutine()
	for i := range 20 {
		cfg.ClientID = fmt.Sprintf("%s-%d", iotda.ClientIDFor(d.id, time.Now()), i)
		if res := LoginProbe(t.Context(), cfg); !res.OK() {
			t.Fatalf("login %d: %+v", i, res)
		}
	}
	deadline := time.Now().Add(2 * time.Second)
	for runtime.NumGoroutine() > before+2 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond) // the broker's client goroutines wind down
	}
	if n := runtime.NumGoroutine(); n > before+2 {
		t.Errorf("%d goroutines after 20 probes, %d before", n, before)
	}
}

// The exported classifiers give loadgen's tls-only attempts Login's rules.
func TestClassify(t *testing.T) {
	t.Parallel()
	alert := &net.OpError{Op: "remote error", Err: errors.New("tls: bad certificate")}
	reset := &net.OpError{Op: "read", Err: os.NewSyscallError("read", syscall.ECONNRESET)}
	timeout := &net.OpError{Op: "read", Err: os.ErrDeadlineExceeded}
	refused := &net.OpError{Op: "dial", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}
	live := t.Context()
	canceled, cancel := context.WithCancel(t.Context())
	cancel()
	type check func(context.Context, error) Verdict
	dial := func(ctx context.Context, err error) Verdict { return ClassifyDial(ctx, err) }
	hs := func(ctx context.Context, err error) Verdict { return ClassifyHandshake(ctx, err) }
	unanswered := func(ctx context.Context, err error) Verdict { return ClassifyUnansweredHandshake(ctx, err) }
	after := func(accepted bool) check {
		return func(ctx context.Context, err error) Verdict {
			return ClassifyAfterHandshake(ctx, err, accepted, PhaseConnect)
		}
	}
	cases := []struct {
		name string
		f    check
		ctx  context.Context
		err  error
		want Verdict
	}{
		{"dial reset is a refusal before TLS", dial, live, &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.ECONNRESET)}, Verdict{iotda.OutcomeRefused, PhaseTCP, ReasonClosedBeforeTLS, ""}},
		{"unanswered handshake reset is a refusal", unanswered, live, reset, Verdict{iotda.OutcomeRefused, PhaseTLS, ReasonClosedBeforeTLS, ""}},
		{"unanswered handshake eof is a refusal", unanswered, live, io.EOF, Verdict{iotda.OutcomeRefused, PhaseTLS, ReasonClosedBeforeTLS, ""}},
		{"unanswered handshake timeout", unanswered, live, timeout, Verdict{iotda.OutcomeError, PhaseTLS, ReasonTimeout, ""}},
		{"dial refused", dial, live, refused, Verdict{iotda.OutcomeError, PhaseTCP, ReasonRefusedTCP, ""}},
		{"dial timeout", dial, live, timeout, Verdict{iotda.OutcomeError, PhaseTCP, ReasonTimeout, ""}},
		{"dial canceled", dial, canceled, timeout, Verdict{iotda.OutcomeError, PhaseTCP, ReasonCanceled, ""}},
		{"dial out of local ports", dial, live, &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.EADDRNOTAVAIL)}, Verdict{iotda.OutcomeError, PhaseTCP, ReasonNoPorts, ""}},
		{"dial other", dial, live, errors.New("no such host"), Verdict{iotda.OutcomeError, PhaseTCP, ReasonDial, ""}},
		{"handshake alert", hs, live, alert, Verdict{iotda.OutcomeRefused, PhaseTLS, "tls_alert:bad certificate", "bad certificate"}},
		{"handshake reset is no verdict", hs, live, reset, Verdict{iotda.OutcomeError, PhaseTLS, ReasonReset, ""}},
		{"handshake timeout", hs, live, timeout, Verdict{iotda.OutcomeError, PhaseTLS, ReasonTimeout, ""}},
		{"handshake server cert", hs, live, &tls.CertificateVerificationError{Err: errors.New("x")}, Verdict{iotda.OutcomeError, PhaseTLS, ReasonServerCert, ""}},
		{"handshake other", hs, live, errors.New("tls: no cipher"), Verdict{iotda.OutcomeError, PhaseTLS, ReasonTLS, ""}},
		{"after: alert", after(false), live, alert, Verdict{iotda.OutcomeRefused, PhaseTLS, "tls_alert:bad certificate", "bad certificate"}},
		{"after tls1.3: drop is a refusal", after(false), live, reset, Verdict{iotda.OutcomeRefused, PhaseTLS, ReasonReset, ""}},
		{"after tls1.3: eof is a refusal", after(false), live, io.EOF, Verdict{iotda.OutcomeRefused, PhaseTLS, ReasonEOF, ""}},
		{"after accepted: drop is an error", after(true), live, reset, Verdict{iotda.OutcomeError, PhaseConnect, ReasonReset, ""}},
		{"after: timeout", after(false), live, timeout, Verdict{iotda.OutcomeError, PhaseConnect, ReasonTimeout, ""}},
		{"after: protocol", after(true), live, fmt.Errorf("x: %w", ErrProtocol), Verdict{iotda.OutcomeError, PhaseConnect, ReasonProtocol, ""}},
		{"after: other", after(true), live, errors.New("echo: another byte"), Verdict{iotda.OutcomeError, PhaseConnect, ReasonIO, ""}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.f(tc.ctx, tc.err); got != tc.want {
				t.Errorf("verdict = %+v, want %+v", got, tc.want)
			}
		})
	}
}
