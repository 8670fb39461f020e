package pki

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/certlab/certlab/iotda"
)

// verifyCheck asserts the raw error Go's x509 Verify returned for a variant,
// so the catalogue's claims about Go are pinned, not only our classification.
type verifyCheck func(t *testing.T, err error)

func verifies(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("x509 Verify: %v, want success", err)
	}
}

func invalidBecause(reason x509.InvalidReason, detail string) verifyCheck {
	return func(t *testing.T, err error) {
		t.Helper()
		inv, ok := errors.AsType[x509.CertificateInvalidError](err)
		if !ok {
			t.Fatalf("x509 Verify: %v (%T), want CertificateInvalidError", err, err)
		}
		if inv.Reason != reason || !strings.Contains(inv.Detail, detail) {
			t.Fatalf("x509 Verify: reason %d detail %q, want reason %d detail containing %q", inv.Reason, inv.Detail, reason, detail)
		}
	}
}

// unknownAuthority checks for UnknownAuthorityError; hint is the expected
// "(possibly because of ...)" text, or "" for none.
func unknownAuthority(hint string) verifyCheck {
	return func(t *testing.T, err error) {
		t.Helper()
		ua, ok := errors.AsType[x509.UnknownAuthorityError](err)
		if !ok {
			t.Fatalf("x509 Verify: %v (%T), want UnknownAuthorityError", err, err)
		}
		msg := ua.Error()
		if hint == "" && strings.Contains(msg, "possibly because of") {
			t.Fatalf("x509 Verify: %q, want no candidate issuer hint", msg)
		}
		if hint != "" && !strings.Contains(msg, hint) {
			t.Fatalf("x509 Verify: %q, want hint containing %q", msg, hint)
		}
	}
}

// goVerify is what the catalogue claims Go's x509 Verify does per variant.
// The SHA-1 hint names the algorithm matching the CA key ("SHA1-RSA" or "ECDSA-SHA1").
func goVerify(sha1Alg string) map[Variant]verifyCheck {
	return map[Variant]verifyCheck{
		VariantValid:             verifies,
		VariantValidP384:         verifies,
		VariantValidRSA2048:      verifies,
		VariantValidEd25519:      verifies,
		VariantViaIntermediate:   verifies,
		VariantRSA1024:           verifies, // Go refuses only RSA keys below 1024 bits; the key policy refuses it
		VariantMismatchedKey:     verifies, // the chain is fine; the handshake is not
		VariantExpired:           invalidBecause(x509.Expired, " is after "),
		VariantNotYetValid:       invalidBecause(x509.Expired, " is before "),
		VariantWrongEKU:          invalidBecause(x509.IncompatibleUsage, ""),
		VariantSelfSigned:        unknownAuthority(""),
		VariantUnknownCA:         unknownAuthority(""),
		VariantIntermediateNotCA: unknownAuthority("parent certificate cannot sign this kind of certificate"),
		VariantSHA1Signature:     unknownAuthority("insecure algorithm " + sha1Alg),
	}
}

