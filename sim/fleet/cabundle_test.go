package fleet

import (
	"crypto/x509"
	"testing"

	"github.com/certlab/certlab/sim/pki"
)

// TestCABundlePEM: the bundle holds every device CA of the fleet, and a pool
// made of it alone verifies every device certificate.
func TestCABundlePEM(t *testing.T) {
	f := mintFleet(t, t.TempDir(), Spec{Devices: 6, CAs: 3, KeyType: pki.ECDSAP256})
	certs, err := pki.ParseCertsPEM(f.CABundlePEM())
	if err != nil {
		t.Fatal(err)
	}
	if len(certs) != 3 {
		t.Fatalf("bundle holds %d certificates, want the fleet's 3 CAs", len(certs))
	}
	pool := x509.NewCertPool()
	for c, cert := range certs {
		if !cert.Equal(f.CA(c).Cert) {
			t.Errorf("bundle certificate %d is %s, want CA %d", c, cert.Subject, c)
		}
		pool.AddCert(cert)
	}
	for id, err := range f.All() {
		if err != nil {
			t.Fatal(err)
		}
		if _, err := id.Leaf.Cert.Verify(x509.VerifyOptions{Roots: pool, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
			t.Errorf("device %d does not verify against the bundle: %v", id.Index, err)
		}
	}
}
