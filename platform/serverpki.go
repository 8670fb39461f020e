package platform

// serverpki.go: the platform's own server PKI. The platform imports none of
// the harness (docs/design.md), so it does not use sim/pki: it needs only a CA,
// kept in the data directory across restarts, and a server certificate
// minted from it at every start.

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"
)

// serverCertificate returns the certificate for the API and MQTTS listeners:
// the configured one, or one minted from the data directory's server CA.
func (p *Platform) serverCertificate() (tls.Certificate, error) {
	if p.cfg.TLSCertFile != "" {
		c, err := tls.LoadX509KeyPair(p.cfg.TLSCertFile, p.cfg.TLSKeyFile)
		if err != nil {
			return tls.Certificate{}, fmt.Errorf("load --tls-cert/--tls-key: %w", err)
		}
		return c, nil
	}
	caCert, caKey, err := loadOrCreateServerCA(p.cfg.DataDir)
	if err != nil {
		return tls.Certificate{}, err
	}
	return mintServerLeaf(caCert, caKey)
}

func loadOrCreateServerCA(dir string) (*x509.Certificate, *ecdsa.PrivateKey, error) {
	certPath, keyPath := filepath.Join(dir, ServerCAFile), filepath.Join(dir, serverCAKey)
	certPEM, certErr := os.ReadFile(certPath)
	keyPEM, keyErr := os.ReadFile(keyPath)
	if certErr == nil && keyErr == nil {
		return parseServerCA(certPEM, keyPEM)
	}
	if !errors.Is(certErr, os.ErrNotExist) && certErr != nil {
		return nil, nil, fmt.Errorf("read server CA: %w", certErr)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("server CA key: %w", err)
	}
	now := time.Now().Add(-time.Hour).UTC().Truncate(time.Second)
	tmpl := &x509.Certificate{
		SerialNumber:          randomSerial(),
		Subject:               pkix.Name{CommonName: "certlab platform server CA", Organization: []string{"certlab"}},
		NotBefore:             now,
		NotAfter:              now.AddDate(10, 0, 0),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, nil, fmt.Errorf("server CA: %w", err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, nil, fmt.Errorf("server CA key: %w", err)
	}
	// Key first: a crash between the two writes leaves no CA without its key.
	if err := writeFileAtomic(keyPath, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), dataFileMode); err != nil {
		return nil, nil, fmt.Errorf("write server CA key: %w", err)
	}
	if err := writeFileAtomic(certPath, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), dataFileMode); err != nil {
		return nil, nil, fmt.Errorf("write server CA: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	return cert, key, err
}

func parseServerCA(certPEM, keyPEM []byte) (*x509.Certificate, *ecdsa.PrivateKey, error) {
	cb, _ := pem.Decode(certPEM)
	kb, _ := pem.Decode(keyPEM)
	if cb == nil || kb == nil {
		return nil, nil, errors.New("server CA files in the data directory are not PEM")
	}
	cert, err := x509.ParseCertificate(cb.Bytes)
	if err != nil {
		return nil, nil, fmt.Errorf("parse server CA: %w", err)
	}
	k, err := x509.ParsePKCS8PrivateKey(kb.Bytes)
	if err != nil {
		return nil, nil, fmt.Errorf("parse server CA key: %w", err)
	}
	key, ok := k.(*ecdsa.PrivateKey)
	if !ok {
		return nil, nil, errors.New("server CA key is not ECDSA")
	}
	return cert, key, nil
}

// mintServerLeaf issues an ECDSA P-256 server certificate for localhost,
// the loopback addresses and this host's name.
func mintServerLeaf(ca *x509.Certificate, caKey *ecdsa.PrivateKey) (tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("server key: %w", err)
	}
	names := []string{"localhost", "certlab-platform"}
	if h, err := os.Hostname(); err == nil && h != "" {
		names = append(names, h)
	}
	now := time.Now().Add(-time.Hour).UTC().Truncate(time.Second)
	tmpl := &x509.Certificate{
		SerialNumber: randomSerial(),
		Subject:      pkix.Name{CommonName: "certlab platform", Organization: []string{"certlab"}},
		NotBefore:    now,
		NotAfter:     now.AddDate(1, 0, 0),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames:     names,
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, key.Public(), caKey)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("server certificate: %w", err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("server certificate: %w", err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, nil
}

func randomSerial() *big.Int {
	s, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		panic(fmt.Sprintf("crypto/rand failed: %v", err)) // crypto/rand never fails on Linux
	}
	return s.Add(s, big.NewInt(1))
}
