package check

// lint.go: what can be known before logging in, from the certificate and
// from the project as the API shows it. Each finding names the refusal
// reason the problem causes at login.

import (
	"context"
	"crypto/ed25519"
	"crypto/x509"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/certlab/certlab/iotda"
	"github.com/certlab/certlab/sim/pki"
)

// Check names, in the order Run reports them.
const (
	CheckKeyPair       = "key_pair"
	CheckKey           = "key"
	CheckSignature     = "signature"
	CheckValidity      = "validity"
	CheckEKU           = "extended_key_usage"
	CheckIntermediates = "intermediates"
	CheckChain         = "chain"
	CheckDevice        = "device"
	CheckFingerprint   = "fingerprint"
	CheckLogin         = "login"
)

// maxNamesShown bounds the CA names an unknown_ca finding lists.
const maxNamesShown = 10

// maxCAPages bounds the CA listing: 100 CAs per project [CA-QUOTA] fit in 2 pages of 50.
const maxCAPages = 5

func remedyOf(v pki.Variant) string {
	c, _ := pki.Lookup(v)
	return c.Remedy
}

func (c *checker) lint(ctx context.Context) []Finding {
	out := []Finding{
		c.keyPair(),
		c.key(),
		c.signature(),
		c.validity(),
		c.eku(),
		c.intermediates(),
		c.chain(ctx),
	}
	return append(out, c.device(ctx)...)
}

// keyPair: the private key must be the certificate's, or the client's
// CertificateVerify fails (server: "invalid signature by the client certificate").
func (c *checker) keyPair() Finding {
	f := Finding{Check: CheckKeyPair}
	if !c.leaf.KeyMatches() {
		return f.fail(iotda.ReasonBadChain,
			fmt.Sprintf("the private key (%s) is not the key of the certificate (%s)", pki.KeyDescription(c.leaf.Key), pki.KeyDescription(c.leaf.Cert.PublicKey)),
			remedyOf(pki.VariantMismatchedKey))
	}
	return f.pass("the private key belongs to the certificate")
}

// key: the key policy the platform applies (iotda.CheckKey): RSA
// 2048..8192, ECDSA P-256/P-384/P-521 or Ed25519.
func (c *checker) key() Finding {
	f := Finding{Check: CheckKey}
	desc := pki.KeyDescription(c.leaf.Cert.PublicKey)
	if err := iotda.CheckKey(iotda.RoleDeviceCert, c.leaf.Cert.PublicKey); err != nil {
		return f.fail(iotda.ReasonBadChain, err.Error(), pki.RemedyKeyPolicy)
	}
	if _, ok := c.leaf.Cert.PublicKey.(ed25519.PublicKey); ok {
		return f.pass(desc + " (TLS 1.2 and 1.3 support it; check that the device's TLS stack does)")
	}
	return f.pass(desc)
}

// insecureSignature reports whether alg is refused in certificate chains (MD5, SHA-1).
func insecureSignature(alg x509.SignatureAlgorithm) bool {
	switch alg {
	case x509.MD2WithRSA, x509.MD5WithRSA, x509.SHA1WithRSA, x509.DSAWithSHA1, x509.ECDSAWithSHA1:
		return true
	}
	return false
}

// signature: the leaf and every presented intermediate must be signed with
// SHA-256 or stronger (Go refuses SHA-1 in chains).
func (c *checker) signature() Finding {
	f := Finding{Check: CheckSignature}
	certs := append([]*x509.Certificate{c.leaf.Cert}, c.leaf.Chain...)
	var bad []string
	for i, cert := range certs {
		if insecureSignature(cert.SignatureAlgorithm) || cert.SignatureAlgorithm == x509.UnknownSignatureAlgorithm {
			what := "the device certificate"
			if i > 0 {
				what = fmt.Sprintf("intermediate %q", cert.Subject.CommonName)
			}
			bad = append(bad, fmt.Sprintf("%s is signed with %s", what, cert.SignatureAlgorithm))
		}
	}
	if len(bad) > 0 {
		return f.fail(iotda.ReasonBadChain, strings.Join(bad, "; ")+": SHA-1 and MD5 signatures are refused", remedyOf(pki.VariantSHA1Signature))
	}
	return f.pass(c.leaf.Cert.SignatureAlgorithm.String())
}

