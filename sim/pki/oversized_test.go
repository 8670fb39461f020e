package pki

import (
	"crypto/rsa"
	"crypto/x509"
	"testing"
)

func TestNewCACertForOversizedKey(t *testing.T) {
	pub, err := FakeRSAPublicKey(16384)
	if err != nil {
		t.Fatal(err)
	}
	if pub.N.BitLen() != 16384 || pub.N.Bit(0) != 1 {
		t.Fatalf("modulus of %d bits, odd=%v; want 16384 bits, odd", pub.N.BitLen(), pub.N.Bit(0) == 1)
	}
	c, err := NewCACertForKey("oversized", pub, WithOrganization("certlab test"))
	if err != nil {
		t.Fatal(err)
	}
	again, err := x509.ParseCertificate(c.Raw)
	if err != nil {
		t.Fatalf("the certificate does not parse: %v", err)
	}
	got, ok := again.PublicKey.(*rsa.PublicKey)
	if !ok || got.N.Cmp(pub.N) != 0 {
		t.Fatalf("certificate carries %s, want the fake RSA 16384 key", KeyDescription(again.PublicKey))
	}
	if !again.IsCA || again.KeyUsage&x509.KeyUsageCertSign == 0 || again.Subject.String() != again.Issuer.String() {
		t.Errorf("not a self-named CA certificate: IsCA=%v KeyUsage=%v subject %q issuer %q", again.IsCA, again.KeyUsage, again.Subject, again.Issuer)
	}
	if err := again.CheckSignatureFrom(again); err == nil {
		t.Error("the certificate verifies under the key it carries; nobody holds that key")
	}
}
