// Package pki mints the X.509 material certlab needs: device CAs (root and
// intermediate), per-device client certificates, proof-of-possession
// verification certificates, and fingerprints in IoTDA's formats.
// Everything is generated in memory; nothing here talks to a platform.
//
// Besides pki.go: catalogue.go is the shared catalogue of good and bad
// device-certificate variants (NewVariant), classify.go maps Go's
// verification and handshake errors to login-refusal reasons, and files.go
// reads and writes PEM files and describes keys.
//
// Defaults (each overridable with an Option):
//   - keys are ECDSA P-256;
//   - NotBefore is one hour before now (absorbs clock skew), NotAfter is
//     NotBefore + 10 years for CAs and + 2 years for leaves;
//   - device certificates carry ExtKeyUsage clientAuth and KeyUsage digitalSignature.
package pki

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"time"
)

// KeyType names a key algorithm for generated certificates.
type KeyType string

// Supported key types.
const (
	ECDSAP256 KeyType = "ecdsa-p256"
	ECDSAP384 KeyType = "ecdsa-p384"
	ECDSAP521 KeyType = "ecdsa-p521"
	ECDSAP224 KeyType = "ecdsa-p224" // outside the key policy: only to test refusals
	RSA1024   KeyType = "rsa-1024"   // only for the "weak key" bad variant
	RSA2048   KeyType = "rsa-2048"
	RSA3072   KeyType = "rsa-3072"
	RSA4096   KeyType = "rsa-4096"
	Ed25519   KeyType = "ed25519"
)

// GenerateKey creates a private key of the given type.
func GenerateKey(kt KeyType) (crypto.Signer, error) {
	switch kt {
	case "", ECDSAP256:
		return ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case ECDSAP384:
		return ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	case ECDSAP521:
		return ecdsa.GenerateKey(elliptic.P521(), rand.Reader)
	case ECDSAP224:
		return ecdsa.GenerateKey(elliptic.P224(), rand.Reader)
	case RSA1024:
		return rsa.GenerateKey(rand.Reader, 1024) //nolint:gosec // deliberately weak bad variant
	case RSA2048:
		return rsa.GenerateKey(rand.Reader, 2048)
	case RSA3072:
		return rsa.GenerateKey(rand.Reader, 3072)
	case RSA4096:
		return rsa.GenerateKey(rand.Reader, 4096)
	case Ed25519:
		_, k, err := ed25519.GenerateKey(rand.Reader)
		return k, err
	default:
		return nil, fmt.Errorf("generate key: unknown key type %q", kt)
	}
}

// CA is a certificate authority that can sign intermediates, device
// certificates and verification certificates.
type CA struct {
	Cert *x509.Certificate
	Key  crypto.Signer
	// Chain holds the intermediates between this CA and its root, nearest first
	// (empty for a root). Device certificates signed by an intermediate carry it.
	Chain []*x509.Certificate
}

// options hold the settings shared by every constructor.
type options struct {
	keyType   KeyType
	notBefore time.Time
	notAfter  time.Time
	org       string
	serial    *big.Int
	isCA      *bool // override basicConstraints CA flag (bad variants)
	keyUsage  *x509.KeyUsage
	extUsage  []x509.ExtKeyUsage
	sigAlg    x509.SignatureAlgorithm
	key       crypto.Signer
	dnsNames  []string
}

// Option customises a generated certificate.
type Option func(*options)

// WithKeyType selects the key algorithm (default ECDSA P-256).
func WithKeyType(kt KeyType) Option { return func(o *options) { o.keyType = kt } }

// WithValidity sets NotBefore and NotAfter.
func WithValidity(notBefore, notAfter time.Time) Option {
	return func(o *options) { o.notBefore, o.notAfter = notBefore, notAfter }
}

// WithOrganization sets the subject O (IoTDA shows it as the CA owner).
func WithOrganization(org string) Option { return func(o *options) { o.org = org } }

// WithSerial sets the serial number (default random 128 bits).
func WithSerial(s *big.Int) Option { return func(o *options) { o.serial = s } }

// WithIsCA overrides basicConstraints CA (bad variants: a "CA" without CA:TRUE).
func WithIsCA(isCA bool) Option { return func(o *options) { o.isCA = &isCA } }