func newCA(t *testing.T, cn string, opts ...Option) *CA {
	t.Helper()
	ca, err := NewRootCA(cn, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return ca
}

func poolOf(certs ...*x509.Certificate) *x509.CertPool {
	p := x509.NewCertPool()
	for _, c := range certs {
		p.AddCert(c)
	}
	return p
}

// verifyLeaf runs x509 Verify the way a platform does: the CA as the only
// root, the presented chain as intermediates, clientAuth.
func verifyLeaf(ca *CA, leaf *Leaf, at time.Time) error {
	_, err := leaf.Cert.Verify(x509.VerifyOptions{
		Roots:         poolOf(ca.Cert),
		Intermediates: poolOf(leaf.Chain...),
		KeyUsages:     []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
		CurrentTime:   at,
	})
	return err
}

// handshakeResult is what each side of one mutual-TLS handshake saw.
type handshakeResult struct {
	server error // the server's Handshake error
	client error // the client's Dial error, or its error reading the server's first byte
}

// serverMode is how the test server asks for and checks client certificates.
type serverMode string

const (
	// verifyInTLS is tls.RequireAndVerifyClientCert with ClientCAs: Go
	// verifies, and sends the CA names in its CertificateRequest.
	verifyInTLS serverMode = "RequireAndVerifyClientCert"
	// verifyInCallback is tls.RequireAnyClientCert plus x509 Verify in
	// VerifyPeerCertificate (wrapping the error with %w): no CA names are
	// sent, as the design asks of the platform.
	verifyInCallback serverMode = "VerifyPeerCertificate"
)

// clientMode is how the test client offers its certificate.
type clientMode string

const (
	// presentAlways answers every CertificateRequest with the certificate,
	// as a device with one configured identity does.
	presentAlways clientMode = "GetClientCertificate"
	// goDefault uses tls.Config.Certificates: Go's client sends nothing when
	// the server's CA names do not include the certificate's issuer.
	goDefault clientMode = "Certificates"
)

// mtlsHandshake performs one real mutual-TLS handshake on 127.0.0.1: the
// server requires a client certificate and verifies it against clientCAs; on
// success it writes one byte, which the client must read (in TLS 1.3 the
// client finishes before the server has checked its certificate).
func mtlsHandshake(t *testing.T, clientCAs *x509.CertPool, sm serverMode, client *tls.Certificate, cm clientMode, version uint16) handshakeResult {
	t.Helper()
	srvCA := serverCA(t)
	srvLeaf, err := srvCA.NewServerCert("localhost", []string{"localhost"})
	if err != nil {
		t.Fatal(err)
	}
	srvConf := &tls.Config{
		Certificates: []tls.Certificate{srvLeaf.TLSCertificate()},
		MinVersion:   version,
		MaxVersion:   version,
	}
	switch sm {
	case verifyInTLS:
		srvConf.ClientAuth = tls.RequireAndVerifyClientCert
		srvConf.ClientCAs = clientCAs
		srvConf.VerifyConnection = func(cs tls.ConnectionState) error { return keyPolicy(cs.VerifiedChains) }
	case verifyInCallback:
		srvConf.ClientAuth = tls.RequireAnyClientCert
		srvConf.VerifyPeerCertificate = func(raw [][]byte, _ [][]*x509.Certificate) error {
			certs := make([]*x509.Certificate, len(raw))
			for i, der := range raw {
				c, err := x509.ParseCertificate(der)
				if err != nil {
					return fmt.Errorf("parse client certificate: %w", err)
				}
				certs[i] = c
			}
			chains, err := certs[0].Verify(x509.VerifyOptions{Roots: clientCAs, Intermediates: poolOf(certs[1:]...),
				KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}})
			if err != nil {
				return fmt.Errorf("verify client certificate: %w", err)
			}
			return keyPolicy(chains)
		}
	}
	cliConf := &tls.Config{
		RootCAs:    poolOf(srvCA.Cert),
		ServerName: "localhost",
		MinVersion: version,
		MaxVersion: version,
	}
	if client != nil {
		switch cm {
		case presentAlways:
			cliConf.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return client, nil }
		case goDefault:
			cliConf.Certificates = []tls.Certificate{*client}
		}
	}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	serverErr := make(chan error, 1)
	go func() {
		conn, err := ln.Accept()
		if err != nil {
			serverErr <- err
			return
		}
		defer conn.Close()
		_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
		tc := tls.Server(conn, srvConf)
		err = tc.HandshakeContext(ctx)
		if err == nil {
			_, err = tc.Write([]byte{1})
		}
		serverErr <- err
	}()
	var res handshakeResult
	d := tls.Dialer{Config: cliConf}
	conn, err := d.DialContext(ctx, "tcp", ln.Addr().String())
	if err == nil {
		_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
		_, err = io.ReadFull(conn, make([]byte, 1))
		conn.Close()
	}
	res.client = err
	select {
	case res.server = <-serverErr:
	case <-ctx.Done():
		t.Fatal("server handshake did not finish")
	}
	return res
}

// keyPolicy applies certlab's key policy to verified chains the way the
// platform does: some chain must have every key within iotda.KeyPolicy.
func keyPolicy(chains [][]*x509.Certificate) error {
	var first error
	for _, chain := range chains {
		var err error
		for _, c := range chain {
			if err = iotda.CheckKey(iotda.RoleDeviceCert, c.PublicKey); err != nil {
				break
			}
		}
		if err == nil {
			return nil
		}
		if first == nil {
			first = fmt.Errorf("key policy: %w", err)
		}
	}
	return first
}

var sharedServerCA = sync.OnceValues(func() (*CA, error) { return NewRootCA("certlab test server CA") })

// serverCA is the CA of the test TLS servers, shared by all tests.
func serverCA(t *testing.T) *CA {
	t.Helper()
	ca, err := sharedServerCA()
	if err != nil {
		t.Fatal(err)
	}
	return ca
}

