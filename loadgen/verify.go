package loadgen

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"sync"
	"time"
)

// Server certificate verification modes (AttackConfig.VerifyServer).
const (
	// VerifyCached verifies the server's chain with crypto/x509 (roots,
	// name, validity, EKU) the first time a server certificate is seen and
	// then accepts the byte-identical certificate until it expires. The
	// server's CertificateVerify signature, its proof of the key, is still
	// checked by crypto/tls on every handshake. It saves the generator a
	// chain build and an ECDSA verify (~50 µs) per login.
	VerifyCached = "cached"
	// VerifyFull runs crypto/x509 chain verification on every handshake,
	// as an ordinary client does.
	VerifyFull = "full"
)

// cachedVerifier is the VerifyConnection of VerifyCached mode. One serves
// every device of an attack.
type cachedVerifier struct {
	roots *x509.CertPool
	name  string

	mu       sync.RWMutex
	verified map[string]time.Time // leaf DER -> NotAfter
}

func newCachedVerifier(roots *x509.CertPool, name string) *cachedVerifier {
	return &cachedVerifier{roots: roots, name: name, verified: make(map[string]time.Time)}
}

func (v *cachedVerifier) verify(cs tls.ConnectionState) error {
	if len(cs.PeerCertificates) == 0 {
		return errors.New("verify server: no certificate")
	}
	leaf := cs.PeerCertificates[0]
	now := time.Now()
	v.mu.RLock()
	notAfter, ok := v.verified[string(leaf.Raw)]
	v.mu.RUnlock()
	if ok && now.Before(notAfter) {
		return nil
	}
	opts := x509.VerifyOptions{Roots: v.roots, DNSName: v.name, CurrentTime: now, Intermediates: x509.NewCertPool(),
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	for _, c := range cs.PeerCertificates[1:] {
		opts.Intermediates.AddCert(c)
	}
	if _, err := leaf.Verify(opts); err != nil {
		return &tls.CertificateVerificationError{UnverifiedCertificates: cs.PeerCertificates, Err: err}
	}
	v.mu.Lock()
	v.verified[string(leaf.Raw)] = leaf.NotAfter
	v.mu.Unlock()
	return nil
}

func checkVerifyMode(m string) error {
	switch m {
	case "", VerifyCached, VerifyFull:
		return nil
	}
	return fmt.Errorf("server verification %q: want %s or %s", m, VerifyCached, VerifyFull)
}