// validity: NotBefore <= now <= NotAfter, with a warning 30 days ahead.
func (c *checker) validity() Finding {
	f := Finding{Check: CheckValidity}
	cert := c.leaf.Cert
	window := fmt.Sprintf("valid %s to %s", cert.NotBefore.UTC().Format(time.RFC3339), cert.NotAfter.UTC().Format(time.RFC3339))
	switch {
	case c.now.Before(cert.NotBefore):
		return f.fail(iotda.ReasonCertNotYetValid, fmt.Sprintf("%s: not valid for another %s", window, humanDuration(cert.NotBefore.Sub(c.now))),
			remedyOf(pki.VariantNotYetValid))
	case c.now.After(cert.NotAfter):
		return f.fail(iotda.ReasonCertExpired, fmt.Sprintf("%s: expired %s ago", window, humanDuration(c.now.Sub(cert.NotAfter))),
			remedyOf(pki.VariantExpired))
	case cert.NotAfter.Sub(c.now) < ExpirySoon:
		return f.warn(fmt.Sprintf("%s: expires in %s", window, humanDuration(cert.NotAfter.Sub(c.now))),
			"issue the replacement certificate now and register it as the secondary fingerprint, so that the device can switch without downtime")
	}
	return f.pass(window)
}

// eku: a device certificate with extended key usages must allow clientAuth.
func (c *checker) eku() Finding {
	f := Finding{Check: CheckEKU}
	cert := c.leaf.Cert
	if len(cert.ExtKeyUsage) == 0 && len(cert.UnknownExtKeyUsage) == 0 {
		return f.pass("none (any usage)")
	}
	var names []string
	for _, u := range cert.ExtKeyUsage {
		names = append(names, extKeyUsageName(u))
	}
	for _, u := range cert.UnknownExtKeyUsage {
		names = append(names, u.String())
	}
	if !slices.Contains(cert.ExtKeyUsage, x509.ExtKeyUsageClientAuth) && !slices.Contains(cert.ExtKeyUsage, x509.ExtKeyUsageAny) {
		return f.fail(iotda.ReasonBadChain, strings.Join(names, ", ")+": clientAuth is missing, so the certificate cannot authenticate a TLS client",
			remedyOf(pki.VariantWrongEKU))
	}
	if cert.KeyUsage != 0 && cert.KeyUsage&x509.KeyUsageDigitalSignature == 0 {
		return f.warn(strings.Join(names, ", ")+"; but KeyUsage lacks digitalSignature, which TLS client authentication uses; OpenSSL-based platforms refuse it",
			"reissue the device certificate with KeyUsage digitalSignature")
	}
	return f.pass(strings.Join(names, ", "))
}

// intermediates: every certificate the device presents after its own must be
// a CA (basicConstraints CA:TRUE) allowed to sign certificates.
func (c *checker) intermediates() Finding {
	f := Finding{Check: CheckIntermediates}
	if len(c.leaf.Chain) == 0 {
		return f.pass("none presented")
	}
	var bad, names []string
	for _, ic := range c.leaf.Chain {
		names = append(names, fmt.Sprintf("%q", ic.Subject.CommonName))
		switch {
		case !ic.BasicConstraintsValid || !ic.IsCA:
			bad = append(bad, fmt.Sprintf("intermediate %q is not a CA (basicConstraints CA:FALSE or absent)", ic.Subject.CommonName))
		case ic.KeyUsage != 0 && ic.KeyUsage&x509.KeyUsageCertSign == 0:
			bad = append(bad, fmt.Sprintf("intermediate %q may not sign certificates (KeyUsage lacks keyCertSign)", ic.Subject.CommonName))
		}
	}
	if len(bad) > 0 {
		return f.fail(iotda.ReasonBadChain, strings.Join(bad, "; "), remedyOf(pki.VariantIntermediateNotCA))
	}
	for _, ic := range c.leaf.Chain {
		if err := iotda.CheckKey(iotda.RoleIntermediateCA, ic.PublicKey); err != nil {
			return f.fail(iotda.ReasonBadChain, fmt.Sprintf("intermediate %q: %v", ic.Subject.CommonName, err),
				"reissue the intermediate CA with an allowed key ("+iotda.KeyPolicy+") and the device certificates under it")
		}
	}
	for _, ic := range c.leaf.Chain {
		switch {
		case c.now.After(ic.NotAfter):
			return f.fail(iotda.ReasonCertExpired, fmt.Sprintf("intermediate %q expired at %s", ic.Subject.CommonName, ic.NotAfter.UTC().Format(time.RFC3339)),
				"renew the intermediate CA and present the new one with the device certificate")
		case c.now.Before(ic.NotBefore):
			return f.fail(iotda.ReasonCertNotYetValid, fmt.Sprintf("intermediate %q is not valid before %s", ic.Subject.CommonName, ic.NotBefore.UTC().Format(time.RFC3339)),
				remedyOf(pki.VariantNotYetValid))
		}
	}
	return f.pass(fmt.Sprintf("%d presented: %s", len(c.leaf.Chain), strings.Join(names, ", ")))
}

