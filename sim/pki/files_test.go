package pki

import (
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func TestLeafFilesRoundTrip(t *testing.T) {
	ca := newCA(t, "certlab test device CA")
	leaf, err := ca.NewVariant(VariantViaIntermediate, "dev-1")
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "out")
	if err := leaf.WriteFiles(dir, "dev-1"); err != nil {
		t.Fatal(err)
	}
	requireMode(t, filepath.Join(dir, "dev-1"+KeySuffix), 0o600)
	requireMode(t, filepath.Join(dir, "dev-1"+CertSuffix), 0o644)

	got, err := LeafFromFiles(filepath.Join(dir, "dev-1.pem"), filepath.Join(dir, "dev-1.key"))
	if err != nil {
		t.Fatal(err)
	}
	if !got.Cert.Equal(leaf.Cert) || len(got.Chain) != 1 || !got.Chain[0].Equal(leaf.Chain[0]) {
		t.Fatalf("read back leaf + %d chain certs, want the leaf + its intermediate", len(got.Chain))
	}
	if !got.KeyMatches() {
		t.Fatal("read-back key does not match")
	}
	// What was written is what crypto/tls loads, and it verifies under the CA.
	if _, err := tls.LoadX509KeyPair(filepath.Join(dir, "dev-1.pem"), filepath.Join(dir, "dev-1.key")); err != nil {
		t.Fatalf("tls.LoadX509KeyPair: %v", err)
	}
	if err := verifyLeaf(ca, got, got.Cert.NotBefore.Add(1)); err != nil {
		t.Fatalf("read-back chain does not verify: %v", err)
	}
}

func TestCAFilesRoundTrip(t *testing.T) {
	root := newCA(t, "certlab root")
	inter, err := root.NewIntermediate("certlab issuing CA")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := inter.WriteFiles(dir, "ca"); err != nil {
		t.Fatal(err)
	}
	requireMode(t, filepath.Join(dir, "ca.key"), 0o600)
	got, err := CAFromFiles(filepath.Join(dir, "ca.pem"), filepath.Join(dir, "ca.key"))
	if err != nil {
		t.Fatal(err)
	}
	if !got.Cert.Equal(inter.Cert) || len(got.Chain) != len(inter.Chain) {
		t.Fatalf("read back CA with %d chain certs, want %d", len(got.Chain), len(inter.Chain))
	}
	// The CA read back still issues certificates that chain to the root.
	leaf, err := got.NewDeviceCert("dev-1")
	if err != nil {
		t.Fatal(err)
	}
	if err := verifyLeaf(root, leaf, leaf.Cert.NotBefore.Add(1)); err != nil {
		t.Fatalf("leaf from the read-back CA: %v", err)
	}

	// Refusals: a non-CA certificate, and a key that belongs to another certificate.
	dev, err := root.NewDeviceCert("dev-2")
	if err != nil {
		t.Fatal(err)
	}
	if err := dev.WriteFiles(dir, "dev-2"); err != nil {
		t.Fatal(err)
	}
	if _, err := CAFromFiles(filepath.Join(dir, "dev-2.pem"), filepath.Join(dir, "dev-2.key")); err == nil || !strings.Contains(err.Error(), "not a CA") {
		t.Errorf("CAFromFiles on a device certificate: %v, want 'not a CA'", err)
	}
	if _, err := CAFromFiles(filepath.Join(dir, "ca.pem"), filepath.Join(dir, "dev-2.key")); err == nil || !strings.Contains(err.Error(), "does not hold the key") {
		t.Errorf("CAFromFiles with a foreign key: %v, want a key mismatch", err)
	}
	if _, err := LeafFromFiles(filepath.Join(dir, "missing.pem"), filepath.Join(dir, "dev-2.key")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("LeafFromFiles on a missing file: %v", err)
	}
}

func requireMode(t *testing.T, path string, want os.FileMode) {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := fi.Mode().Perm(); got != want {
		t.Errorf("%s: mode %o, want %o", path, got, want)
	}
}

