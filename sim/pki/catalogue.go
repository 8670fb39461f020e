package pki

// catalogue.go: the one shared catalogue of device-certificate variants
// (mochi-style: one named case per variant), used by unit tests, the BDD
// steps and `certlab check`. Each case states the login outcome a platform
// that verifies like Go's crypto/x509 and applies certlab's key policy
// (iotda.CheckKey) must produce; catalogue_test.go proves every WantReason
// with x509.Verify and a real mutual-TLS handshake.

import (
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/x509"
	"fmt"
	"time"

	"github.com/certlab/certlab/iotda"
)

// Variant names a kind of device certificate.
type Variant string

// Certificate variants. Valid* variants log in; the others are refused in the
// TLS handshake with the catalogue's WantReason. [LOGIN-TLS]
const (
	VariantValid             Variant = "valid"               // ECDSA P-256, issued by the CA
	VariantValidP384         Variant = "valid-p384"          // ECDSA P-384
	VariantValidRSA2048      Variant = "valid-rsa2048"       // RSA 2048
	VariantValidEd25519      Variant = "valid-ed25519"       // Ed25519
	VariantExpired           Variant = "expired"             // NotAfter yesterday
	VariantNotYetValid       Variant = "not-yet-valid"       // NotBefore tomorrow
	VariantWrongEKU          Variant = "wrong-eku"           // ExtKeyUsage serverAuth only
	VariantSelfSigned        Variant = "self-signed"         // signed by its own key
	VariantUnknownCA         Variant = "unknown-ca"          // signed by a CA nobody uploaded
	VariantIntermediateNotCA Variant = "intermediate-not-ca" // chain through an "intermediate" with CA:FALSE
	VariantRSA1024           Variant = "rsa-1024"            // weak 1024-bit RSA key, otherwise valid
	VariantSHA1Signature     Variant = "sha1-signature"      // CA signed it with SHA-1
	VariantMismatchedKey     Variant = "mismatched-key"      // valid certificate, wrong private key
	VariantViaIntermediate   Variant = "via-intermediate"    // valid, issued by an intermediate under the CA
)

// RemedyKeyPolicy is the remedy for a key outside iotda.KeyPolicy.
const RemedyKeyPolicy = "reissue the device certificate with an allowed key (" + iotda.KeyPolicy + "), e.g. ECDSA P-256 or RSA 2048"

// VariantCase is one entry of the catalogue.
type VariantCase struct {
	Name Variant
	Desc string
	// WantReason is the login outcome: iotda.ReasonOK, or the TLS-stage
	// refusal reason of the login-refusal table (docs/requirements.md).
	WantReason iotda.Reason
	// Remedy tells a device vendor what to change.
	Remedy string
}

// Catalogue lists every variant, valid ones first. What Go does with each is
// verified in catalogue_test.go (x509.Verify with the CA as the only root and
// KeyUsages clientAuth, and a crypto/tls mutual-TLS handshake on 127.0.0.1,
// TLS 1.2 and 1.3).
var Catalogue = []VariantCase{
	{VariantValid, "ECDSA P-256 device certificate issued by the uploaded CA", iotda.ReasonOK,
		""},
	{VariantValidP384, "ECDSA P-384 device certificate issued by the uploaded CA", iotda.ReasonOK,
		""},
	{VariantValidRSA2048, "RSA 2048 device certificate issued by the uploaded CA", iotda.ReasonOK,
		""},
	{VariantValidEd25519, "Ed25519 device certificate issued by the uploaded CA", iotda.ReasonOK,
		""},
	{VariantViaIntermediate, "device certificate issued by an intermediate CA under the uploaded CA; the device presents the intermediate", iotda.ReasonOK,
		""},
	{VariantRSA1024, "RSA 1024 device certificate issued by the uploaded CA (weak key): Go's x509 accepts it (it refuses only keys below 1024 bits), certlab's key policy (iotda.CheckKey: " + iotda.KeyPolicy + ") refuses it", iotda.ReasonBadChain,
		RemedyKeyPolicy},
	{VariantExpired, "device certificate whose NotAfter has passed", iotda.ReasonCertExpired,
		"issue a new device certificate and check the validity dates; also check the device clock"},
	{VariantNotYetValid, "device certificate whose NotBefore is in the future", iotda.ReasonCertNotYetValid,
		"check the device and issuer clocks, or wait until NotBefore; issue certificates with NotBefore slightly in the past"},
	{VariantWrongEKU, "device certificate whose ExtKeyUsage is serverAuth only", iotda.ReasonBadChain,
		"issue the device certificate with ExtKeyUsage clientAuth (or no ExtKeyUsage)"},
	{VariantSelfSigned, "self-signed device certificate", iotda.ReasonUnknownCA,
		"have the device certificate issued by a CA uploaded to (and verified in) the project"},
	{VariantUnknownCA, "device certificate issued by a CA that was never uploaded", iotda.ReasonUnknownCA,
		"upload the issuing CA to the project and verify it (proof of possession), or use a certificate issued by an uploaded CA"},
	{VariantIntermediateNotCA, "chain through an \"intermediate\" whose basicConstraints say CA:FALSE", iotda.ReasonBadChain,
		"reissue the intermediate with basicConstraints CA:TRUE and keyCertSign"},
	{VariantSHA1Signature, "device certificate signed by the CA with SHA-1 (SHA1WithRSA or ECDSAWithSHA1); Go refuses SHA-1 signatures in chains", iotda.ReasonBadChain,
		"reissue the device certificate with a SHA-256 (or stronger) signature"},
	{VariantMismatchedKey, "valid device certificate presented with a different private key: the chain verifies but the client's CertificateVerify signature does not (server: \"tls: invalid signature by the client certificate\", alert decrypt_error)", iotda.ReasonBadChain,
		"configure the device with the private key that belongs to its certificate"},
}

