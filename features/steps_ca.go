package features

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/cucumber/godog"

	"github.com/certlab/certlab/iotda"
	"github.com/certlab/certlab/sim/pki"
)

// caOwner is the subject O of every CA the suite mints.
const caOwner = "certlab BDD"

func (w *world) caSteps(sc *godog.ScenarioContext) {
	sc.Step(`^a device CA "([^"]*)"$`, w.aDeviceCA)
	sc.Step(`^an uploaded device CA "([^"]*)"$`, w.anUploadedCA)
	sc.Step(`^a verified device CA "([^"]*)"$`, w.aVerifiedCA)
	sc.Step(`^a verified device CA "([^"]*)" in a fresh project$`, w.aVerifiedCAInFreshProject)
	sc.Step(`^a fresh project$`, w.aFreshProject)
	sc.Step(`^I upload CA "([^"]*)"$`, w.iUploadCA)
	sc.Step(`^I upload (.+) as a device CA$`, w.iUploadBadCA)
	sc.Step(`^a device CA "([^"]*)" with an? "([^"]*)" key$`, w.aDeviceCAWithKey)
	sc.Step(`^I upload a device CA with an? "([^"]*)" key$`, w.iUploadCAWithKey)
	sc.Step(`^I show CA "([^"]*)"$`, w.iShowCA)
	sc.Step(`^the request succeeds$`, w.requestSucceeds)
	sc.Step(`^the request is refused with HTTP (\d+) and error code "([^"]*)"$`, w.requestRefused)
	sc.Step(`^the error message mentions one of "([^"]*)"$`, w.errorMentions)
	sc.Step(`^CA "([^"]*)" is shown with its CN, its owner, a verify code, status false and its validity dates$`, w.caShownFully)
	sc.Step(`^the shown content is the PEM of CA "([^"]*)"$`, w.shownContentIs)
	sc.Step(`^the project lists CA "([^"]*)" exactly once$`, w.projectListsCAOnce)
	sc.Step(`^I prove possession of CA "([^"]*)"$`, w.iProvePossession)
	sc.Step(`^I prove possession of CA "([^"]*)" with a verification certificate whose CN is "([^"]*)"$`, w.iProveWithCN)
	sc.Step(`^I prove possession of CA "([^"]*)" with a verification certificate signed by CA "([^"]*)"$`, w.iProveSignedBy)
	sc.Step(`^I prove possession of CA "([^"]*)" with the verification certificate of CA "([^"]*)"$`, w.iProveWithOthers)
	sc.Step(`^CA "([^"]*)" is (verified|unverified)$`, w.caIsVerified)
	sc.Step(`^I delete CA "([^"]*)"$`, w.iDeleteCA)
	sc.Step(`^CA "([^"]*)" no longer exists$`, w.caNoLongerExists)

	// Listing.
	sc.Step(`^I have uploaded (\d+) device CAs$`, w.iHaveUploadedCAs)
	sc.Step(`^I page through the CA list (\d+) at a time$`, w.iPageThrough)
	sc.Step(`^no page holds more than (\d+) CAs$`, w.noPageHoldsMore)
	sc.Step(`^the listed CAs come in descending certificate_id order$`, w.listedDescending)
	sc.Step(`^each of my (\d+) CAs is listed exactly once$`, w.eachListedOnce)
	sc.Step(`^every page reports a total count of at least (\d+)$`, w.everyPageCountAtLeast)
	sc.Step(`^I list the CAs with limit (\d+) and offset (\d+)$`, w.iListWithOffset)
	sc.Step(`^I list the CAs with limit (\d+) after the marker of my CA (\d+)$`, w.iListAfterMarker)
	sc.Step(`^the page lists my CAs ([\d, ]+) in that order$`, w.pageListsMine)
	sc.Step(`^the reported total count is (\d+)$`, w.reportedCountIs)

	// Quota.
	sc.Step(`^I upload (\d+) distinct device CAs$`, func(ctx context.Context, n int) error { return w.iUploadMany(ctx, n, 8) })
	sc.Step(`^I upload (\d+) distinct device CAs, (\d+) at a time$`, w.iUploadMany)
	sc.Step(`^all (\d+) uploads succeed$`, w.allUploadsSucceed)
	sc.Step(`^I upload another distinct device CA$`, w.iUploadAnother)
	sc.Step(`^I delete one of my CAs$`, w.iDeleteOneOfMine)
	sc.Step(`^exactly (\d+) uploads succeed and (\d+) are refused with error code "([^"]*)"$`, w.exactlyUploads)
	sc.Step(`^the project lists (\d+) device CAs$`, w.projectListsN)
}