// WithKeyUsage overrides KeyUsage.
func WithKeyUsage(ku x509.KeyUsage) Option { return func(o *options) { o.keyUsage = &ku } }

// WithExtKeyUsage overrides ExtKeyUsage (bad variants: serverAuth only).
func WithExtKeyUsage(eku ...x509.ExtKeyUsage) Option {
	return func(o *options) { o.extUsage = eku }
}

// WithSignatureAlgorithm forces the signature algorithm (bad variants: SHA-1).
func WithSignatureAlgorithm(alg x509.SignatureAlgorithm) Option {
	return func(o *options) { o.sigAlg = alg }
}

// WithKey uses an existing key instead of generating one.
func WithKey(k crypto.Signer) Option { return func(o *options) { o.key = k } }

// WithDNSNames adds DNS SANs (server certificates).
func WithDNSNames(names ...string) Option { return func(o *options) { o.dnsNames = names } }

func collect(opts []Option, lifetime time.Duration) (options, error) {
	o := options{}
	for _, fn := range opts {
		fn(&o)
	}
	if o.notBefore.IsZero() {
		o.notBefore = time.Now().Add(-time.Hour).UTC().Truncate(time.Second)
	}
	if o.notAfter.IsZero() {
		o.notAfter = o.notBefore.Add(lifetime)
	}
	if o.serial == nil {
		s, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
		if err != nil {
			return o, fmt.Errorf("serial: %w", err)
		}
		o.serial = s.Add(s, big.NewInt(1))
	}
	if o.key == nil {
		k, err := GenerateKey(o.keyType)
		if err != nil {
			return o, err
		}
		o.key = k
	}
	return o, nil
}

func name(cn, org string) pkix.Name {
	n := pkix.Name{CommonName: cn}
	if org != "" {
		n.Organization = []string{org}
	}
	return n
}

// NewRootCA creates a self-signed root CA with subject CN cn.
func NewRootCA(cn string, opts ...Option) (*CA, error) {
	o, err := collect(opts, 10*365*24*time.Hour)
	if err != nil {
		return nil, fmt.Errorf("new root CA %q: %w", cn, err)
	}
	tmpl := caTemplate(cn, o)
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, o.key.Public(), o.key)
	if err != nil {
		return nil, fmt.Errorf("new root CA %q: %w", cn, err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("new root CA %q: %w", cn, err)
	}
	return &CA{Cert: cert, Key: o.key}, nil
}

func caTemplate(cn string, o options) *x509.Certificate {
	isCA := true
	if o.isCA != nil {
		isCA = *o.isCA
	}
	ku := x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature
	if o.keyUsage != nil {
		ku = *o.keyUsage
	}
	return &x509.Certificate{
		SerialNumber:          o.serial,
		Subject:               name(cn, o.org),
		NotBefore:             o.notBefore,
		NotAfter:              o.notAfter,
		KeyUsage:              ku,
		BasicConstraintsValid: true,
		IsCA:                  isCA,
		SignatureAlgorithm:    o.sigAlg,
		ExtKeyUsage:           o.extUsage, // usually none; set for self-signed device variants
	}
}

// NewIntermediate creates a CA signed by ca.
func (ca *CA) NewIntermediate(cn string, opts ...Option) (*CA, error) {
	o, err := collect(opts, 5*365*24*time.Hour)
	if err != nil {
		return nil, fmt.Errorf("new intermediate %q: %w", cn, err)
	}
	cert, err := ca.sign(caTemplate(cn, o), o.key.Public())
	if err != nil {
		return nil, fmt.Errorf("new intermediate %q: %w", cn, err)
	}
	return &CA{Cert: cert, Key: o.key, Chain: ca.presentedChain()}, nil
}

func (ca *CA) sign(tmpl *x509.Certificate, pub crypto.PublicKey) (*x509.Certificate, error) {
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, pub, ca.Key)
	if err != nil {
		return nil, err
	}
	return x509.ParseCertificate(der)
}

// Leaf is a device (or server) certificate with its key and the
// intermediates a TLS client must send with it.
type Leaf struct {
	Cert  *x509.Certificate
	Key   crypto.Signer
	Chain []*x509.Certificate // intermediates, nearest first; empty when signed by a root
}