func TestCatalogueIsComplete(t *testing.T) {
	seen := map[Variant]bool{}
	for _, c := range Catalogue {
		if seen[c.Name] {
			t.Errorf("variant %q listed twice", c.Name)
		}
		seen[c.Name] = true
		if c.Desc == "" {
			t.Errorf("variant %q has no description", c.Name)
		}
		if c.WantReason != iotda.ReasonOK {
			if r, ok := iotda.RefusalFor(c.WantReason); !ok || r.Stage != iotda.StageTLS {
				t.Errorf("variant %q: reason %q is not a TLS-stage refusal of the table", c.Name, c.WantReason)
			}
			if c.Remedy == "" {
				t.Errorf("variant %q is refused but has no remedy", c.Name)
			}
		}
		if got, err := ParseVariant(string(c.Name)); err != nil || got != c.Name {
			t.Errorf("ParseVariant(%q) = %q, %v", c.Name, got, err)
		}
	}
	for v := range goVerify("") {
		if !seen[v] {
			t.Errorf("test expectation for %q which the catalogue lacks", v)
		}
	}
	if len(seen) != len(goVerify("")) {
		t.Errorf("catalogue has %d variants, tests pin %d", len(seen), len(goVerify("")))
	}
	if _, err := ParseVariant("revoked"); err == nil {
		t.Error("ParseVariant accepted an unknown variant")
	}
}

// TestCatalogueAgainstGo proves every WantReason: for CAs of two key types,
// each variant is checked with x509 Verify (raw Go error and its
// classification) and with real mutual-TLS handshakes (TLS 1.2 and 1.3).
func TestCatalogueAgainstGo(t *testing.T) {
	for _, caKey := range []struct {
		kt      KeyType
		sha1Alg string
	}{{ECDSAP256, "ECDSA-SHA1"}, {RSA2048, "SHA1-RSA"}} {
		ca := newCA(t, "certlab test device CA "+string(caKey.kt), WithKeyType(caKey.kt))
		checks := goVerify(caKey.sha1Alg)
		for _, vc := range Catalogue {
			t.Run(string(caKey.kt)+"/"+string(vc.Name), func(t *testing.T) {
				t.Parallel()
				leaf, err := ca.NewVariant(vc.Name, "dev-"+string(vc.Name))
				if err != nil {
					t.Fatal(err)
				}
				now := time.Now()
				err = verifyLeaf(ca, leaf, now)
				checks[vc.Name](t, err)
				wantVerify := vc.WantReason
				switch vc.Name {
				case VariantMismatchedKey:
					wantVerify = iotda.ReasonOK // only the handshake catches it
				case VariantRSA1024:
					wantVerify = iotda.ReasonOK // only the key policy catches it
					if err := keyPolicy([][]*x509.Certificate{{leaf.Cert, ca.Cert}}); iotda.ReasonForHandshakeError(err, now) != iotda.ReasonBadChain {
						t.Errorf("key policy on an RSA 1024 leaf: %v, want a bad_chain refusal", err)
					}
				}
				if got := iotda.ReasonForVerifyError(err, now); got != wantVerify {
					t.Errorf("iotda.ReasonForVerifyError(%v) = %q, want %q", err, got, wantVerify)
				}

				cert := leaf.TLSCertificate()
				for _, sm := range []serverMode{verifyInTLS, verifyInCallback} {
					for _, version := range []uint16{tls.VersionTLS12, tls.VersionTLS13} {
						res := mtlsHandshake(t, poolOf(ca.Cert), sm, &cert, presentAlways, version)
						got := iotda.ReasonForHandshakeError(res.server, time.Now())
						if got != vc.WantReason {
							t.Errorf("%s %s: server handshake error %v classified %q, want %q", sm, tls.VersionName(version), res.server, got, vc.WantReason)
						}
						if (vc.WantReason == iotda.ReasonOK) != (res.client == nil) {
							t.Errorf("%s %s: client saw %v, want success=%v", sm, tls.VersionName(version), res.client, vc.WantReason == iotda.ReasonOK)
						}
					}
				}
			})
		}
	}
}

