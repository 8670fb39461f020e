package iotda

// keypolicy.go: certlab's key policy for device CAs and the certificates of
// device chains (README "Key policy"). IoTDA documents none; certlab states
// this one and every part applies it from here: the platform at CA upload
// ([CA-VALID], IOTDA.014301) and at login (bad_chain), `certlab check`.
//
// Allowed: RSA of 2048 to 8192 bits (below is weak; above costs every
// verification dearly, and Go's TLS stack refuses client chains with RSA
// keys over 8192 bits anyway), ECDSA on P-256, P-384 or P-521 (the curves
// TLS signature schemes name), and Ed25519 (crypto/x509 and crypto/tls
// verify it in certificates and in TLS 1.2 and 1.3).

import (
	"crypto/dsa" //nolint:staticcheck // only to name a DSA key in a refusal
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"fmt"
)

// RSA key size bounds of the key policy, in bits.
const (
	MinRSAKeyBits = 2048
	MaxRSAKeyBits = 8192
)

// KeyPolicy states the allowed keys, as refusals quote it.
const KeyPolicy = "RSA 2048..8192, ECDSA P-256/P-384/P-521 or Ed25519"

// Roles of a certificate in a device chain, as refusals name them.
const (
	RoleDeviceCA       = "device CA"
	RoleIntermediateCA = "intermediate CA"
	RoleDeviceCert     = "device certificate"
)

// KeyPolicyError is a key outside the policy.
type KeyPolicyError struct {
	Role string // RoleDeviceCA, RoleIntermediateCA or RoleDeviceCert
	Key  string // e.g. "RSA 1024-bit", "ECDSA P-224" (KeyName)
}

// Error reads "RSA 1024-bit key: device CA keys must be RSA 2048..8192, ECDSA P-256/P-384/P-521 or Ed25519".
func (e *KeyPolicyError) Error() string {
	return fmt.Sprintf("%s key: %s keys must be %s", e.Key, e.Role, KeyPolicy)
}

// CheckKey returns a *KeyPolicyError when pub (a certificate's PublicKey)
// is outside the key policy, else nil. role names the certificate's role.
func CheckKey(role string, pub any) error {
	switch k := pub.(type) {
	case *rsa.PublicKey:
		if k.N == nil {
			break
		}
		if bits := k.N.BitLen(); bits >= MinRSAKeyBits && bits <= MaxRSAKeyBits {
			return nil
		}
	case *ecdsa.PublicKey:
		if k.Curve == nil {
			break
		}
		switch k.Curve.Params().Name {
		case "P-256", "P-384", "P-521":
			return nil
		}
	case ed25519.PublicKey:
		return nil
	}
	return &KeyPolicyError{Role: role, Key: KeyName(pub)}
}

// KeyName names a public key the way refusals quote it: "RSA 2048-bit",
// "ECDSA P-256", "Ed25519", "DSA 1024-bit".
func KeyName(pub any) string {
	switch k := pub.(type) {
	case *rsa.PublicKey:
		if k.N == nil {
			return "RSA"
		}
		return fmt.Sprintf("RSA %d-bit", k.N.BitLen())
	case *ecdsa.PublicKey:
		if k.Curve == nil {
			return "ECDSA"
		}
		return "ECDSA " + k.Curve.Params().Name
	case ed25519.PublicKey:
		return "Ed25519"
	case *dsa.PublicKey:
		if k.P == nil {
			return "DSA"
		}
		return fmt.Sprintf("DSA %d-bit", k.P.BitLen())
	case nil:
		return "unknown"
	}
	return fmt.Sprintf("%T", pub)
}
