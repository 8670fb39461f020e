package broker

import (
	"crypto/tls"
	"strings"
	"testing"

	"github.com/certlab/certlab/iotda"
	"github.com/certlab/certlab/sim/pki"
)

// [LOGIN-TLS] Chains with a key outside the key policy are refused in the
// TLS handshake with bad_chain, and the attempt says which certificate and
// which key: a weak device key, a weak intermediate, a weak CA already in
// the registry (uploaded before the policy), and an RSA key over 8192 bits
// in the presented chain (which Go's TLS stack refuses before verification).
func TestKeyPolicyAtLogin(t *testing.T) {
	d := newDir(t)
	b := startBroker(t, d, nil)
	f := getFixture(t)
	must := func(l *pki.Leaf, err error) *pki.Leaf {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return l
	}
	weakInt, err := f.caA.NewIntermediate("Weak intermediate", pki.WithKeyType(pki.RSA1024))
	if err != nil {
		t.Fatal(err)
	}
	weakCA, err := pki.NewRootCA("Weak legacy CA", pki.WithKeyType(pki.RSA1024))
	if err != nil {
		t.Fatal(err)
	}
	d.addCA(projectA, "ca-weak", weakCA.Cert, true) // as if uploaded before the policy
	bigKey, err := pki.FakeRSAPublicKey(16384)
	if err != nil {
		t.Fatal(err)
	}
	bigCert, err := pki.NewCACertForKey("Oversized intermediate", bigKey)
	if err != nil {
		t.Fatal(err)
	}
	oversized := must(f.caA.NewDeviceCert("k4"))
	oversized.Chain = append(oversized.Chain, bigCert) // presented with the device certificate

	for _, tc := range []struct {
		name   string
		leaf   *pki.Leaf
		detail []string
	}{
		{"RSA 1024 device key", must(f.caA.NewDeviceCert("k1", pki.WithKeyType(pki.RSA1024))),
			[]string{"device certificate", "CN=k1", "RSA 1024-bit key", iotda.KeyPolicy}},
		{"RSA 1024 intermediate", must(weakInt.NewDeviceCert("k2")),
			[]string{"intermediate CA", "Weak intermediate", "RSA 1024-bit key"}},
		{"RSA 1024 device CA", must(weakCA.NewDeviceCert("k3")),
			[]string{"device CA", "Weak legacy CA", "RSA 1024-bit key"}},
		{"RSA 16384 in the chain", oversized,
			[]string{"RSA key over 8192 bits", "larger than 8192 bits", iotda.KeyPolicy}},
	} {
		for _, version := range []uint16{tls.VersionTLS12, tls.VersionTLS13} {
			t.Run(tc.name+"/"+tls.VersionName(version), func(t *testing.T) {
				if refused, err := probeRefused(t, b.Addr(), tlsConfig(t, tc.leaf, version)); !refused {
					t.Fatalf("handshake accepted (%v)", err)
				}
				var a iotda.LoginAttempt
				eventually(t, "the bad_chain attempt", func() bool {
					for _, x := range b.LoginAttempts("", string(iotda.ReasonBadChain), 50) {
						// Go refuses the oversized chain before our verifier sees a certificate: no fingerprint.
						same := x.CertSHA256 == tc.leaf.FingerprintSHA256() || (x.CertSHA256 == "" && strings.Contains(x.Detail, "8192 bits"))
						if same && x.TLSVersion == tls.VersionName(version) {
							a = x
							return true
						}
					}
					return false
				})
				if a.Stage != iotda.StageTLS || a.Outcome != "refused" {
					t.Errorf("attempt %+v", a)
				}
				for _, want := range tc.detail {
					if !strings.Contains(a.Detail, want) {
						t.Errorf("detail %q does not say %q", a.Detail, want)
					}
				}
			})
		}
	}
}
