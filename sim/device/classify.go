package device

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
)

// This file turns errors into (Outcome, Phase, Reason). The rule that matters
// most: only a server verdict is a refusal. A TLS alert is one at any time; a
// drop (EOF, ECONNRESET, EPIPE) before CONNACK is one only while the server may
// still be judging our certificate, i.e. under TLS 1.3 before the probe said
// otherwise (libraries.md §A2.4). Everything else is an error. [LOGIN-TLS]

// failTCP classifies a dial error.
func (r *Result) failTCP(parent context.Context, err error) {
	err = opErr("dial", err)
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		r.fail(OutcomeError, PhaseTCP, ReasonRefusedTCP, err)
	case isTimeout(err):
		r.fail(OutcomeError, PhaseTCP, timeoutReason(parent), err)
	default:
		r.fail(OutcomeError, PhaseTCP, ReasonDial, err)
	}
}

// failTLS classifies an error returned by the TLS handshake.
func (r *Result) failTLS(parent context.Context, err error) {
	err = opErr("tls handshake", err)
	if alert, ok := tlsAlert(err); ok {
		r.Alert = alert
		r.fail(OutcomeRefused, PhaseTLS, AlertReason(alert), err)
		return
	}
	switch {
	case isTimeout(err):
		r.fail(OutcomeError, PhaseTLS, timeoutReason(parent), err)
	case isServerCertError(err):
		r.fail(OutcomeError, PhaseTLS, ReasonServerCert, err)
	case dropReason(err) != "":
		// A drop without an alert mid-handshake is not a verdict on the
		// certificate (servers send alerts); it is an overloaded or broken peer.
		r.fail(OutcomeError, PhaseTLS, dropReason(err), err)
	default:
		r.fail(OutcomeError, PhaseTLS, ReasonTLS, err)
	}
}

// failAfterHandshake classifies an error seen after the TLS handshake and
// before a CONNACK. certAccepted says whether the server is known to have
// accepted our certificate (TLS 1.2, or a quiet TLS 1.3 probe); phase is the
// phase to blame for anything that is not a TLS verdict.
func (r *Result) failAfterHandshake(parent, ctx context.Context, err error, certAccepted bool, phase Phase) {
	if alert, ok := tlsAlert(err); ok {
		r.Alert = alert
		r.fail(OutcomeRefused, PhaseTLS, AlertReason(alert), err)
		return
	}
	if dr := dropReason(err); dr != "" {
		if !certAccepted {
			r.fail(OutcomeRefused, PhaseTLS, dr, err)
		} else {
			r.fail(OutcomeError, phase, dr, err)
		}
		return
	}
	switch {
	case isTimeout(err) || ctx.Err() != nil:
		r.fail(OutcomeError, phase, timeoutReason(parent), err)
	case errors.Is(err, ErrProtocol):
		r.fail(OutcomeError, phase, ReasonProtocol, err)
	default:
		r.fail(OutcomeError, phase, ReasonIO, err)
	}
}

func opErr(op string, err error) error {
	return &wrapped{op: op, err: err}
}

// wrapped is fmt.Errorf("%s: %w") without the formatting cost on the hot path.
type wrapped struct {
	op  string
	err error
}

func (w *wrapped) Error() string { return w.op + ": " + w.err.Error() }
func (w *wrapped) Unwrap() error { return w.err }

// tlsAlert extracts the alert text from a TLS alert received from the peer:
// crypto/tls reports it as *net.OpError{Op: "remote error", Err: alert}, and
// tls.AlertError does not match it (that type is for QUIC).
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

// dropReason names a connection the peer closed or reset ("" otherwise).
func dropReason(err error) string {
	switch {
	case errors.Is(err, syscall.ECONNRESET):
		return ReasonReset
	case errors.Is(err, syscall.EPIPE):
		return ReasonEPIPE
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return ReasonEOF
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

// timeoutReason tells a caller's cancellation from an expired deadline.
func timeoutReason(parent context.Context) string {
	if errors.Is(parent.Err(), context.Canceled) {
		return ReasonCanceled
	}
	return ReasonTimeout
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