// projectCA is a CA of the project with its parsed certificate.
type projectCA struct {
	meta iotda.CACert
	cert *x509.Certificate
}

// chain: the certificate must chain (through the presented intermediates) to
// a CA of the project that is verified and in date. [LOGIN-TLS] [CA-UNVERIFIED]
func (c *checker) chain(ctx context.Context) Finding {
	f := Finding{Check: CheckChain}
	if isSelfSigned(c.leaf.Cert) {
		return f.fail(iotda.ReasonUnknownCA, fmt.Sprintf("the certificate is self-signed (subject = issuer = %q); the platform trusts only uploaded CAs", c.leaf.Cert.Subject.CommonName),
			remedyOf(pki.VariantSelfSigned))
	}
	cas, total, err := c.listCAs(ctx)
	if err != nil {
		return f.skip(fmt.Sprintf("the project's CAs could not be listed: %v", err))
	}
	issuers := map[string]bool{c.leaf.Cert.Issuer.CommonName: true}
	for _, ic := range c.leaf.Chain {
		issuers[ic.Issuer.CommonName] = true
	}
	// Candidates are the CAs named like an issuer in the chain (cn_name is the
	// CA's subject CN); only their PEM is fetched.
	var candidates []iotda.CACert
	for _, ca := range cas {
		if issuers[ca.CnName] {
			candidates = append(candidates, ca)
		}
	}
	inter := x509.NewCertPool()
	for _, ic := range c.leaf.Chain {
		inter.AddCert(ic)
	}
	var chainErr, fetchErr error
	var chainErrCA iotda.CACert
	for _, meta := range candidates {
		ca, err := c.caCertificate(ctx, meta)
		if err != nil {
			fetchErr = err
			continue
		}
		roots := x509.NewCertPool()
		roots.AddCert(ca.cert)
		// Any usage: the extended-key-usage check reports EKU problems; this one is about the anchor.
		_, err = c.leaf.Cert.Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter, CurrentTime: c.now, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}})
		if err == nil {
			return c.anchored(f, ca, "")
		}
		r := iotda.ReasonForVerifyError(err, c.now)
		if (r == iotda.ReasonCertExpired || r == iotda.ReasonCertNotYetValid) && c.signedBy(ca.cert) == nil {
			// The signatures lead to this CA; the dates are the problem,
			// which the validity check (or anchored, for the CA) reports.
			return c.anchored(f, ca, " (signatures verified; the dates are judged separately)")
		}
		if r != iotda.ReasonUnknownCA && chainErr == nil {
			chainErr, chainErrCA = err, meta
		}
	}
	if chainErr != nil {
		r := iotda.ReasonForVerifyError(chainErr, c.now)
		return f.fail(r, fmt.Sprintf("the chain to CA %q (%s) does not verify: %v", chainErrCA.CnName, chainErrCA.CertificateID, chainErr), remedyFor(r))
	}
	if fetchErr != nil {
		return f.skip(fmt.Sprintf("a CA named like the issuer could not be read: %v", fetchErr))
	}
	names := make([]string, 0, len(cas))
	for i, ca := range cas {
		if i == maxNamesShown {
			names = append(names, "…")
			break
		}
		names = append(names, fmt.Sprintf("%q", ca.CnName))
	}
	list := "the project has no device CA"
	if len(names) > 0 {
		list = fmt.Sprintf("the project's %d CAs are %s", total, strings.Join(names, ", "))
	}
	return f.fail(iotda.ReasonUnknownCA, fmt.Sprintf("issuer %q is not a CA of the project (%s)", c.leaf.Cert.Issuer.CommonName, list),
		remedyOf(pki.VariantUnknownCA))
}

