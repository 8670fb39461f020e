package registry

import (
	"crypto/x509"
	"testing"

	"github.com/certlab/certlab/iotda"
	"github.com/certlab/certlab/sim/pki"
)

// [CA-VALID] Device CA keys must be within iotda.KeyPolicy; the refusal names
// the key. The 8192- and 16384-bit RSA CAs carry keys nobody holds (generating
// real ones takes minutes): the policy reads the key before any signature.
func TestAddCAKeyPolicy(t *testing.T) {
	r, _ := openTest(t, Options{})
	p := mustProject(t, r, "p")
	fakeRSA := func(bits int) *x509.Certificate {
		t.Helper()
		pub, err := pki.FakeRSAPublicKey(bits)
		if err != nil {
			t.Fatal(err)
		}
		c, err := pki.NewCACertForKey("fake RSA CA", pub)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	for _, tc := range []struct {
		name    string
		cert    *x509.Certificate
		wantKey string // "" = accepted
	}{
		{"RSA 1024", mustRootCA(t, "rsa1024", pki.WithKeyType(pki.RSA1024)).Cert, "RSA 1024-bit"},
		{"ECDSA P-224", mustRootCA(t, "p224", pki.WithKeyType(pki.ECDSAP224)).Cert, "ECDSA P-224"},
		{"RSA 8193", fakeRSA(8193), "RSA 8193-bit"},
		{"RSA 16384", fakeRSA(16384), "RSA 16384-bit"},
		{"RSA 2048", mustRootCA(t, "rsa2048", pki.WithKeyType(pki.RSA2048)).Cert, ""},
		{"RSA 8192", fakeRSA(8192), ""},
		{"ECDSA P-256", mustRootCA(t, "p256").Cert, ""},
		{"ECDSA P-384", mustRootCA(t, "p384", pki.WithKeyType(pki.ECDSAP384)).Cert, ""},
		{"ECDSA P-521", mustRootCA(t, "p521", pki.WithKeyType(pki.ECDSAP521)).Cert, ""},
		{"Ed25519", mustRootCA(t, "ed25519", pki.WithKeyType(pki.Ed25519)).Cert, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := r.AddCA(testCtx(t), p.ID, "", string(pki.CertPEM(tc.cert)))
			if tc.wantKey == "" {
				if err != nil {
					t.Fatalf("AddCA: %v, want accepted", err)
				}
				return
			}
			requireErr(t, err, ErrInvalidCert, tc.wantKey+" key: device CA keys must be "+iotda.KeyPolicy)
		})
	}
}