// Lookup returns the catalogue entry for v.
func Lookup(v Variant) (VariantCase, bool) {
	for _, c := range Catalogue {
		if c.Name == v {
			return c, true
		}
	}
	return VariantCase{}, false
}

// ParseVariant checks a variant name (flags, Gherkin steps).
func ParseVariant(s string) (Variant, error) {
	if _, ok := Lookup(Variant(s)); !ok {
		return "", fmt.Errorf("parse variant: unknown certificate variant %q", s)
	}
	return Variant(s), nil
}

// NewVariant issues a device certificate of the given variant with subject CN
// cn. "Issued by the CA" variants are signed by ca; unknown-ca is signed by a
// freshly made CA that nobody uploaded; self-signed by its own key. opts are
// applied before the variant's own settings, which win.
//
// The sha1-signature variant needs an RSA or ECDSA CA (SHA1WithRSA or
// ECDSAWithSHA1); Ed25519 CAs cannot sign with SHA-1.
func (ca *CA) NewVariant(v Variant, cn string, opts ...Option) (*Leaf, error) {
	leaf, err := ca.newVariant(v, cn, opts)
	if err != nil {
		return nil, fmt.Errorf("new %s variant %q: %w", v, cn, err)
	}
	return leaf, nil
}

func (ca *CA) newVariant(v Variant, cn string, opts []Option) (*Leaf, error) {
	with := func(extra ...Option) []Option { return append(append([]Option{}, opts...), extra...) }
	now := time.Now().UTC().Truncate(time.Second)
	switch v {
	case VariantValid:
		return ca.NewDeviceCert(cn, with(WithKeyType(ECDSAP256))...)
	case VariantValidP384:
		return ca.NewDeviceCert(cn, with(WithKeyType(ECDSAP384))...)
	case VariantValidRSA2048:
		return ca.NewDeviceCert(cn, with(WithKeyType(RSA2048))...)
	case VariantValidEd25519:
		return ca.NewDeviceCert(cn, with(WithKeyType(Ed25519))...)
	case VariantRSA1024:
		return ca.NewDeviceCert(cn, with(WithKeyType(RSA1024))...)
	case VariantExpired:
		return ca.NewDeviceCert(cn, with(WithValidity(now.Add(-366*24*time.Hour), now.Add(-24*time.Hour)))...)
	case VariantNotYetValid:
		return ca.NewDeviceCert(cn, with(WithValidity(now.Add(24*time.Hour), now.Add(2*365*24*time.Hour)))...)
	case VariantWrongEKU:
		return ca.NewDeviceCert(cn, with(WithExtKeyUsage(x509.ExtKeyUsageServerAuth))...)
	case VariantSelfSigned:
		self, err := NewRootCA(cn, with(WithIsCA(false), WithKeyUsage(x509.KeyUsageDigitalSignature),
			WithExtKeyUsage(x509.ExtKeyUsageClientAuth))...)
		if err != nil {
			return nil, err
		}
		return &Leaf{Cert: self.Cert, Key: self.Key}, nil
	case VariantUnknownCA:
		stranger, err := NewRootCA("certlab unknown CA (never uploaded)")
		if err != nil {
			return nil, err
		}
		return stranger.NewDeviceCert(cn, opts...)
	case VariantIntermediateNotCA:
		fake, err := ca.NewIntermediate(cn+" intermediate (CA:FALSE)", WithIsCA(false))
		if err != nil {
			return nil, err
		}
		return fake.NewDeviceCert(cn, opts...)
	case VariantViaIntermediate:
		inter, err := ca.NewIntermediate(cn + " intermediate")
		if err != nil {
			return nil, err
		}
		return inter.NewDeviceCert(cn, opts...)
	case VariantSHA1Signature:
		var alg x509.SignatureAlgorithm
		switch ca.Key.(type) {
		case *rsa.PrivateKey:
			alg = x509.SHA1WithRSA
		case *ecdsa.PrivateKey:
			alg = x509.ECDSAWithSHA1
		default:
			return nil, fmt.Errorf("a %s CA cannot sign with SHA-1; use an RSA or ECDSA CA", KeyDescription(ca.Key))
		}
		return ca.NewDeviceCert(cn, with(WithSignatureAlgorithm(alg))...)
	case VariantMismatchedKey:
		leaf, err := ca.NewDeviceCert(cn, opts...)
		if err != nil {
			return nil, err
		}
		other, err := GenerateKey(keyTypeOf(leaf.Key))
		if err != nil {
			return nil, err
		}
		leaf.Key = other // same algorithm, so the client can sign; the server cannot verify
		return leaf, nil
	default:
		return nil, fmt.Errorf("unknown certificate variant %q", v)
	}
}

// keyTypeOf returns the KeyType that generates keys like k.
func keyTypeOf(k any) KeyType {
	switch KeyDescription(k) {
	case "ECDSA P-384":
		return ECDSAP384
	case "ECDSA P-521":
		return ECDSAP521
	case "RSA 1024":
		return RSA1024
	case "RSA 2048":
		return RSA2048
	case "RSA 3072":
		return RSA3072
	case "RSA 4096":
		return RSA4096
	case "Ed25519":
		return Ed25519
	default:
		return ECDSAP256
	}
}
