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

	"github.com/certlab/certlab/iotda"
)

// This file turns errors into (Outcome, Phase, Reason). The rule that matters
// most: only a server verdict is a refusal. A TLS alert is one at any time; a
// drop (EOF, ECONNRESET, EPIPE) before CONNACK is one only while the server may
// still be judging our certificate, i.e. under TLS 1.3 before the probe said
// otherwise (docs/libraries.md A2.4). Everything else is an error. [LOGIN-TLS]

// Verdict is how an error ended a login attempt: the Outcome, Phase and
// Reason of its Result, and the TLS alert text if the server sent one.
// The Classify functions give attempts that do not go through Login (the
// load generator's TLS-only echo) the verdicts Login gives.
type Verdict struct {
	Outcome iotda.Outcome
	Phase   Phase
	Reason  string
	Alert   string
}

// ClassifyDial classifies an error of the TCP dial. parent is the caller's
// context: a timeout after it was canceled is ReasonCanceled.
func ClassifyDial(parent context.Context, err error) Verdict {
	v := Verdict{Outcome: iotda.OutcomeError, Phase: PhaseTCP}
	switch {
	case errors.Is(err, syscall.ECONNRESET):
		// The server accepted the connection and reset it before connect
		// returned: a refusal at accept (ReasonClosedBeforeTLS).
		return Verdict{Outcome: iotda.OutcomeRefused, Phase: PhaseTCP, Reason: ReasonClosedBeforeTLS}
	case errors.Is(err, syscall.ECONNREFUSED):
		v.Reason = ReasonRefusedTCP
	case errors.Is(err, syscall.EADDRNOTAVAIL):
		v.Reason = ReasonNoPorts
	case isTimeout(err):
		v.Reason = timeoutReason(parent)
	default:
		v.Reason = ReasonDial
	}
	return v
}

// ClassifyHandshake classifies an error returned by the client's TLS
// handshake: the server's alert is a refusal; anything else, a drop
// included, is an error (servers send alerts). [LOGIN-TLS]
func ClassifyHandshake(parent context.Context, err error) Verdict {
	if alert, ok := tlsAlert(err); ok {
		return Verdict{Outcome: iotda.OutcomeRefused, Phase: PhaseTLS, Reason: AlertReason(alert), Alert: alert}
	}
	v := Verdict{Outcome: iotda.OutcomeError, Phase: PhaseTLS}
	switch {
	case isTimeout(err):
		v.Reason = timeoutReason(parent)
	case isServerCertError(err):
		v.Reason = ReasonServerCert
	case dropReason(err) != "":
		// A drop without an alert mid-handshake is not a verdict on the
		// certificate (servers send alerts); it is an overloaded or broken peer.
		v.Reason = dropReason(err)
	default:
		v.Reason = ReasonTLS
	}
	return v
}

// ClassifyUnansweredHandshake classifies a failed handshake during which
// the server sent nothing: a reset or close is then the server refusing to
// serve the connection at all (ReasonClosedBeforeTLS, e.g. certlab's
// server_busy), not a verdict on the certificate and not a broken peer.
// Anything else is classified as by ClassifyHandshake.
func ClassifyUnansweredHandshake(parent context.Context, err error) Verdict {
	if dropReason(err) != "" {
		return Verdict{Outcome: iotda.OutcomeRefused, Phase: PhaseTLS, Reason: ReasonClosedBeforeTLS}
	}
	return ClassifyHandshake(parent, err)
}

// ClassifyAfterHandshake classifies an error seen after the TLS handshake
// and before the server's answer (CONNACK, echo). certAccepted says whether
// the server is known to have accepted our certificate (TLS 1.2, or a quiet
// TLS 1.3 probe): if not, a drop is the server's refusal in the TLS phase
// [LOGIN-TLS]. phase is the phase to blame for anything that is not a TLS
// verdict.
func ClassifyAfterHandshake(parent context.Context, err error, certAccepted bool, phase Phase) Verdict {
	return classifyAfterHandshake(parent, err, certAccepted, phase, false)
}

// classifyAfterHandshake is ClassifyAfterHandshake; expired says the
// login's own context has ended (its deadline, or parent's cancellation),
// whatever error that caused.
func classifyAfterHandshake(parent context.Context, err error, certAccepted bool, phase Phase, expired bool) Verdict {
	if alert, ok := tlsAlert(err); ok {
		return Verdict{Outcome: iotda.OutcomeRefused, Phase: PhaseTLS, Reason: AlertReason(alert), Alert: alert}
	}
	if dr := dropReason(err); dr != "" {
		if !certAccepted {
			return Verdict{Outcome: iotda.OutcomeRefused, Phase: PhaseTLS, Reason: dr}
		}
		return Verdict{Outcome: iotda.OutcomeError, Phase: phase, Reason: dr}
	}
	v := Verdict{Outcome: iotda.OutcomeError, Phase: phase}
	switch {
	case isTimeout(err) || expired:
		v.Reason = timeoutReason(parent)
	case errors.Is(err, ErrProtocol):
		v.Reason = ReasonProtocol
	default:
		v.Reason = ReasonIO
	}
	return v
}

func (r *Result) failWith(v Verdict, err error) {
	r.Alert = v.Alert
	r.fail(v.Outcome, v.Phase, v.Reason, err)
}

// failTCP classifies a dial error.
func (r *Result) failTCP(parent context.Context, err error) {
	err = opErr("dial", err)
	r.failWith(ClassifyDial(parent, err), err)
}

// failTLS classifies an error returned by the TLS handshake; answered says
// whether the server had sent any byte.
func (r *Result) failTLS(parent context.Context, err error, answered bool) {
	err = opErr("tls handshake", err)
	if !answered {
		r.failWith(ClassifyUnansweredHandshake(parent, err), err)
		return
	}
	r.failWith(ClassifyHandshake(parent, err), err)
}

// failAfterHandshake classifies an error seen after the TLS handshake and
// before a CONNACK (see ClassifyAfterHandshake); ctx is the login's context.
func (r *Result) failAfterHandshake(parent, ctx context.Context, err error, certAccepted bool, phase Phase) {
	r.failWith(classifyAfterHandshake(parent, err, certAccepted, phase, ctx.Err() != nil), err)
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