// NewDeviceCert issues a client certificate for a device (subject CN cn).
func (ca *CA) NewDeviceCert(cn string, opts ...Option) (*Leaf, error) {
	o, err := collect(opts, 2*365*24*time.Hour)
	if err != nil {
		return nil, fmt.Errorf("new device cert %q: %w", cn, err)
	}
	ku := x509.KeyUsageDigitalSignature
	if o.keyUsage != nil {
		ku = *o.keyUsage
	}
	if _, isRSA := o.key.(*rsa.PrivateKey); isRSA && o.keyUsage == nil {
		ku |= x509.KeyUsageKeyEncipherment
	}
	eku := []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	if o.extUsage != nil {
		eku = o.extUsage
	}
	tmpl := &x509.Certificate{
		SerialNumber:       o.serial,
		Subject:            name(cn, o.org),
		NotBefore:          o.notBefore,
		NotAfter:           o.notAfter,
		KeyUsage:           ku,
		ExtKeyUsage:        eku,
		SignatureAlgorithm: o.sigAlg,
		DNSNames:           o.dnsNames,
	}
	if o.isCA != nil {
		tmpl.BasicConstraintsValid = true
		tmpl.IsCA = *o.isCA
	}
	cert, err := ca.sign(tmpl, o.key.Public())
	if err != nil {
		return nil, fmt.Errorf("new device cert %q: %w", cn, err)
	}
	return &Leaf{Cert: cert, Key: o.key, Chain: ca.presentedChain()}, nil
}

// presentedChain is what a leaf issued by ca sends after itself: ca (if it is
// not a root) and ca's own intermediates.
func (ca *CA) presentedChain() []*x509.Certificate {
	if isSelfSigned(ca.Cert) {
		return nil
	}
	return append([]*x509.Certificate{ca.Cert}, ca.Chain...)
}

func isSelfSigned(c *x509.Certificate) bool {
	return c.CheckSignatureFrom(c) == nil && string(c.RawIssuer) == string(c.RawSubject)
}

// NewVerificationCert issues the proof-of-possession certificate IoTDA asks
// for: subject CN = the CA's verify_code, signed by the CA's key. [CA-VERIFY]
func (ca *CA) NewVerificationCert(verifyCode string, opts ...Option) (*Leaf, error) {
	o, err := collect(opts, 365*24*time.Hour)
	if err != nil {
		return nil, fmt.Errorf("new verification cert: %w", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: o.serial,
		Subject:      name(verifyCode, o.org),
		NotBefore:    o.notBefore,
		NotAfter:     o.notAfter,
		KeyUsage:     x509.KeyUsageDigitalSignature,
	}
	cert, err := ca.sign(tmpl, o.key.Public())
	if err != nil {
		return nil, fmt.Errorf("new verification cert: %w", err)
	}
	return &Leaf{Cert: cert, Key: o.key}, nil
}

// NewServerCert issues a TLS server certificate for the given DNS names and 127.0.0.1.
func (ca *CA) NewServerCert(cn string, dnsNames []string, opts ...Option) (*Leaf, error) {
	o, err := collect(opts, 2*365*24*time.Hour)
	if err != nil {
		return nil, fmt.Errorf("new server cert %q: %w", cn, err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: o.serial,
		Subject:      name(cn, o.org),
		NotBefore:    o.notBefore,
		NotAfter:     o.notAfter,
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames:     dnsNames,
		IPAddresses:  loopbackIPs(),
	}
	cert, err := ca.sign(tmpl, o.key.Public())
	if err != nil {
		return nil, fmt.Errorf("new server cert %q: %w", cn, err)
	}
	return &Leaf{Cert: cert, Key: o.key, Chain: ca.presentedChain()}, nil
}

// TLSCertificate returns the leaf as a tls.Certificate (leaf, then its chain).
func (l *Leaf) TLSCertificate() tls.Certificate {
	c := tls.Certificate{PrivateKey: l.Key, Leaf: l.Cert, Certificate: [][]byte{l.Cert.Raw}}
	for _, ic := range l.Chain {
		c.Certificate = append(c.Certificate, ic.Raw)
	}
	return c
}

// CertPEM returns the leaf followed by its chain, PEM encoded.
func (l *Leaf) CertPEM() []byte {
	out := CertPEM(l.Cert)
	for _, ic := range l.Chain {
		out = append(out, CertPEM(ic)...)
	}
	return out
}

// KeyPEM returns the private key as PKCS#8 PEM.
func (l *Leaf) KeyPEM() ([]byte, error) { return KeyPEM(l.Key) }

// FingerprintSHA256 is the leaf's SHA-256 fingerprint as IoTDA stores it.
func (l *Leaf) FingerprintSHA256() string { return FingerprintSHA256(l.Cert) }

// FingerprintSHA1 is the leaf's SHA-1 fingerprint as IoTDA stores it.
func (l *Leaf) FingerprintSHA1() string { return FingerprintSHA1(l.Cert) }

// CertPEM encodes one certificate as PEM.
func CertPEM(c *x509.Certificate) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})
}