// newCA mints a root CA with a scenario-unique CN (ECDSA P-256).
func (w *world) newCA(name string, opts ...pki.Option) (*pki.CA, error) {
	return pki.NewRootCA("certlab-bdd-"+w.suffix+"-"+name, append([]pki.Option{pki.WithOrganization(caOwner)}, opts...)...)
}

func (w *world) caNamed(name string) (*caRec, error) {
	c, ok := w.cas[name]
	if !ok {
		return nil, fmt.Errorf("no CA %q in this scenario", name)
	}
	return c, nil
}

func (w *world) aDeviceCA(name string) error {
	if _, ok := w.cas[name]; ok {
		return fmt.Errorf("CA %q already exists in this scenario", name)
	}
	ca, err := w.newCA(name)
	if err != nil {
		return err
	}
	w.cas[name] = &caRec{name: name, ca: ca}
	return nil
}

// upload uploads c into p and records the outcome in w.lastErr/w.lastCA.
func (w *world) upload(ctx context.Context, c *caRec, p *project) error {
	rec, err := p.client.AddCertificate(ctx, iotda.CreateCertificateDto{Content: string(pki.CertPEM(c.ca.Cert))})
	w.lastErr, w.lastCA = err, rec
	if err != nil {
		return err
	}
	if c.proj == nil || c.deleted { // keep the first upload's record (CA-DUPLICATE in another project)
		c.proj, c.id, c.verifyCode, c.deleted = p, rec.CertificateID, rec.VerifyCode, false
	}
	id := rec.CertificateID
	w.onCleanup(p, func(ctx context.Context) error {
		if c.deleted && c.id == id {
			return nil
		}
		return p.client.DeleteCertificate(ctx, id)
	})
	return nil
}

func (w *world) anUploadedCA(ctx context.Context, name string) error {
	if _, ok := w.cas[name]; !ok {
		if err := w.aDeviceCA(name); err != nil {
			return err
		}
	}
	if err := w.upload(ctx, w.cas[name], w.proj); err != nil {
		return fmt.Errorf("upload CA %q: %w", name, err)
	}
	return nil
}

func (w *world) aVerifiedCA(ctx context.Context, name string) error {
	if err := w.anUploadedCA(ctx, name); err != nil {
		return err
	}
	if err := w.iProvePossession(ctx, name); err != nil {
		return err
	}
	if w.lastErr != nil {
		return fmt.Errorf("verify CA %q: %w", name, w.lastErr)
	}
	return nil
}

func (w *world) aVerifiedCAInFreshProject(ctx context.Context, name string) error {
	p, err := w.freshProject(ctx)
	if err != nil {
		return err
	}
	saved := w.proj
	w.proj = p
	defer func() { w.proj = saved }()
	return w.aVerifiedCA(ctx, name)
}

func (w *world) aFreshProject(ctx context.Context) error {
	p, err := w.freshProject(ctx)
	if err != nil {
		return err
	}
	w.proj, w.product = p, nil
	return nil
}

func (w *world) iUploadCA(ctx context.Context, name string) error {
	c, ok := w.cas[name]
	if !ok {
		if err := w.aDeviceCA(name); err != nil {
			return err
		}
		c = w.cas[name]
	}
	_ = w.upload(ctx, c, w.proj) // the outcome is for the Then steps
	return nil
}