func TestParseKeyPEMEncodings(t *testing.T) {
	ec, err := GenerateKey(ECDSAP256)
	if err != nil {
		t.Fatal(err)
	}
	sec1, err := x509.MarshalECPrivateKey(ec.(*ecdsa.PrivateKey))
	if err != nil {
		t.Fatal(err)
	}
	rk, err := GenerateKey(RSA2048)
	if err != nil {
		t.Fatal(err)
	}
	pkcs8, err := KeyPEM(rk)
	if err != nil {
		t.Fatal(err)
	}
	block := func(typ string, der []byte, hdr map[string]string) []byte {
		return pem.EncodeToMemory(&pem.Block{Type: typ, Headers: hdr, Bytes: der})
	}
	ca := newCA(t, "ca")
	tests := []struct {
		name    string
		data    []byte
		wantKey string // KeyDescription, or "" for an error
		wantErr string
	}{
		{"PKCS#8", pkcs8, "RSA 2048", ""},
		{"PKCS#1", block("RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(rk.(*rsa.PrivateKey)), nil), "RSA 2048", ""},
		{"SEC 1 after openssl EC PARAMETERS", append(block("EC PARAMETERS", []byte{6, 8, 42, 134, 72, 206, 61, 3, 1, 7}, nil), block("EC PRIVATE KEY", sec1, nil)...), "ECDSA P-256", ""},
		{"certificate then key", append(CertPEM(ca.Cert), pkcs8...), "RSA 2048", ""},
		{"encrypted PKCS#8", block("ENCRYPTED PRIVATE KEY", []byte{1}, nil), "", "encrypted"},
		{"legacy encrypted PEM", block("EC PRIVATE KEY", []byte{1}, map[string]string{"Proc-Type": "4,ENCRYPTED", "DEK-Info": "AES-128-CBC,00"}), "", "encrypted"},
		{"certificate only", CertPEM(ca.Cert), "", "no PRIVATE KEY"},
		{"not PEM", []byte("hello"), "", "no PEM block"},
		{"garbage key", block("PRIVATE KEY", []byte{1, 2, 3}, nil), "", "unsupported"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			k, err := ParseKeyPEM(tc.data)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := KeyDescription(k); got != tc.wantKey {
				t.Errorf("key %s, want %s", got, tc.wantKey)
			}
		})
	}
}

func TestKeyDescription(t *testing.T) {
	tests := []struct {
		kt   KeyType
		want string
	}{
		{ECDSAP256, "ECDSA P-256"},
		{ECDSAP384, "ECDSA P-384"},
		{RSA2048, "RSA 2048"},
		{Ed25519, "Ed25519"},
	}
	for _, tc := range tests {
		t.Run(string(tc.kt), func(t *testing.T) {
			k, err := GenerateKey(tc.kt)
			if err != nil {
				t.Fatal(err)
			}
			if got := KeyDescription(k.Public()); got != tc.want {
				t.Errorf("public key: %q, want %q", got, tc.want)
			}
			if got := KeyDescription(k); got != tc.want {
				t.Errorf("private key: %q, want %q", got, tc.want)
			}
			if got := keyTypeOf(k); got != tc.kt {
				t.Errorf("keyTypeOf = %q, want %q", got, tc.kt)
			}
		})
	}
	if got := KeyDescription(nil); got != "none" {
		t.Errorf("nil: %q", got)
	}
	if got := KeyDescription("x"); !strings.HasPrefix(got, "unknown") {
		t.Errorf("string: %q", got)
	}
}

// TestLeafFromOpenSSLFormats reads a device identity that openssl turned
// into DER files and into a PKCS#12 file (OpenSSL 3's default AES/PBKDF2
// encryption), as a vendor's tooling would hand it over.
func TestLeafFromOpenSSLFormats(t *testing.T) {
	openssl, err := exec.LookPath("openssl")
	if err != nil {
		t.Skip("no openssl on PATH")
	}
	ca := newCA(t, "certlab test device CA")
	leaf, err := ca.NewVariant(VariantViaIntermediate, "dev-der")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := leaf.WriteFiles(dir, "dev"); err != nil {
		t.Fatal(err)
	}
	pemCert, pemKey := filepath.Join(dir, "dev.pem"), filepath.Join(dir, "dev.key")
	if err := os.WriteFile(filepath.Join(dir, "chain.pem"), CertPEM(leaf.Chain[0]), 0o644); err != nil {
		t.Fatal(err)
	}
	run := func(args ...string) {
		t.Helper()
		out, err := exec.CommandContext(t.Context(), openssl, args...).CombinedOutput()
		if err != nil {
			t.Fatalf("openssl %v: %v\n%s", args, err, out)
		}
	}
	run("x509", "-in", pemCert, "-outform", "DER", "-out", filepath.Join(dir, "dev.der"))
	run("pkey", "-in", pemKey, "-outform", "DER", "-out", filepath.Join(dir, "dev.key.der"))
	run("pkcs12", "-export", "-in", pemCert, "-inkey", pemKey, "-certfile", filepath.Join(dir, "chain.pem"),
		"-out", filepath.Join(dir, "dev.p12"), "-passout", "pass:s3cret")

	der, err := LeafFromFiles(filepath.Join(dir, "dev.der"), filepath.Join(dir, "dev.key.der"))
	if err != nil {
		t.Fatalf("DER files: %v", err)
	}
	if !der.Cert.Equal(leaf.Cert) || !der.KeyMatches() {
		t.Error("DER files: not the device's certificate and key")
	}
	p12, err := LeafFromPKCS12(filepath.Join(dir, "dev.p12"), "s3cret")
	if err != nil {
		t.Fatalf("PKCS#12: %v", err)
	}
	if !p12.Cert.Equal(leaf.Cert) || !p12.KeyMatches() || len(p12.Chain) != 1 || !p12.Chain[0].Equal(leaf.Chain[0]) {
		t.Errorf("PKCS#12: got the leaf %v, key match %v, %d chain certificates; want the leaf, its key and the intermediate",
			p12.Cert.Equal(leaf.Cert), p12.KeyMatches(), len(p12.Chain))
	}
	if _, err := LeafFromPKCS12(filepath.Join(dir, "dev.p12"), "wrong"); err == nil || !strings.Contains(err.Error(), "wrong password") {
		t.Errorf("PKCS#12 with a wrong password: %v", err)
	}
	if _, err := LeafFromFiles(filepath.Join(dir, "dev.p12"), pemKey); err == nil || !strings.Contains(err.Error(), "neither PEM nor DER") {
		t.Errorf("a .p12 given as a certificate file: %v", err)
	}
}
