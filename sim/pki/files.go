package pki

// files.go: reading and writing certificate/key PEM files, and describing keys
// for people (login diagnostics, `certlab check`).

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"

	"software.sslmate.com/src/go-pkcs12"
)

// File name suffixes used by WriteFiles: dir/base+CertSuffix and dir/base+KeySuffix.
const (
	CertSuffix = ".pem"
	KeySuffix  = ".key"
)

// LeafFromFiles reads a device (or server) identity: certPath holds the leaf
// certificate first, then any intermediates it must present (nearest first);
// keyPath holds its private key (PKCS#8, PKCS#1 or SEC 1). Both may be PEM or
// DER (a DER certificate file may hold several certificates back to back).
// certPath and keyPath may be the same PEM file. The key is not checked against the
// certificate (a mismatched pair is a diagnosis, not a read error): use
// KeyMatchesCert for that.
func LeafFromFiles(certPath, keyPath string) (*Leaf, error) {
	cert, chain, key, err := readPair(certPath, keyPath)
	if err != nil {
		return nil, fmt.Errorf("read leaf: %w", err)
	}
	return &Leaf{Cert: cert, Key: key, Chain: chain}, nil
}

// LeafFromPKCS12 reads a device identity from a PKCS#12 (.p12, .pfx) file:
// its key, its certificate and any other certificates in the file, which are
// presented as intermediates (a self-signed root among them is left out: a
// device need not send it). OpenSSL 3's default AES/PBKDF2 encryption and
// the legacy RC2/3DES ones are read.
func LeafFromPKCS12(path, password string) (*Leaf, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read PKCS#12: %w", err)
	}
	key, cert, cas, err := pkcs12.DecodeChain(data, password)
	if err != nil {
		if errors.Is(err, pkcs12.ErrIncorrectPassword) {
			return nil, fmt.Errorf("read PKCS#12 %s: wrong password (--p12-password)", path)
		}
		return nil, fmt.Errorf("read PKCS#12 %s: %w", path, err)
	}
	signer, ok := key.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("read PKCS#12 %s: the key (%T) cannot sign", path, key)
	}
	leaf := &Leaf{Cert: cert, Key: signer}
	for _, c := range cas {
		if string(c.RawIssuer) == string(c.RawSubject) || c.Equal(cert) ||
			slices.ContainsFunc(leaf.Chain, c.Equal) { // files often repeat a certificate
			continue
		}
		leaf.Chain = append(leaf.Chain, c)
	}
	return leaf, nil
}

// parseCertsAny parses PEM certificates, or DER ones when data has no PEM.
func parseCertsAny(data []byte) ([]*x509.Certificate, error) {
	if bytes.Contains(data, []byte("-----BEGIN")) {
		return ParseCertsPEM(data)
	}
	certs, err := x509.ParseCertificates(data)
	if err != nil {
		return nil, fmt.Errorf("parse certificate: neither PEM nor DER: %w", err)
	}
	if len(certs) == 0 {
		return nil, errors.New("parse certificate: the file is empty")
	}
	return certs, nil
}

// parseKeyAny parses a PEM private key, or a DER one when data has no PEM.
func parseKeyAny(data []byte) (crypto.Signer, error) {
	if bytes.Contains(data, []byte("-----BEGIN")) {
		return ParseKeyPEM(data)
	}
	key, err := ParseKeyDER(data)
	if err != nil {
		return nil, fmt.Errorf("parse key: neither PEM nor a DER PKCS#8, PKCS#1 or SEC 1 key (for a .p12 file use --p12): %w", err)
	}
	return key, nil
}

// CAFromFiles reads a CA written by (*CA).WriteFiles (or by openssl): the CA
// certificate first, then its own intermediates up to the root; and its key.
func CAFromFiles(certPath, keyPath string) (*CA, error) {
	cert, chain, key, err := readPair(certPath, keyPath)
	if err != nil {
		return nil, fmt.Errorf("read CA: %w", err)
	}
	if !cert.IsCA {
		return nil, fmt.Errorf("read CA: %s: %q is not a CA certificate (basicConstraints CA:FALSE)", certPath, cert.Subject.CommonName)
	}
	if !KeyMatchesCert(cert, key) {
		return nil, fmt.Errorf("read CA: %s does not hold the key of %s", keyPath, certPath)
	}
	return &CA{Cert: cert, Key: key, Chain: chain}, nil
}