func TestVariantDetails(t *testing.T) {
	ca := newCA(t, "certlab test device CA")
	mk := func(v Variant) *Leaf {
		t.Helper()
		l, err := ca.NewVariant(v, "dev-1")
		if err != nil {
			t.Fatal(err)
		}
		return l
	}
	tests := []struct {
		v     Variant
		check func(t *testing.T, l *Leaf)
	}{
		{VariantValid, func(t *testing.T, l *Leaf) {
			if got := KeyDescription(l.Cert.PublicKey); got != "ECDSA P-256" {
				t.Errorf("key %s", got)
			}
			if len(l.Chain) != 0 || l.Cert.Subject.CommonName != "dev-1" {
				t.Errorf("chain %d CN %q", len(l.Chain), l.Cert.Subject.CommonName)
			}
		}},
		{VariantValidP384, func(t *testing.T, l *Leaf) { wantKey(t, l, "ECDSA P-384") }},
		{VariantValidRSA2048, func(t *testing.T, l *Leaf) { wantKey(t, l, "RSA 2048") }},
		{VariantValidEd25519, func(t *testing.T, l *Leaf) { wantKey(t, l, "Ed25519") }},
		{VariantRSA1024, func(t *testing.T, l *Leaf) { wantKey(t, l, "RSA 1024") }},
		{VariantSHA1Signature, func(t *testing.T, l *Leaf) {
			if l.Cert.SignatureAlgorithm != x509.ECDSAWithSHA1 {
				t.Errorf("signature algorithm %v", l.Cert.SignatureAlgorithm)
			}
		}},
		{VariantMismatchedKey, func(t *testing.T, l *Leaf) {
			if l.KeyMatches() {
				t.Error("key matches the certificate")
			}
			if _, err := tls.X509KeyPair(l.CertPEM(), mustKeyPEM(t, l)); err == nil {
				t.Error("tls.X509KeyPair accepted the mismatched pair")
			}
		}},
		{VariantViaIntermediate, func(t *testing.T, l *Leaf) {
			if len(l.Chain) != 1 || !l.Chain[0].IsCA || l.Chain[0].CheckSignatureFrom(ca.Cert) != nil {
				t.Errorf("chain is not one intermediate signed by the CA")
			}
		}},
		{VariantIntermediateNotCA, func(t *testing.T, l *Leaf) {
			if len(l.Chain) != 1 || l.Chain[0].IsCA {
				t.Errorf("chain is not one CA:FALSE intermediate")
			}
		}},
		{VariantSelfSigned, func(t *testing.T, l *Leaf) {
			if l.Cert.CheckSignatureFrom(l.Cert) == nil || l.Cert.CheckSignature(l.Cert.SignatureAlgorithm, l.Cert.RawTBSCertificate, l.Cert.Signature) != nil {
				t.Errorf("not self-signed by a non-CA")
			}
			if !l.KeyMatches() {
				t.Error("key does not match")
			}
		}},
		{VariantUnknownCA, func(t *testing.T, l *Leaf) {
			if l.Cert.CheckSignatureFrom(ca.Cert) == nil {
				t.Error("signed by the known CA")
			}
		}},
	}
	for _, tc := range tests {
		t.Run(string(tc.v), func(t *testing.T) {
			l := mk(tc.v)
			tc.check(t, l)
			if tc.v != VariantSelfSigned && tc.v != VariantMismatchedKey && !l.KeyMatches() {
				t.Error("key does not match the certificate")
			}
		})
	}
	if _, err := ca.NewVariant("revoked", "dev-1"); err == nil {
		t.Error("NewVariant accepted an unknown variant")
	}
	edCA := newCA(t, "ed25519 CA", WithKeyType(Ed25519))
	if _, err := edCA.NewVariant(VariantSHA1Signature, "dev-1"); err == nil || !strings.Contains(err.Error(), "SHA-1") {
		t.Errorf("SHA-1 variant from an Ed25519 CA: %v, want an error naming SHA-1", err)
	}
}

func wantKey(t *testing.T, l *Leaf, want string) {
	t.Helper()
	if got := KeyDescription(l.Cert.PublicKey); got != want {
		t.Errorf("key %s, want %s", got, want)
	}
}

