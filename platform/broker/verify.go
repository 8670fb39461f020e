package broker

// verify.go: the TLS layer of the login. [LOGIN-TLS] The client certificate
// is required, and VerifyConnection decides its chain (login.go, handshake
// stage) per connection against the directory's current trust snapshot; a
// handshake that fails for another cause is classified here.

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/certlab/certlab/iotda"
)

// errCertRefused is returned to crypto/tls when the chain is refused (it
// then sends the alert bad_certificate). The reason is kept in connState.
var errCertRefused = errors.New("client certificate refused")

// verifyConnection is tls.Config.VerifyConnection for one connection: it
// decides the handshake stage of the login and applies the verdict. It runs
// on full and resumed handshakes alike (VerifyPeerCertificate does not run on
// resumption), so a deleted CA also stops resumed sessions.
func (b *Broker) verifyConnection(st *connState, cs tls.ConnectionState) error {
	st.verifyRan = true
	l := &st.login // the login begins here
	l.dir, l.now, l.certs = b.dir, b.now(), cs.PeerCertificates
	if leaf := l.leaf(); leaf != nil {
		st.setLeaf(leaf)
	}
	v := l.decide(stageHandshake)
	st.settle(v)
	if !v.ok() {
		st.failReason, st.failDetail = v.reason, v.detail
		return fmt.Errorf("%w: %s", errCertRefused, v.reason)
	}
	l.anchors = v.anchors
	return nil
}

// tlsRefused records a handshake that failed.
func (b *Broker) tlsRefused(st *connState, err error) {
	reason, detail := st.failReason, st.failDetail
	if reason == "" {
		reason, detail = classifyHandshakeError(err, b.cfg.ConnectTimeout)
	}
	b.refused(st, reason, detail)
}

func classifyHandshakeError(err error, timeout time.Duration) (iotda.Reason, string) {
	switch reason := iotda.ReasonForHandshakeError(err, time.Time{}); {
	case reason == iotda.ReasonNoClientCert:
		return reason, detailNoClientCert
	case strings.Contains(err.Error(), "RSA key larger than"): // keypolicy.go
		return reason, fmt.Sprintf(detailOversizedRSA, errText(err))
	case reason != iotda.ReasonTLSHandshake && !strings.Contains(err.Error(), "invalid signature by the client certificate"):
		return reason, fmt.Sprintf(detailBadChain, errText(err))
	case reason != iotda.ReasonTLSHandshake:
		return reason, "The client's CertificateVerify signature does not match the public key of the certificate it presented: the device is using a private key that does not belong to its certificate. Install the key that was issued with the certificate."
	case errors.Is(err, os.ErrDeadlineExceeded) || errors.Is(err, context.DeadlineExceeded):
		return reason, fmt.Sprintf("The TLS handshake did not complete within %s. Check the network path and that the client speaks TLS on this port.", timeout)
	case strings.Contains(err.Error(), "remote error"):
		return reason, fmt.Sprintf("The client aborted the TLS handshake (%s). Check that it trusts the platform's server CA (server-ca.pem) and supports TLS 1.2 or later.", errText(err))
	default:
		return reason, fmt.Sprintf("The TLS handshake failed: %s.", errText(err))
	}
}