// iUploadBadCA uploads content that is not an acceptable CA. [CA-VALID]
func (w *world) iUploadBadCA(ctx context.Context, what string) error {
	now := time.Now().UTC().Truncate(time.Second)
	var content []byte
	switch what {
	case "an end-entity certificate (CA:FALSE)":
		ca, err := w.newCA("issuer")
		if err != nil {
			return err
		}
		leaf, err := ca.NewDeviceCert("certlab-bdd-" + w.suffix + "-leaf")
		if err != nil {
			return err
		}
		content = pki.CertPEM(leaf.Cert)
	case "a CA certificate without keyCertSign":
		ca, err := w.newCA("no-keycertsign", pki.WithKeyUsage(x509.KeyUsageDigitalSignature|x509.KeyUsageCRLSign))
		if err != nil {
			return err
		}
		content = pki.CertPEM(ca.Cert)
	case "an expired CA certificate":
		ca, err := w.newCA("expired", pki.WithValidity(now.Add(-2*365*24*time.Hour), now.Add(-24*time.Hour)))
		if err != nil {
			return err
		}
		content = pki.CertPEM(ca.Cert)
	case "a CA certificate that is not yet valid":
		ca, err := w.newCA("not-yet-valid", pki.WithValidity(now.Add(24*time.Hour), now.Add(365*24*time.Hour)))
		if err != nil {
			return err
		}
		content = pki.CertPEM(ca.Cert)
	case "garbage inside a PEM block":
		junk := make([]byte, 300)
		if _, err := rand.Read(junk); err != nil {
			return err
		}
		content = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: junk})
	case "text that is not PEM at all":
		content = []byte("this is not a certificate " + w.suffix)
	default:
		return fmt.Errorf("unknown kind of bad CA content %q", what)
	}
	w.uploadContent(ctx, content)
	return nil
}

// uploadContent uploads PEM content as a device CA and records the outcome
// for the Then steps; a CA accepted by mistake is still cleaned up.
func (w *world) uploadContent(ctx context.Context, content []byte) {
	rec, err := w.proj.client.AddCertificate(ctx, iotda.CreateCertificateDto{Content: string(content)})
	w.lastErr, w.lastCA = err, rec
	if err == nil {
		p, id := w.proj, rec.CertificateID
		w.onCleanup(p, func(ctx context.Context) error { return p.client.DeleteCertificate(ctx, id) })
	}
}

// oversizedRSA is the key name of a CA carrying an RSA 16384-bit key. A
// real one takes minutes to generate, so its certificate carries a public
// key nobody holds (pki.NewCACertForKey): a key policy refuses it on the
// key alone, before any signature matters.
const oversizedRSA = "rsa-16384"

// aDeviceCAWithKey mints CA name with a key of the given pki key type.
func (w *world) aDeviceCAWithKey(name, key string) error {
	if _, ok := w.cas[name]; ok {
		return fmt.Errorf("CA %q already exists in this scenario", name)
	}
	ca, err := w.newCA(name, pki.WithKeyType(pki.KeyType(key)))
	if err != nil {
		return err
	}
	w.cas[name] = &caRec{name: name, ca: ca}
	return nil
}

// iUploadCAWithKey uploads a fresh CA with a key of the given pki key type
// (or oversizedRSA). [CA-VALID]
func (w *world) iUploadCAWithKey(ctx context.Context, key string) error {
	var cert *x509.Certificate
	cn := "certlab-bdd-" + w.suffix + "-" + key
	if key == oversizedRSA {
		pub, err := pki.FakeRSAPublicKey(16384)
		if err != nil {
			return err
		}
		if cert, err = pki.NewCACertForKey(cn, pub, pki.WithOrganization(caOwner)); err != nil {
			return err
		}
	} else {
		ca, err := w.newCA(key, pki.WithKeyType(pki.KeyType(key)))
		if err != nil {
			return err
		}
		cert = ca.Cert
	}
	w.uploadContent(ctx, pki.CertPEM(cert))
	return nil
}

