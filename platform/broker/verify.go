package broker

// verify.go: the TLS layer of the login. [LOGIN-TLS] The client certificate
// is required and its chain verified during the handshake, per connection,
// against the directory's current trust snapshot; failures are classified
// into the TLS-stage reasons of iotda.Refusals.

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/sha1" //nolint:gosec // IoTDA's legacy fingerprint format
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"

	"github.com/certlab/certlab/iotda"
	"github.com/certlab/certlab/platform/registry"
)

// connState is what one connection learns on its way through the login.
// Fields are written in stage order on the connection's own goroutine
// (accept, handshake, OnConnect); other goroutines read the login fields only
// after the session is published in Broker.sessions under Broker.mu.
type connState struct {
	// accept
	acceptedAt time.Time
	raw        net.Conn
	peer       string

	// handshake (VerifyConnection runs on the handshake goroutine)
	verifyRan     bool
	leaf          *x509.Certificate
	sha256        string       // leaf fingerprint, lowercase hex, computed once [DEV-FINGERPRINT]
	sha1          string       // legacy fingerprint, lowercase hex; only sha1Hex reads it
	subject       string       // leaf subject, formatted once
	issuer        string       // leaf issuer, formatted once
	anchors       []anchor     // roots of the verified chains (usually one)
	failReason    iotda.Reason // TLS-stage refusal, with its explanation
	failDetail    string
	failCA        *registry.CA // the unverified CA, for ca_not_verified
	handshake     time.Duration
	handshakeDone time.Time
	tlsVersion    uint16
	cipher        uint16
	sni           string
	resumed       bool
	conn          *mqttConn // set once the handshake succeeded

	// login (OnConnect)
	client    *mqtt.Client
	version   byte
	clientID  string
	username  string
	keepalive uint16
	deviceID  string
	projectID string
	ca        *registry.CA // the anchor used for the login [CA-DELETE]
	prefix    string       // "$oc/devices/{device_id}/" [ACL-OWN-TOPICS]
	accepted  bool

	// bookkeeping
	recorded bool        // an attempt was recorded for this connection
	connack  int         // last CONNACK code written, -1 none
	released atomic.Bool // the session was released (release runs once)
}

// Verification failures returned to crypto/tls (which then sends the alert
// bad_certificate). The reason is kept in connState.
var errCertRefused = errors.New("client certificate refused")

var emptyPool = x509.NewCertPool()

var clientAuthUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}

// verifyConnection is tls.Config.VerifyConnection for one connection. It
// runs on full and resumed handshakes alike (VerifyPeerCertificate does not
// run on resumption), so a deleted CA also stops resumed sessions.
func (b *Broker) verifyConnection(st *connState, cs tls.ConnectionState) error {
	st.verifyRan = true
	if len(cs.PeerCertificates) == 0 { // RequireAnyClientCert normally stops this earlier
		st.failReason = iotda.ReasonNoClientCert
		st.failDetail = detailNoClientCert
		return errCertRefused
	}
	leaf := cs.PeerCertificates[0]
	st.setLeaf(leaf)
	trust := b.dir.Trust()
	now := b.now()
	opts := x509.VerifyOptions{
		Roots:       poolOrEmpty(trust.Verified), // never nil: nil would mean the system roots
		CurrentTime: now,
		KeyUsages:   clientAuthUsage,
	}
	if len(cs.PeerCertificates) > 1 {
		opts.Intermediates = x509.NewCertPool()
		for _, c := range cs.PeerCertificates[1:] {
			opts.Intermediates.AddCert(c)
		}
	}
	chains, err := leaf.Verify(opts)
	if err == nil {
		if chains, err = withinKeyPolicy(chains); err != nil { // keypolicy.go
			st.failReason, st.failDetail = iotda.ReasonBadChain, keyPolicyDetail(err)
			return fmt.Errorf("%w: %s: %w", errCertRefused, st.failReason, err)
		}
		for _, chain := range chains {
			a := anchor{sha256: sha256Hex(chain[len(chain)-1].Raw)}
			if !slices.ContainsFunc(st.anchors, func(x anchor) bool { return x.sha256 == a.sha256 }) {
				a.ca = trust.BySHA256[a.sha256]
				st.anchors = append(st.anchors, a)
			}
		}
		return nil
	}
	st.failReason, st.failDetail, st.failCA = classifyVerifyError(err, cs.PeerCertificates, opts, trust, now)
	return fmt.Errorf("%w: %s: %w", errCertRefused, st.failReason, err)
}

// classifyVerifyError maps a chain-verification error to a TLS-stage reason
// (iotda.ReasonForVerifyError, the one mapping every part shares) and a human
// explanation with a remedy. Only the platform knows whether an "unknown" CA
// was uploaded but not verified, so it refines unknown_ca here. [CA-UNVERIFIED]
func classifyVerifyError(err error, certs []*x509.Certificate, opts x509.VerifyOptions, trust *registry.Trust, now time.Time) (iotda.Reason, string, *registry.CA) {
	switch reason := iotda.ReasonForVerifyError(err, now); reason {
	case iotda.ReasonCertExpired, iotda.ReasonCertNotYetValid:
		return reason, validityDetail(reason, invalidCert(err, certs, now), now), nil
	case iotda.ReasonUnknownCA:
		all := opts
		all.Roots = poolOrEmpty(trust.All)
		if chains, err := certs[0].Verify(all); err == nil {
			ca := trust.BySHA256[sha256Hex(chains[0][len(chains[0])-1].Raw)]
			name := "an uploaded CA"
			if ca != nil {
				name = fmt.Sprintf("CA %s (%s, project %s)", ca.ID, ca.CNName, ca.ProjectID)
			}
			return iotda.ReasonCANotVerified, fmt.Sprintf(detailCANotVerified, name), ca
		}
		return reason, fmt.Sprintf(detailUnknownCA, certs[len(certs)-1].Issuer.String()), nil
	default:
		return iotda.ReasonBadChain, fmt.Sprintf(detailBadChain, err), nil
	}
}