// signedBy checks the signatures from the leaf through the presented
// intermediates up to ca, ignoring validity dates.
func (c *checker) signedBy(ca *x509.Certificate) error {
	cur := c.leaf.Cert
	for _, next := range c.leaf.Chain {
		if next.Equal(ca) {
			break
		}
		if err := cur.CheckSignatureFrom(next); err != nil {
			return err
		}
		cur = next
	}
	return cur.CheckSignatureFrom(ca)
}

// anchored judges the CA a chain verified against.
func (c *checker) anchored(f Finding, ca projectCA, note string) Finding {
	name := fmt.Sprintf("CA %q (%s)", ca.meta.CnName, ca.meta.CertificateID)
	switch {
	case !ca.meta.Status:
		return f.fail(iotda.ReasonCANotVerified, name+" issued the certificate but is not verified: it authenticates no device",
			fmt.Sprintf("verify %s: submit a certificate signed by its key whose subject CN is its verify_code %s", name, ca.meta.VerifyCode))
	case c.now.After(ca.cert.NotAfter):
		return f.fail(iotda.ReasonCertExpired, fmt.Sprintf("%s expired at %s", name, ca.cert.NotAfter.UTC().Format(time.RFC3339)),
			"upload and verify a renewed CA, and issue device certificates from it")
	case c.now.Before(ca.cert.NotBefore):
		return f.fail(iotda.ReasonCertNotYetValid, fmt.Sprintf("%s is not valid before %s", name, ca.cert.NotBefore.UTC().Format(time.RFC3339)),
			remedyOf(pki.VariantNotYetValid))
	}
	return f.pass(fmt.Sprintf("chains to %s, verified, valid until %s%s", name, ca.cert.NotAfter.UTC().Format(time.DateOnly), note))
}

// listCAs pages through the project's CAs.
func (c *checker) listCAs(ctx context.Context) ([]iotda.CACert, int64, error) {
	var all []iotda.CACert
	var total int64
	marker := ""
	for range maxCAPages {
		actx, cancel := c.api(ctx)
		page, err := c.cfg.Client.ListCertificates(actx, iotda.ListOptions{Limit: 50, Marker: marker})
		cancel()
		if err != nil {
			return nil, 0, err
		}
		all = append(all, page.Certificates...)
		total = page.Page.Count
		if len(page.Certificates) < 50 || int64(len(all)) >= total || page.Page.Marker == "" {
			break
		}
		marker = page.Page.Marker
	}
	return all, total, nil
}

// caCertificate returns the CA's certificate: from the listing when it
// carries the PEM, else from ShowCertificate.
func (c *checker) caCertificate(ctx context.Context, meta iotda.CACert) (projectCA, error) {
	content := meta.Content
	if content == "" {
		actx, cancel := c.api(ctx)
		full, err := c.cfg.Client.ShowCertificate(actx, meta.CertificateID)
		cancel()
		if err != nil {
			return projectCA{}, err
		}
		content = full.Content
	}
	certs, err := pki.ParseCertsPEM([]byte(content))
	if err != nil {
		return projectCA{}, fmt.Errorf("CA %s: %w", meta.CertificateID, err)
	}
	return projectCA{meta: meta, cert: certs[0]}, nil
}

// isSelfSigned reports whether c is signed by its own key (CheckSignatureFrom
// would also demand CA:TRUE, which a self-signed device certificate lacks).
func isSelfSigned(c *x509.Certificate) bool {
	return string(c.RawIssuer) == string(c.RawSubject) && c.CheckSignature(c.SignatureAlgorithm, c.RawTBSCertificate, c.Signature) == nil
}