func (w *world) iShowCA(ctx context.Context, name string) error {
	c, err := w.uploadedCA(name)
	if err != nil {
		return err
	}
	w.lastCA, w.lastErr = c.proj.client.ShowCertificate(ctx, c.id)
	return nil
}

func (w *world) uploadedCA(name string) (*caRec, error) {
	c, err := w.caNamed(name)
	if err != nil {
		return nil, err
	}
	if c.proj == nil {
		return nil, fmt.Errorf("CA %q was never uploaded", name)
	}
	return c, nil
}

// caShownFully checks the fields IoTDA returns for an uploaded CA. [CA-UPLOAD]
func (w *world) caShownFully(ctx context.Context, name string) error {
	c, err := w.uploadedCA(name)
	if err != nil {
		return err
	}
	if w.lastCA == nil || w.lastCA.CertificateID == "" {
		return fmt.Errorf("the upload response carries no certificate_id: %+v", w.lastCA)
	}
	got, err := c.proj.client.ShowCertificate(ctx, c.id)
	if err != nil {
		return fmt.Errorf("show CA %q: %w", name, err)
	}
	cert := c.ca.Cert
	var problems []string
	check := func(ok bool, format string, args ...any) {
		if !ok {
			problems = append(problems, fmt.Sprintf(format, args...))
		}
	}
	check(got.CertificateID == c.id, "certificate_id %q, want %q", got.CertificateID, c.id)
	check(got.CnName == cert.Subject.CommonName, "cn_name %q, want %q", got.CnName, cert.Subject.CommonName)
	check(got.Owner != "", "owner is empty (the CA's subject O is %q)", caOwner)
	check(got.VerifyCode != "", "verify_code is empty")
	check(!got.Status, "status is true before any proof of possession")
	check(got.EffectiveDate == cert.NotBefore.UTC().Format(iotda.CompactTime), "effective_date %q, want %q",
		got.EffectiveDate, cert.NotBefore.UTC().Format(iotda.CompactTime))
	check(got.ExpiryDate == cert.NotAfter.UTC().Format(iotda.CompactTime), "expiry_date %q, want %q",
		got.ExpiryDate, cert.NotAfter.UTC().Format(iotda.CompactTime))
	created, perr := time.Parse(iotda.CompactTime, got.CreateDate)
	check(perr == nil && time.Since(created).Abs() < 24*time.Hour, "create_date %q is not a time of today in %s form", got.CreateDate, iotda.CompactTime)
	if len(problems) > 0 {
		return fmt.Errorf("CA %q as shown: %s", name, strings.Join(problems, "; "))
	}
	return nil
}

func (w *world) shownContentIs(name string) error {
	c, err := w.caNamed(name)
	if err != nil {
		return err
	}
	if w.lastCA == nil {
		return fmt.Errorf("nothing was shown")
	}
	certs, err := pki.ParseCertsPEM([]byte(w.lastCA.Content))
	if err != nil {
		return fmt.Errorf("shown content: %w", err)
	}
	if !bytes.Equal(certs[0].Raw, c.ca.Cert.Raw) {
		return fmt.Errorf("shown content is certificate %q, not CA %q", certs[0].Subject, name)
	}
	return nil
}

// allCAs pages through the whole CA list of a project.
func allCAs(ctx context.Context, c *iotda.Client) ([]iotda.CACert, error) {
	var out []iotda.CACert
	marker := ""
	for range 100 {
		page, err := c.ListCertificates(ctx, iotda.ListOptions{Limit: 50, Marker: marker})
		if err != nil {
			return nil, err
		}
		out = append(out, page.Certificates...)
		if len(page.Certificates) < 50 {
			return out, nil
		}
		marker = page.Certificates[len(page.Certificates)-1].CertificateID
	}
	return nil, fmt.Errorf("list CAs: more than 100 pages")
}

