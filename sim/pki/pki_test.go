package pki

import (
	"crypto/x509"
	"testing"
	"time"
)

func TestChainVerifiesThroughIntermediate(t *testing.T) {
	root, err := NewRootCA("root")
	if err != nil {
		t.Fatal(err)
	}
	inter, err := root.NewIntermediate("inter")
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := inter.NewDeviceCert("dev-1")
	if err != nil {
		t.Fatal(err)
	}
	if len(leaf.Chain) != 1 || leaf.Chain[0] != inter.Cert {
		t.Fatalf("leaf chain = %d certs, want the intermediate only", len(leaf.Chain))
	}
	roots := x509.NewCertPool()
	roots.AddCert(root.Cert)
	inters := x509.NewCertPool()
	for _, c := range leaf.Chain {
		inters.AddCert(c)
	}
	if _, err := leaf.Cert.Verify(x509.VerifyOptions{Roots: roots, Intermediates: inters,
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}, CurrentTime: time.Now()}); err != nil {
		t.Fatalf("verify: %v", err)
	}
	if got := len(leaf.FingerprintSHA256()); got != 64 {
		t.Errorf("sha256 fingerprint has %d digits, want 64", got)
	}
	if got := len(leaf.FingerprintSHA1()); got != 40 {
		t.Errorf("sha1 fingerprint has %d digits, want 40", got)
	}
}

func TestVerificationCertCarriesVerifyCode(t *testing.T) {
	root, err := NewRootCA("root")
	if err != nil {
		t.Fatal(err)
	}
	v, err := root.NewVerificationCert("2c8b5905-b34a-4b64-8112-f6c047ae065c")
	if err != nil {
		t.Fatal(err)
	}
	if v.Cert.Subject.CommonName != "2c8b5905-b34a-4b64-8112-f6c047ae065c" {
		t.Errorf("CN = %q", v.Cert.Subject.CommonName)
	}
	if err := v.Cert.CheckSignatureFrom(root.Cert); err != nil {
		t.Errorf("not signed by the CA: %v", err)
	}
}