// KeyPEM encodes a private key as PKCS#8 PEM.
func KeyPEM(k crypto.Signer) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		return nil, fmt.Errorf("marshal key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

// FingerprintSHA256 returns the lowercase hex SHA-256 of the certificate DER
// (64 digits, no separators): IoTDA's fingerprint format. [DEV-FINGERPRINT]
func FingerprintSHA256(c *x509.Certificate) string {
	s := sha256.Sum256(c.Raw)
	return hex.EncodeToString(s[:])
}

// FingerprintSHA1 returns the lowercase hex SHA-1 of the certificate DER (40 digits).
func FingerprintSHA1(c *x509.Certificate) string {
	s := sha1.Sum(c.Raw) //nolint:gosec // IoTDA's legacy fingerprint format
	return hex.EncodeToString(s[:])
}

// ParseCertsPEM parses every CERTIFICATE block in data.
func ParseCertsPEM(data []byte) ([]*x509.Certificate, error) {
	var out []*x509.Certificate
	for {
		var b *pem.Block
		b, data = pem.Decode(data)
		if b == nil {
			break
		}
		if b.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			return nil, fmt.Errorf("parse certificate: %w", err)
		}
		out = append(out, c)
	}
	if len(out) == 0 {
		return nil, errors.New("parse certificate: no CERTIFICATE PEM block")
	}
	return out, nil
}

// ParseKeyPEM parses the first private key in data: PKCS#8 ("PRIVATE KEY"),
// PKCS#1 ("RSA PRIVATE KEY") or SEC 1 ("EC PRIVATE KEY"). Other blocks before
// it are skipped, so openssl's "EC PARAMETERS" + "EC PRIVATE KEY" output and a
// combined cert+key file both work. Encrypted keys are refused with a clear error.
func ParseKeyPEM(data []byte) (crypto.Signer, error) {
	seen := 0
	for {
		var b *pem.Block
		b, data = pem.Decode(data)
		if b == nil {
			break
		}
		seen++
		switch b.Type {
		case "PRIVATE KEY", "RSA PRIVATE KEY", "EC PRIVATE KEY":
		case "ENCRYPTED PRIVATE KEY":
			return nil, errors.New("parse key: encrypted PKCS#8 key; decrypt it first (openssl pkcs8 -in key.pem -out plain.pem)")
		default:
			continue
		}
		if _, encrypted := b.Headers["DEK-Info"]; encrypted {
			return nil, errors.New("parse key: encrypted PEM key; decrypt it first (openssl pkey -in key.pem -out plain.pem)")
		}
		return parseKeyDER(b.Bytes, b.Type)
	}
	if seen == 0 {
		return nil, errors.New("parse key: no PEM block")
	}
	return nil, errors.New("parse key: no PRIVATE KEY PEM block")
}

// ParseKeyDER parses a DER private key in PKCS#8, PKCS#1 or SEC 1 form.
func ParseKeyDER(der []byte) (crypto.Signer, error) { return parseKeyDER(der, "DER") }

func parseKeyDER(der []byte, kind string) (crypto.Signer, error) {
	if k, err := x509.ParsePKCS8PrivateKey(der); err == nil {
		if s, ok := k.(crypto.Signer); ok {
			return s, nil
		}
		return nil, errors.New("parse key: not a signing key")
	}
	if k, err := x509.ParsePKCS1PrivateKey(der); err == nil {
		return k, nil
	}
	if k, err := x509.ParseECPrivateKey(der); err == nil {
		return k, nil
	}
	return nil, fmt.Errorf("parse key: unsupported %q key encoding", kind)
}

func loopbackIPs() []net.IP { return []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback} }