func (w *world) projectListsCAOnce(ctx context.Context, name string) error {
	c, err := w.caNamed(name)
	if err != nil {
		return err
	}
	all, err := allCAs(ctx, w.proj.client)
	if err != nil {
		return err
	}
	n := 0
	for _, got := range all {
		if got.CnName == c.ca.Cert.Subject.CommonName {
			n++
		}
	}
	if n != 1 {
		return fmt.Errorf("the project lists CA %q %d times, want once", name, n)
	}
	return nil
}

// ---- proof of possession [CA-VERIFY] ----

func (w *world) verify(ctx context.Context, c *caRec, content []byte) {
	w.lastErr = c.proj.client.CheckCertificate(ctx, c.id, iotda.VerifyCertificateDto{VerifyContent: string(content)})
}

func (w *world) iProvePossession(ctx context.Context, name string) error {
	c, err := w.uploadedCA(name)
	if err != nil {
		return err
	}
	leaf, err := c.ca.NewVerificationCert(c.verifyCode)
	if err != nil {
		return err
	}
	w.verify(ctx, c, pki.CertPEM(leaf.Cert))
	return nil
}

func (w *world) iProveWithCN(ctx context.Context, name, cn string) error {
	c, err := w.uploadedCA(name)
	if err != nil {
		return err
	}
	leaf, err := c.ca.NewVerificationCert(cn)
	if err != nil {
		return err
	}
	w.verify(ctx, c, pki.CertPEM(leaf.Cert))
	return nil
}

func (w *world) iProveSignedBy(ctx context.Context, name, signer string) error {
	c, err := w.uploadedCA(name)
	if err != nil {
		return err
	}
	s, err := w.caNamed(signer)
	if err != nil {
		return err
	}
	leaf, err := s.ca.NewVerificationCert(c.verifyCode)
	if err != nil {
		return err
	}
	w.verify(ctx, c, pki.CertPEM(leaf.Cert))
	return nil
}

func (w *world) iProveWithOthers(ctx context.Context, name, other string) error {
	c, err := w.uploadedCA(name)
	if err != nil {
		return err
	}
	o, err := w.uploadedCA(other)
	if err != nil {
		return err
	}
	leaf, err := o.ca.NewVerificationCert(o.verifyCode)
	if err != nil {
		return err
	}
	w.verify(ctx, c, pki.CertPEM(leaf.Cert))
	return nil
}

func (w *world) caIsVerified(ctx context.Context, name, state string) error {
	c, err := w.uploadedCA(name)
	if err != nil {
		return err
	}
	got, err := c.proj.client.ShowCertificate(ctx, c.id)
	if err != nil {
		return fmt.Errorf("show CA %q: %w", name, err)
	}
	if want := state == "verified"; got.Status != want {
		return fmt.Errorf("CA %q has status %v, want %v (%s)", name, got.Status, want, state)
	}
	return nil
}

func (w *world) iDeleteCA(ctx context.Context, name string) error {
	c, err := w.uploadedCA(name)
	if err != nil {
		return err
	}
	w.lastErr = c.proj.client.DeleteCertificate(ctx, c.id)
	if w.lastErr == nil {
		c.deleted = true
	}
	return nil
}

func (w *world) caNoLongerExists(ctx context.Context, name string) error {
	c, err := w.uploadedCA(name)
	if err != nil {
		return err
	}
	got, err := c.proj.client.ShowCertificate(ctx, c.id)
	if err == nil {
		return fmt.Errorf("CA %q is still shown: %+v", name, got)
	}
	if iotda.StatusCode(err) != 404 {
		return fmt.Errorf("show deleted CA %q: want HTTP 404, got %w", name, err)
	}
	return nil
}

// ---- listing [CA-LIST] ----

