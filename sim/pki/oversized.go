package pki

// oversized.go: certificates carrying keys nobody holds, for testing key
// policies with keys that would take minutes to generate for real (an RSA
// key of 16384 bits). A policy reads the key before it checks any signature,
// so the certificate need not be signed by the key it carries.

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"fmt"
	"math/big"
	"time"
)

// FakeRSAPublicKey returns an RSA public key of exactly bits bits (e = 65537)
// whose private key does not exist: the modulus is a random odd number, not
// a product of two primes. It takes microseconds at any size.
func FakeRSAPublicKey(bits int) (*rsa.PublicKey, error) {
	if bits < 16 {
		return nil, fmt.Errorf("fake RSA public key: %d bits is too small", bits)
	}
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), uint(bits-1)))
	if err != nil {
		return nil, fmt.Errorf("fake RSA public key: %w", err)
	}
	n.SetBit(n, bits-1, 1) // exactly bits long
	n.SetBit(n, 0, 1)      // odd
	return &rsa.PublicKey{N: n, E: 65537}, nil
}

// NewCACertForKey issues a CA certificate (CA:TRUE, keyCertSign) with
// subject CN cn that carries pub. Its issuer name is its subject, like a
// root's, but it is signed by a throwaway ECDSA P-256 key, since nobody
// holds pub's private key: only a check of the key itself (a key policy)
// can refuse it for the right reason. opts apply as for NewRootCA (the key
// options excepted).
func NewCACertForKey(cn string, pub any, opts ...Option) (*x509.Certificate, error) {
	o, err := collect(opts, 10*365*24*time.Hour)
	if err != nil {
		return nil, fmt.Errorf("CA certificate for a %s key: %w", KeyDescription(pub), err)
	}
	tmpl := caTemplate(cn, o)
	signer := *tmpl // same name, the throwaway key
	der, err := x509.CreateCertificate(rand.Reader, tmpl, &signer, pub, o.key)
	if err != nil {
		return nil, fmt.Errorf("CA certificate for a %s key: %w", KeyDescription(pub), err)
	}
	return x509.ParseCertificate(der)
}