func readPair(certPath, keyPath string) (*x509.Certificate, []*x509.Certificate, crypto.Signer, error) {
	certPEM, err := os.ReadFile(certPath)
	if err != nil {
		return nil, nil, nil, err
	}
	certs, err := parseCertsAny(certPEM)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("%s: %w", certPath, err)
	}
	keyPEM, err := os.ReadFile(keyPath)
	if err != nil {
		return nil, nil, nil, err
	}
	key, err := parseKeyAny(keyPEM)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("%s: %w", keyPath, err)
	}
	return certs[0], certs[1:], key, nil
}

// WriteFiles writes dir/base.pem (the CA certificate followed by its own
// intermediates) and dir/base.key (PKCS#8, mode 0600), creating dir.
func (ca *CA) WriteFiles(dir, base string) error {
	certPEM := CertPEM(ca.Cert)
	for _, c := range ca.Chain {
		certPEM = append(certPEM, CertPEM(c)...)
	}
	if err := writePair(dir, base, certPEM, ca.Key); err != nil {
		return fmt.Errorf("write CA %q: %w", ca.Cert.Subject.CommonName, err)
	}
	return nil
}

// WriteFiles writes dir/base.pem (the leaf followed by its chain) and
// dir/base.key (PKCS#8, mode 0600), creating dir.
func (l *Leaf) WriteFiles(dir, base string) error {
	if err := writePair(dir, base, l.CertPEM(), l.Key); err != nil {
		return fmt.Errorf("write leaf %q: %w", l.Cert.Subject.CommonName, err)
	}
	return nil
}

func writePair(dir, base string, certPEM []byte, key crypto.Signer) error {
	keyPEM, err := KeyPEM(key)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if err := WriteFileAtomic(filepath.Join(dir, base+CertSuffix), certPEM, 0o644); err != nil {
		return err
	}
	return WriteFileAtomic(filepath.Join(dir, base+KeySuffix), keyPEM, 0o600)
}

// WriteFileAtomic writes data to a temporary file in path's directory with
// the given mode, syncs it and renames it over path, so a reader sees the old
// file or the whole new one, never a torn write.
func WriteFileAtomic(path string, data []byte, perm os.FileMode) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer os.Remove(tmp) // no-op after a successful rename
	if err := f.Chmod(perm); err != nil {
		f.Close()
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// KeyDescription names a public (or private) key for people: "ECDSA P-256",
// "ECDSA P-384", "RSA 2048", "Ed25519". It is the cert_key_type of a login
// attempt and what `certlab check` prints.
func KeyDescription(key any) string {
	if s, ok := key.(crypto.Signer); ok {
		key = s.Public()
	}
	switch k := key.(type) {
	case *ecdsa.PublicKey:
		if k.Curve == nil {
			return "ECDSA"
		}
		return "ECDSA " + k.Curve.Params().Name
	case *rsa.PublicKey:
		if k.N == nil {
			return "RSA"
		}
		return fmt.Sprintf("RSA %d", k.N.BitLen())
	case ed25519.PublicKey:
		return "Ed25519"
	case nil:
		return "none"
	default:
		return fmt.Sprintf("unknown (%T)", key)
	}
}

// KeyMatchesCert reports whether key is the private key of cert's public key.
// A mismatched pair passes chain verification but fails the TLS handshake at
// the client's CertificateVerify (see the mismatched-key variant).
func KeyMatchesCert(cert *x509.Certificate, key crypto.Signer) bool {
	if cert == nil || key == nil {
		return false
	}
	pub, ok := key.Public().(interface{ Equal(crypto.PublicKey) bool })
	return ok && pub.Equal(cert.PublicKey)
}

// KeyMatches reports whether the leaf's key belongs to its certificate.
func (l *Leaf) KeyMatches() bool { return KeyMatchesCert(l.Cert, l.Key) }