func (w *world) iHaveUploadedCAs(ctx context.Context, n int) error {
	for i := range n {
		name := fmt.Sprintf("mine-%d", i+1)
		if err := w.anUploadedCA(ctx, name); err != nil {
			return err
		}
		w.mine = append(w.mine, w.cas[name])
	}
	return nil
}

func (w *world) iPageThrough(ctx context.Context, limit int) error {
	w.pages = nil
	marker := ""
	for range 1000 {
		page, err := w.proj.client.ListCertificates(ctx, iotda.ListOptions{Limit: limit, Marker: marker})
		if err != nil {
			return fmt.Errorf("list CAs (limit %d, marker %q): %w", limit, marker, err)
		}
		w.pages = append(w.pages, page)
		if len(page.Certificates) < limit || len(page.Certificates) == 0 {
			return nil
		}
		marker = page.Certificates[len(page.Certificates)-1].CertificateID
	}
	return fmt.Errorf("paging with limit %d did not end after 1000 pages", limit)
}

func (w *world) noPageHoldsMore(limit int) error {
	for i, p := range w.pages {
		if len(p.Certificates) > limit {
			return fmt.Errorf("page %d holds %d CAs, limit %d", i+1, len(p.Certificates), limit)
		}
	}
	return nil
}

func (w *world) listed() []iotda.CACert {
	var out []iotda.CACert
	for _, p := range w.pages {
		out = append(out, p.Certificates...)
	}
	return out
}

func (w *world) listedDescending() error {
	all := w.listed()
	for i := 1; i < len(all); i++ {
		if all[i-1].CertificateID <= all[i].CertificateID {
			return fmt.Errorf("certificate_id %q is listed before %q: not descending", all[i-1].CertificateID, all[i].CertificateID)
		}
	}
	return nil
}

func (w *world) eachListedOnce(n int) error {
	if len(w.mine) != n {
		return fmt.Errorf("this scenario uploaded %d CAs, not %d", len(w.mine), n)
	}
	count := map[string]int{}
	for _, c := range w.listed() {
		count[c.CertificateID]++
	}
	for i, c := range w.mine {
		if count[c.id] != 1 {
			return fmt.Errorf("my CA %d (%s) is listed %d times across %d pages", i+1, c.id, count[c.id], len(w.pages))
		}
	}
	return nil
}

func (w *world) everyPageCountAtLeast(n int) error {
	for i, p := range w.pages {
		if p.Page.Count < int64(n) {
			return fmt.Errorf("page %d reports count %d, want at least %d", i+1, p.Page.Count, n)
		}
	}
	return nil
}

func (w *world) iListWithOffset(ctx context.Context, limit, offset int) error {
	w.lastList, w.lastErr = w.proj.client.ListCertificates(ctx, iotda.ListOptions{Limit: limit, Offset: offset})
	return nil
}

func (w *world) iListAfterMarker(ctx context.Context, limit, k int) error {
	if k < 1 || k > len(w.mine) {
		return fmt.Errorf("there is no CA %d of mine", k)
	}
	w.lastList, w.lastErr = w.proj.client.ListCertificates(ctx, iotda.ListOptions{Limit: limit, Marker: w.mine[k-1].id})
	return nil
}

func (w *world) pageListsMine(list string) error {
	if w.lastList == nil {
		return fmt.Errorf("no list response (last error: %v)", w.lastErr)
	}
	var want []string
	for _, f := range strings.Split(list, ",") {
		var k int
		if _, err := fmt.Sscan(strings.TrimSpace(f), &k); err != nil || k < 1 || k > len(w.mine) {
			return fmt.Errorf("bad CA number %q", f)
		}
		want = append(want, w.mine[k-1].id)
	}
	var got []string
	for _, c := range w.lastList.Certificates {
		got = append(got, c.CertificateID)
	}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		return fmt.Errorf("the page lists %v, want my CAs %s = %v", got, list, want)
	}
	return nil
}