// invalidCert names the certificate outside its validity: the one the error
// carries, else the first presented certificate that is (Go hides an expired
// intermediate behind "unknown authority").
func invalidCert(err error, certs []*x509.Certificate, now time.Time) *x509.Certificate {
	if inv, ok := errors.AsType[x509.CertificateInvalidError](err); ok && inv.Cert != nil {
		return inv.Cert
	}
	for _, c := range certs {
		if now.Before(c.NotBefore) || now.After(c.NotAfter) {
			return c
		}
	}
	return certs[0]
}

func validityDetail(reason iotda.Reason, c *x509.Certificate, now time.Time) string {
	if reason == iotda.ReasonCertNotYetValid {
		return fmt.Sprintf(detailNotYetValid, c.Subject.String(),
			c.NotBefore.UTC().Format(time.RFC3339), now.UTC().Format(time.RFC3339))
	}
	return fmt.Sprintf(detailExpired, c.Subject.String(),
		c.NotAfter.UTC().Format(time.RFC3339), now.UTC().Format(time.RFC3339))
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
		return reason, fmt.Sprintf(detailOversizedRSA, err)
	case reason != iotda.ReasonTLSHandshake && !strings.Contains(err.Error(), "invalid signature by the client certificate"):
		return reason, fmt.Sprintf(detailBadChain, err)
	case reason != iotda.ReasonTLSHandshake:
		return reason, "The client's CertificateVerify signature does not match the public key of the certificate it presented: the device is using a private key that does not belong to its certificate. Install the key that was issued with the certificate."
	case errors.Is(err, os.ErrDeadlineExceeded) || errors.Is(err, context.DeadlineExceeded):
		return reason, fmt.Sprintf("The TLS handshake did not complete within %s. Check the network path and that the client speaks TLS on this port.", timeout)
	case strings.Contains(err.Error(), "remote error"):
		return reason, fmt.Sprintf("The client aborted the TLS handshake (%s). Check that it trusts the platform's server CA (server-ca.pem) and supports TLS 1.2 or later.", err)
	default:
		return reason, fmt.Sprintf("The TLS handshake failed: %s.", err)
	}
}

// leafNames caches formatted leaf subjects and issuers across connections.
var leafNames nameCache

func (st *connState) setLeaf(leaf *x509.Certificate) {
	st.leaf = leaf
	s256 := sha256.Sum256(leaf.Raw)
	st.sha256 = hex.EncodeToString(s256[:])
	st.subject = leafNames.format(leaf.RawSubject, &leaf.Subject)
	st.issuer = leafNames.format(leaf.RawIssuer, &leaf.Issuer)
}

// sha1Hex returns the leaf's SHA-1 fingerprint, computed on first use: most
// devices register SHA-256 fingerprints, so most logins never need it.
// Call it on the connection's goroutine, after the handshake set the leaf.
func (st *connState) sha1Hex() string {
	if st.sha1 == "" && st.leaf != nil {
		s1 := sha1.Sum(st.leaf.Raw) //nolint:gosec // IoTDA's legacy fingerprint format
		st.sha1 = hex.EncodeToString(s1[:])
	}
	return st.sha1
}

func sha256Hex(der []byte) string {
	s := sha256.Sum256(der)
	return hex.EncodeToString(s[:])
}

func poolOrEmpty(p *x509.CertPool) *x509.CertPool {
	if p == nil {
		return emptyPool
	}
	return p
}

// anchorsKnown reports whether any anchor is still a CA of the snapshot.
func anchorsKnown(trust *registry.Trust, anchors []anchor) bool {
	for _, a := range anchors {
		if trust.BySHA256[a.sha256] != nil {
			return true
		}
	}
	return false
}

// anchor is the root of a verified chain: the SHA-256 of its DER and the
// record BySHA256 had for it at handshake time.
type anchor struct {
	sha256 string
	ca     *registry.CA
}

// projectAnchor returns the verified CA record, in projectID, of one of the
// anchors in the given snapshot, or nil. The same CA may be uploaded in
// several projects: CAInProject finds the project's own record; BySHA256
// (one record per hash) is the fallback. [LOGIN-PROJECT] [CA-DELETE]
func projectAnchor(trust *registry.Trust, anchors []anchor, projectID string) *registry.CA {
	for _, a := range anchors {
		if ca, ok := trust.CAInProject(projectID, a.sha256); ok && ca.Verified {
			return ca
		}
		if ca := trust.BySHA256[a.sha256]; ca != nil && ca.ProjectID == projectID && ca.Verified {
			return ca
		}
	}
	return nil
}

// keyType names a public key the way people read it: "ECDSA P-256", "RSA 2048", "Ed25519".
func keyType(pub any) string {
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		return "ECDSA " + k.Curve.Params().Name
	case *rsa.PublicKey:
		return fmt.Sprintf("RSA %d", k.N.BitLen())
	case ed25519.PublicKey:
		return "Ed25519"
	default:
		return fmt.Sprintf("%T", pub)
	}
}
