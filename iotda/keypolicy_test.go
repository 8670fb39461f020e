package iotda

import (
	"crypto/dsa" //nolint:staticcheck // only to name a DSA key in a refusal
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"errors"
	"fmt"
	"math/big"
	"testing"
	"time"
)

// rsaPublicKey is an RSA public key of exactly bits bits (no private key:
// the policy reads only the size).
func rsaPublicKey(bits int) *rsa.PublicKey {
	n := new(big.Int).Lsh(big.NewInt(1), uint(bits-1))
	return &rsa.PublicKey{N: n.Add(n, big.NewInt(1)), E: 65537}
}

func ecdsaPublicKey(t *testing.T, c elliptic.Curve) *ecdsa.PublicKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(c, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return &k.PublicKey
}

func TestCheckKey(t *testing.T) {
	edPub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name    string
		pub     any
		wantKey string // "" = within the policy
	}{
		{"RSA 1024", rsaPublicKey(1024), "RSA 1024-bit"},
		{"RSA 2047", rsaPublicKey(2047), "RSA 2047-bit"},
		{"RSA 2048", rsaPublicKey(2048), ""},
		{"RSA 8192", rsaPublicKey(8192), ""},
		{"RSA 8193", rsaPublicKey(8193), "RSA 8193-bit"},
		{"RSA 16384", rsaPublicKey(16384), "RSA 16384-bit"},
		{"ECDSA P-224", ecdsaPublicKey(t, elliptic.P224()), "ECDSA P-224"},
		{"ECDSA P-256", ecdsaPublicKey(t, elliptic.P256()), ""},
		{"ECDSA P-384", ecdsaPublicKey(t, elliptic.P384()), ""},
		{"ECDSA P-521", ecdsaPublicKey(t, elliptic.P521()), ""},
		{"Ed25519", edPub, ""},
		{"DSA", &dsa.PublicKey{Parameters: dsa.Parameters{P: rsaPublicKey(2048).N}}, "DSA 2048-bit"},
		{"no key", nil, "unknown"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := CheckKey(RoleDeviceCA, tc.pub)
			if tc.wantKey == "" {
				if err != nil {
					t.Fatalf("CheckKey: %v, want nil", err)
				}
				return
			}
			kpe, ok := errors.AsType[*KeyPolicyError](err)
			if !ok {
				t.Fatalf("CheckKey: %v, want a *KeyPolicyError", err)
			}
			want := tc.wantKey + " key: device CA keys must be RSA 2048..8192, ECDSA P-256/P-384/P-521 or Ed25519"
			if kpe.Key != tc.wantKey || err.Error() != want {
				t.Errorf("error %q (key %q), want %q", err, kpe.Key, want)
			}
			if got := ReasonForHandshakeError(fmt.Errorf("verify client certificate: %w", err), time.Time{}); got != ReasonBadChain {
				t.Errorf("ReasonForHandshakeError(%v) = %s, want bad_chain", err, got)
			}
		})
	}
}