func mustKeyPEM(t *testing.T, l *Leaf) []byte {
	t.Helper()
	b, err := l.KeyPEM()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestReasonForExpiredIssuer covers a chain problem Go reports only as a hint:
// a valid leaf under an expired (or not yet valid) CA.
func TestReasonForExpiredIssuer(t *testing.T) {
	now := time.Now().UTC().Truncate(time.Second)
	tests := []struct {
		name     string
		from, to time.Time
		want     iotda.Reason
	}{
		{"expired CA", now.Add(-48 * time.Hour), now.Add(-24 * time.Hour), iotda.ReasonCertExpired},
		{"future CA", now.Add(24 * time.Hour), now.Add(48 * time.Hour), iotda.ReasonCertNotYetValid},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ca := newCA(t, "CA "+tc.name, WithValidity(tc.from, tc.to))
			leaf, err := ca.NewDeviceCert("dev-1")
			if err != nil {
				t.Fatal(err)
			}
			err = verifyLeaf(ca, leaf, now)
			if got := iotda.ReasonForVerifyError(err, now); got != tc.want {
				t.Errorf("iotda.ReasonForVerifyError(%v) = %q, want %q", err, got, tc.want)
			}
		})
	}
}

// TestReasonForHandshakeWithoutCertificate covers the non-variant handshake
// outcomes: no client certificate, and a client that does not speak TLS.
func TestReasonForHandshakeWithoutCertificate(t *testing.T) {
	ca := newCA(t, "certlab test device CA")
	for _, sm := range []serverMode{verifyInTLS, verifyInCallback} {
		for _, version := range []uint16{tls.VersionTLS12, tls.VersionTLS13} {
			res := mtlsHandshake(t, poolOf(ca.Cert), sm, nil, presentAlways, version)
			if got := iotda.ReasonForHandshakeError(res.server, time.Now()); got != iotda.ReasonNoClientCert {
				t.Errorf("%s %s: %v classified %q, want no_client_cert", sm, tls.VersionName(version), res.server, got)
			}
		}
	}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	srvLeaf, err := serverCA(t).NewServerCert("localhost", []string{"localhost"})
	if err != nil {
		t.Fatal(err)
	}
	errc := make(chan error, 1)
	go func() {
		conn, err := ln.Accept()
		if err != nil {
			errc <- err
			return
		}
		defer conn.Close()
		_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
		errc <- tls.Server(conn, &tls.Config{Certificates: []tls.Certificate{srvLeaf.TLSCertificate()},
			ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: poolOf(ca.Cert)}).Handshake()
	}()
	conn, err := net.DialTimeout("tcp", ln.Addr().String(), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = conn.Write([]byte("CONNECT not-tls\r\n\r\n"))
	defer conn.Close()
	select {
	case err := <-errc:
		if got := iotda.ReasonForHandshakeError(err, time.Now()); got != iotda.ReasonTLSHandshake {
			t.Errorf("plain-text client: %v classified %q, want tls_handshake", err, got)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("server did not finish")
	}
	if got := iotda.ReasonForHandshakeError(nil, time.Time{}); got != iotda.ReasonOK {
		t.Errorf("nil error classified %q", got)
	}
}

// TestGoClientWithholdsCertificateOfUnlistedCA pins a Go client trap: with
// tls.Config.Certificates, a Go client sends no certificate at all when the
// server's CertificateRequest lists CA names that do not include the
// certificate's issuer, so the server sees no_client_cert instead of
// unknown_ca. Clients that must show the server their certificate (load
// generator, `certlab check`, bad-variant BDD steps) use GetClientCertificate.
func TestGoClientWithholdsCertificateOfUnlistedCA(t *testing.T) {
	ca := newCA(t, "certlab test device CA")
	leaf, err := ca.NewVariant(VariantUnknownCA, "dev-1")
	if err != nil {
		t.Fatal(err)
	}
	cert := leaf.TLSCertificate()
	tests := []struct {
		sm   serverMode
		cm   clientMode
		want iotda.Reason
	}{
		{verifyInTLS, goDefault, iotda.ReasonNoClientCert}, // CA names sent; Go client withholds
		{verifyInTLS, presentAlways, iotda.ReasonUnknownCA},
		{verifyInCallback, goDefault, iotda.ReasonUnknownCA}, // no CA names: Go client sends it
		{verifyInCallback, presentAlways, iotda.ReasonUnknownCA},
	}
	for _, tc := range tests {
		t.Run(string(tc.sm)+"/"+string(tc.cm), func(t *testing.T) {
			res := mtlsHandshake(t, poolOf(ca.Cert), tc.sm, &cert, tc.cm, tls.VersionTLS13)
			if got := iotda.ReasonForHandshakeError(res.server, time.Now()); got != tc.want {
				t.Errorf("server error %v classified %q, want %q", res.server, got, tc.want)
			}
		})
	}
}