// device: the registration the login will be checked against.
func (c *checker) device(ctx context.Context) []Finding {
	dev := Finding{Check: CheckDevice}
	fp := Finding{Check: CheckFingerprint}
	sha256, sha1 := pki.FingerprintSHA256(c.leaf.Cert), pki.FingerprintSHA1(c.leaf.Cert)
	actx, cancel := c.api(ctx)
	d, err := c.cfg.Client.ShowDevice(actx, c.cfg.DeviceID)
	cancel()
	if err != nil {
		if iotda.StatusCode(err) == 404 {
			return []Finding{
				dev.fail(iotda.ReasonDeviceNotFound, fmt.Sprintf("no device %q is registered in project %s", c.cfg.DeviceID, c.cfg.Target.ProjectID),
					fmt.Sprintf("register the device: node ID (MAC, serial number or IMEI) under an MQTT product, auth_type CERTIFICATES, fingerprint %s; or pass the right device ID", sha256)),
				fp.skip("no device to compare with"),
			}
		}
		return []Finding{dev.skip(fmt.Sprintf("the device could not be read: %v", err)), fp.skip("no device to compare with")}
	}
	dev = c.deviceState(ctx, dev, d)
	a := d.AuthInfo
	if a.AuthType != iotda.AuthCertificates {
		return []Finding{dev, fp.skip("the device does not use certificates")}
	}
	if a.Fingerprint == "" && a.SecondaryFingerprint == "" {
		return []Finding{dev, fp.warn("no fingerprint is registered: the first successful login binds the certificate it presents, and this check's login does so [DEV-FINGERPRINT-BIND]",
			fmt.Sprintf("register the fingerprint (SHA-256 %s) to bind the device to this certificate explicitly", sha256))}
	}
	for _, reg := range []struct{ which, value string }{{"primary", a.Fingerprint}, {"secondary", a.SecondaryFingerprint}} {
		if reg.value == "" {
			continue
		}
		if iotda.FingerprintMatches(reg.value, sha256, sha1) { // [DEV-FINGERPRINT]
			return []Finding{dev, fp.pass(fmt.Sprintf("the certificate matches the %s fingerprint (%s)", reg.which, iotda.FingerprintDigest(reg.value)))}
		}
	}
	registered := []string{}
	if a.Fingerprint != "" {
		registered = append(registered, "primary "+a.Fingerprint)
	}
	if a.SecondaryFingerprint != "" {
		registered = append(registered, "secondary "+a.SecondaryFingerprint)
	}
	return []Finding{dev, fp.fail(iotda.ReasonFingerprintMismatch,
		fmt.Sprintf("the certificate (SHA-256 %s, SHA-1 %s) matches neither registered fingerprint (%s)", sha256, sha1, strings.Join(registered, ", ")),
		fmt.Sprintf("register this certificate's fingerprint with reset-fingerprint (SHA-256 %s; PRIMARY, or SECONDARY during a rollover), or present the certificate that is registered", sha256))}
}

// deviceState judges auth type, freeze and product protocol.
func (c *checker) deviceState(ctx context.Context, f Finding, d *iotda.Device) Finding {
	if d.AuthInfo.AuthType != iotda.AuthCertificates {
		return f.fail(iotda.ReasonAuthTypeMismatch, fmt.Sprintf("device %q uses %s authentication, not CERTIFICATES", d.DeviceID, d.AuthInfo.AuthType),
			remedyFor(iotda.ReasonAuthTypeMismatch))
	}
	if d.Status == iotda.StatusFrozen {
		return f.fail(iotda.ReasonDeviceFrozen, fmt.Sprintf("device %q is frozen", d.DeviceID), remedyFor(iotda.ReasonDeviceFrozen))
	}
	actx, cancel := c.api(ctx)
	p, err := c.cfg.Client.ShowProduct(actx, d.ProductID)
	cancel()
	switch {
	case err != nil:
		return f.pass(fmt.Sprintf("registered (%s, status %s); its product %s could not be read: %v", d.AuthInfo.AuthType, d.Status, d.ProductID, err))
	case p.ProtocolType != iotda.ProtocolMQTT:
		return f.fail(iotda.ReasonNotMQTTProduct, fmt.Sprintf("device %q belongs to product %q whose protocol is %s", d.DeviceID, p.ProductID, p.ProtocolType),
			remedyFor(iotda.ReasonNotMQTTProduct))
	}
	return f.pass(fmt.Sprintf("registered with %s under MQTT product %q, status %s", d.AuthInfo.AuthType, p.ProductID, d.Status))
}