func (w *world) reportedCountIs(n int) error {
	if w.lastList == nil {
		return fmt.Errorf("no list response (last error: %v)", w.lastErr)
	}
	if w.lastList.Page.Count != int64(n) {
		return fmt.Errorf("page.count is %d, want %d", w.lastList.Page.Count, n)
	}
	return nil
}

// ---- quota [CA-QUOTA] ----

// iUploadMany mints n CAs and uploads them with at most par requests in flight.
func (w *world) iUploadMany(ctx context.Context, n, par int) error {
	cas := make([]*pki.CA, n)
	for i := range cas {
		ca, err := w.newCA(fmt.Sprintf("bulk-%d", w.seq+i))
		if err != nil {
			return err
		}
		cas[i] = ca
	}
	w.seq += n
	w.bulk = bulkResult{refused: map[string]int{}}
	var mu sync.Mutex
	sem := make(chan struct{}, max(par, 1))
	var wg sync.WaitGroup
	p := w.proj
	for _, ca := range cas {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			rec, err := p.client.AddCertificate(ctx, iotda.CreateCertificateDto{Content: string(pki.CertPEM(ca.Cert))})
			mu.Lock()
			defer mu.Unlock()
			w.bulk.add(err)
			if err == nil {
				w.bulkIDs = append(w.bulkIDs, rec.CertificateID)
				id := rec.CertificateID
				w.onCleanup(p, func(ctx context.Context) error { return p.client.DeleteCertificate(ctx, id) })
			}
		})
	}
	wg.Wait()
	return nil
}

func (b *bulkResult) add(err error) {
	var ae *iotda.APIError
	switch {
	case err == nil:
		b.ok++
	case asAPIError(err, &ae) && ae.ErrorCode != "":
		b.refused[ae.ErrorCode]++
	default:
		if len(b.other) < 5 {
			b.other = append(b.other, err.Error())
		} else {
			b.other = append(b.other, "…")
		}
	}
}

func (b bulkResult) String() string {
	return fmt.Sprintf("%d succeeded, refused %v, other failures %v", b.ok, b.refused, b.other)
}

func (w *world) allUploadsSucceed(n int) error {
	if w.bulk.ok != n || len(w.bulk.refused) > 0 || len(w.bulk.other) > 0 {
		return fmt.Errorf("want all %d uploads to succeed: %s", n, w.bulk)
	}
	return nil
}

func (w *world) iUploadAnother(ctx context.Context) error {
	name := w.unique("another-")
	if err := w.aDeviceCA(name); err != nil {
		return err
	}
	_ = w.upload(ctx, w.cas[name], w.proj)
	return nil
}

func (w *world) iDeleteOneOfMine(ctx context.Context) error {
	if len(w.bulkIDs) == 0 {
		return fmt.Errorf("no uploaded CA to delete")
	}
	id := w.bulkIDs[0]
	w.bulkIDs = w.bulkIDs[1:]
	if err := w.proj.client.DeleteCertificate(ctx, id); err != nil {
		return fmt.Errorf("delete CA %s: %w", id, err)
	}
	return nil
}

func (w *world) exactlyUploads(ok, refused int, code string) error {
	b := w.bulk
	if b.ok != ok || b.refused[code] != refused || len(b.refused) != min(refused, 1) || len(b.other) > 0 {
		return fmt.Errorf("want %d uploads to succeed and %d refused with %s: %s", ok, refused, code, b)
	}
	return nil
}

func (w *world) projectListsN(ctx context.Context, n int) error {
	page, err := w.proj.client.ListCertificates(ctx, iotda.ListOptions{Limit: 1})
	if err != nil {
		return fmt.Errorf("list CAs: %w", err)
	}
	if page.Page.Count != int64(n) {
		return fmt.Errorf("the project lists %d device CAs, want %d", page.Page.Count, n)
	}
	return nil
}
