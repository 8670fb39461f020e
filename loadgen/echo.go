package loadgen

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"os"
	"strings"
	"syscall"
	"time"

	"github.com/certlab/certlab/sim/device"
)

// echoByte is what a tls-only attempt sends; the baseline server echoes it
// once it has verified the client certificate, which makes the success
// server-confirmed under TLS 1.3 too (performance.md, "Traps seen in peer tools").
const echoByte = 0x5a

// echoConn is a live tls-only connection (hold mode).
type echoConn struct{ c *tls.Conn }

func (e echoConn) close() error { return e.c.Close() }

// echoLogin is one tls-only attempt: TCP, TLS handshake, one byte out and
// the same byte back. It uses connection deadlines rather than a context per
// attempt (HandshakeContext with a cancellable context starts a goroutine).
func (a *attacker) echoLogin(ctx context.Context, d *deviceState, r *Result) (closer, time.Time) {
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
		classifyDial(ctx, r, err)
		return nil, t
	}
	_ = raw.SetDeadline(deadline)
	tc := tls.Client(raw, d.tls)
	err = tc.Handshake()
	t2 := time.Now()
	r.TLSUs = t2.Sub(t).Microseconds()
	if err != nil {
		_ = raw.Close()
		classifyHandshake(ctx, r, err)
		return nil, t2
	}
	st := tc.ConnectionState()
	r.TLSVersion, r.Resumed = tlsVersionName(st.Version), st.DidResume
	var b [1]byte
	b[0] = echoByte
	_, err = tc.Write(b[:])
	if err == nil {
		_, err = io.ReadFull(tc, b[:])
		if err == nil && b[0] != echoByte {
			err = errors.New("echo: server answered another byte")
		}
	}
	t3 := time.Now()
	r.ConnackUs = t3.Sub(t2).Microseconds()
	if err != nil {
		_ = raw.Close()
		classifyAfterHandshake(ctx, r, err, st.Version != tls.VersionTLS13)
		return nil, t3
	}
	r.Outcome = OutcomeSuccess
	a.noteTLS(st.Version, st.CipherSuite)
	if a.cfg.Mode == ModeHold {
		_ = raw.SetDeadline(time.Time{})
		return echoConn{tc}, t3
	}
	// The server has confirmed; close the socket without a close_notify
	// record (one loopback write less per login; the baseline reads EOF).
	_ = raw.Close()
	return nil, t3
}

// The classifiers below give tls-only attempts the outcomes, phases and
// reasons device.Login gives MQTT ones: only a server verdict is a refusal.

func classifyDial(ctx context.Context, r *Result, err error) {
	r.Error = err.Error()
	r.Outcome, r.Phase = OutcomeError, PhaseTCP
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		r.Reason = device.ReasonRefusedTCP
	case isTimeout(err):
		r.Reason = timeoutReason(ctx)
	default:
		r.Reason = device.ReasonDial
	}
}

func classifyHandshake(ctx context.Context, r *Result, err error) {
	r.Error = err.Error()
	r.Phase = PhaseTLS
	if alert, ok := tlsAlert(err); ok {
		r.Outcome, r.Reason = OutcomeRefused, device.AlertReason(alert)
		return
	}
	r.Outcome = OutcomeError
	switch {
	case isTimeout(err):
		r.Reason = timeoutReason(ctx)
	case isServerCertError(err):
		r.Reason = device.ReasonServerCert
	case dropReason(err) != "":
		r.Reason = dropReason(err)
	default:
		r.Reason = device.ReasonTLS
	}
}

// classifyAfterHandshake: under TLS 1.3 the server judges the client
// certificate after the client's handshake is done, so a drop before the
// echo is the server's refusal; under TLS 1.2 it is not. [LOGIN-TLS]
func classifyAfterHandshake(ctx context.Context, r *Result, err error, certAccepted bool) {
	r.Error = err.Error()
	if alert, ok := tlsAlert(err); ok {
		r.Outcome, r.Phase, r.Reason = OutcomeRefused, PhaseTLS, device.AlertReason(alert)
		return
	}
	if dr := dropReason(err); dr != "" {
		if certAccepted {
			r.Outcome, r.Phase, r.Reason = OutcomeError, PhaseConnect, dr
		} else {
			r.Outcome, r.Phase, r.Reason = OutcomeRefused, PhaseTLS, dr
		}
		return
	}
	r.Outcome, r.Phase = OutcomeError, PhaseConnect
	if isTimeout(err) {
		r.Reason = timeoutReason(ctx)
	} else {
		r.Reason = device.ReasonIO
	}
}

// tlsAlert extracts the text of an alert received from the peer
// (crypto/tls reports it as *net.OpError{Op: "remote error"}).
func tlsAlert(err error) (string, bool) {
	for e := err; e != nil; {
		op, ok := errors.AsType[*net.OpError](e)
		if !ok {
			return "", false
		}
		if op.Op == "remote error" && op.Err != nil {
			return strings.TrimPrefix(op.Err.Error(), "tls: "), true
		}
		e = op.Err
	}
	return "", false
}

func dropReason(err error) string {
	switch {
	case errors.Is(err, syscall.ECONNRESET):
		return device.ReasonReset
	case errors.Is(err, syscall.EPIPE):
		return device.ReasonEPIPE
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return device.ReasonEOF
	}
	return ""
}

func isTimeout(err error) bool {
	if errors.Is(err, os.ErrDeadlineExceeded) || errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	ne, ok := errors.AsType[net.Error](err)
	return ok && ne.Timeout()
}

func timeoutReason(ctx context.Context) string {
	if errors.Is(ctx.Err(), context.Canceled) {
		return device.ReasonCanceled
	}
	return device.ReasonTimeout
}

func isServerCertError(err error) bool {
	if _, ok := errors.AsType[*tls.CertificateVerificationError](err); ok {
		return true
	}
	if _, ok := errors.AsType[x509.UnknownAuthorityError](err); ok {
		return true
	}
	if _, ok := errors.AsType[x509.HostnameError](err); ok {
		return true
	}
	_, ok := errors.AsType[x509.CertificateInvalidError](err)
	return ok
}

func splitHostPort(addr string) (string, string, error) { return net.SplitHostPort(addr) }
