package loadgen

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"time"

	"github.com/certlab/certlab/loadgen/result"
	"github.com/certlab/certlab/sim/device"
)

// echoByte is what a tls-only attempt sends; the baseline server echoes it
// once it has verified the client certificate, which makes the success
// server-confirmed under TLS 1.3 too (docs/performance.md, "Traps seen in peer tools").
const echoByte = 0x5a

// echoConn is a live tls-only connection (hold mode).
type echoConn struct{ c *tls.Conn }

func (e echoConn) close() error { return e.c.Close() }

// echoLogin is one tls-only attempt: TCP, TLS handshake, one byte out and
// the same byte back. It uses connection deadlines rather than a context per
// attempt (HandshakeContext with a cancellable context registers an
// AfterFunc per handshake). Under TLS 1.3 the byte leaves in one write
// with the client's last handshake flight (device.BatchConn), as device.Login
// sends CONNECT.
func (a *attacker) echoLogin(ctx context.Context, d *deviceState, r *result.Result) (closer, time.Time) {
	r.Start = time.Now()
	deadline := r.Start.Add(a.cfg.ConnectTimeout)
	// No TCP keepalive on a connection that lives a few milliseconds: it
	// saves setsockopt calls per login (hold mode has no use for it either:
	// the baseline's HoldTimeout bounds an idle connection).
	dialer := net.Dialer{Deadline: deadline, KeepAlive: -1}
	raw, err := dialer.DialContext(ctx, "tcp", a.cfg.Addr)
	t := time.Now()
	r.TCPUs = t.Sub(r.Start).Microseconds()
	if err != nil {
		r.Error = err.Error()
		setVerdict(r, device.ClassifyDial(ctx, err))
		return nil, t
	}
	_ = raw.SetDeadline(deadline)
	bc := device.NewBatchConn(raw)
	tc := tls.Client(bc, d.tls)
	err = tc.Handshake()
	t2 := time.Now()
	r.TLSUs = t2.Sub(t).Microseconds()
	if err != nil {
		_ = raw.Close()
		r.Error = err.Error()
		setVerdict(r, device.ClassifyHandshake(ctx, err))
		return nil, t2
	}
	st := tc.ConnectionState()
	r.TLSVersion, r.Resumed = tlsVersionName(st.Version), st.DidResume
	var b [1]byte
	b[0] = echoByte
	_, err = tc.Write(b[:])
	if err == nil {
		_, err = io.ReadFull(tc, b[:]) // sends the queued flight and byte first
		if err == nil && b[0] != echoByte {
			err = errors.New("echo: server answered another byte")
		}
	}
	t3 := time.Now()
	r.ConnackUs = t3.Sub(t2).Microseconds()
	if err != nil {
		_ = raw.Close()
		r.Error = err.Error()
		// Under TLS 1.3 the server judges the client certificate after
		// the client's handshake is done, so a drop before the echo is the
		// server's refusal; under TLS 1.2 it is not. [LOGIN-TLS]
		certAccepted := st.Version != tls.VersionTLS13
		setVerdict(r, device.ClassifyAfterHandshake(ctx, err, certAccepted, device.PhaseConnect))
		return nil, t3
	}
	r.Outcome = result.OutcomeSuccess
	a.noteTLS(st.Version, st.CipherSuite)
	if a.cfg.Mode == result.ModeHold {
		_ = raw.SetDeadline(time.Time{})
		bc.Release()
		return echoConn{tc}, t3
	}
	// The server has confirmed; close the socket without a close_notify
	// record (one loopback write less per login; the baseline reads EOF,
	// or a reset with CloseReset).
	if a.cfg.CloseReset {
		device.ResetOnClose(raw)
	}
	_ = bc.Close()
	return nil, t3
}

// setVerdict copies a verdict of device's classifiers into r: tls-only
// attempts get the outcomes, phases and reasons device.Login gives MQTT
// ones (only a server verdict is a refusal).
func setVerdict(r *result.Result, v device.Verdict) {
	r.Outcome, r.Phase, r.Reason = result.Outcome(v.Outcome), string(v.Phase), v.Reason
}

func splitHostPort(addr string) (string, string, error) { return net.SplitHostPort(addr) }
