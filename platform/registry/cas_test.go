package registry

import (
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/certlab/certlab/sim/pki"
)

var (
	reUUID4 = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)
	reHex24 = regexp.MustCompile(`^[0-9a-f]{24}$`)
)

func TestAddCARecord(t *testing.T) {
	r, _ := openTest(t, Options{})
	p := mustProject(t, r, "p")
	root := mustRootCA(t, "Device Root", pki.WithOrganization("Acme"))
	rec, err := r.AddCA(testCtx(t), p.ID, "space1", caPEM(root))
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(root.Cert.Raw)
	switch {
	case !reHex24.MatchString(rec.ID):
		t.Errorf("ID = %q, want 24 lowercase hex", rec.ID)
	case rec.CNName != "Device Root" || rec.Owner != "Acme":
		t.Errorf("CN/Owner = %q/%q, want Device Root/Acme", rec.CNName, rec.Owner)
	case rec.Verified:
		t.Errorf("a new CA is verified")
	case !reUUID4.MatchString(rec.VerifyCode):
		t.Errorf("VerifyCode = %q, want a UUID v4", rec.VerifyCode)
	case rec.SHA256 != hex.EncodeToString(sum[:]):
		t.Errorf("SHA256 = %s", rec.SHA256)
	case rec.AppID != "space1" || rec.ProjectID != p.ID:
		t.Errorf("AppID/ProjectID = %q/%q", rec.AppID, rec.ProjectID)
	case rec.PEM != caPEM(root):
		t.Errorf("PEM not normalised to one block")
	case !rec.Cert.Equal(root.Cert):
		t.Errorf("Cert differs")
	}
	got, err := r.CA(p.ID, rec.ID)
	if err != nil || got.ID != rec.ID {
		t.Fatalf("CA() = %v, %v", got.ID, err)
	}
	if _, err := r.CA("nope", rec.ID); !errors.Is(err, ErrNotFound) {
		t.Errorf("CA(unknown project) err = %v, want ErrNotFound", err)
	}
	other := mustProject(t, r, "other")
	if _, err := r.CA(other.ID, rec.ID); !errors.Is(err, ErrNotFound) {
		t.Errorf("CA(other project) err = %v, want ErrNotFound", err)
	}
	// IDs increase with creation.
	rec2 := mustAddCA(t, r, p.ID, mustRootCA(t, "second"))
	if rec2.ID <= rec.ID {
		t.Errorf("second ID %s not greater than first %s", rec2.ID, rec.ID)
	}
}

func TestAddCAValidation(t *testing.T) {
	now := time.Now().UTC().Truncate(time.Second)
	good := caPEM(mustRootCA(t, "good"))
	leaf, err := mustRootCA(t, "issuer").NewDeviceCert("dev")
	if err != nil {
		t.Fatal(err)
	}
	expiredAt := now.Add(-24 * time.Hour)
	notBefore := now.Add(24 * time.Hour)
	keyPEM, _ := pki.KeyPEM(mustRootCA(t, "k").Key)
	cases := []struct {
		name    string
		content string
		want    error
		substr  string
	}{
		{"empty", "", ErrInvalidCert, "malformed PEM"},
		{"not PEM", "hello world", ErrInvalidCert, "malformed PEM: no PEM block"},
		{"text before", "junk\n" + good, ErrInvalidCert, "unexpected text before"},
		{"text after", good + "junk\n", ErrInvalidCert, "unexpected text after"},
		{"two blocks", good + good, ErrInvalidCert, "more than one PEM block"},
		{"truncated", good[:len(good)-30], ErrInvalidCert, "malformed PEM"},
		{"private key block", string(keyPEM), ErrInvalidCert, `block type is "PRIVATE KEY"`},
		{"garbage DER", string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: []byte("garbage")})), ErrInvalidCert, "not an X.509 certificate"},
		{"too long", strings.Repeat(" ", maxCAContent+1-len(good)) + good, ErrInvalidCert, "at most 65535"},
		{"leaf certificate", string(pki.CertPEM(leaf.Cert)), ErrInvalidCert, "not a CA: no basicConstraints"},
		{"CA:FALSE", caPEM(mustRootCA(t, "nca", pki.WithIsCA(false))), ErrInvalidCert, "not a CA: basicConstraints CA:FALSE"},
		{"no keyCertSign", caPEM(mustRootCA(t, "nku", pki.WithKeyUsage(x509.KeyUsageDigitalSignature))), ErrInvalidCert, "no keyCertSign key usage"},
		{"expired", caPEM(mustRootCA(t, "old", pki.WithValidity(now.Add(-48*time.Hour), expiredAt))), ErrInvalidCert,
			"expired on " + expiredAt.Format(time.RFC3339)},
		{"not yet valid", caPEM(mustRootCA(t, "new", pki.WithValidity(notBefore, now.Add(48*time.Hour)))), ErrInvalidCert,
			"not yet valid: valid from " + notBefore.Format(time.RFC3339)},
	}
	r, _ := openTest(t, Options{Now: func() time.Time { return now }})
	p := mustProject(t, r, "p")
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := r.AddCA(testCtx(t), p.ID, "", tc.content)
			requireErr(t, err, tc.want, tc.substr)
		})
	}
	t.Run("surrounding whitespace is fine", func(t *testing.T) {
		if _, err := r.AddCA(testCtx(t), p.ID, "", "\n  "+good+"\n\n"); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("intermediate CA is fine", func(t *testing.T) {
		inter, err := mustRootCA(t, "root2").NewIntermediate("inter")
		if err != nil {
			t.Fatal(err)
		}
		mustAddCA(t, r, p.ID, inter)
	})
	t.Run("unknown project", func(t *testing.T) {
		_, err := r.AddCA(testCtx(t), "nope", "", good)
		requireErr(t, err, ErrNotFound, "project")
	})
	if _, cas, _, _, _ := r.Counts(); cas != 2 {
		t.Errorf("Counts cas = %d, want 2 (only the accepted uploads)", cas)
	}
}

func TestAddCADuplicate(t *testing.T) {
	r, _ := openTest(t, Options{})
	p1 := mustProject(t, r, "p1")
	p2 := mustProject(t, r, "p2")
	root := mustRootCA(t, "dup")
	mustAddCA(t, r, p1.ID, root)
	_, err := r.AddCA(testCtx(t), p1.ID, "", caPEM(root))
	requireErr(t, err, ErrCAExists, "already uploaded")
	// [CA-DUPLICATE] is per project: another project may upload the same CA.
	mustAddCA(t, r, p2.ID, root)
}

// TestCAQuotaConcurrent: 300 concurrent uploads of distinct CAs leave exactly
// 100; the 101st is refused; deleting one makes room for one. [CA-QUOTA]
func TestCAQuotaConcurrent(t *testing.T) {
	r, _ := openTest(t, Options{})
	p := mustProject(t, r, "quota")
	const n = 300
	pems := make([]string, n)
	for i := range pems {
		pems[i] = caPEM(mustRootCA(t, "ca-"+strings.Repeat("x", i%7)))
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var ok, quota int
	var other []error
	for i := range n {
		wg.Go(func() {
			_, err := r.AddCA(testCtx(t), p.ID, "", pems[i])
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				ok++
			case errors.Is(err, ErrCAQuota):
				quota++
			default:
				other = append(other, err)
			}
		})
	}
	wg.Wait()
	if ok != MaxCAsPerProject || quota != n-MaxCAsPerProject || len(other) != 0 {
		t.Fatalf("ok=%d quota=%d other=%v, want ok=100 quota=200", ok, quota, other)
	}
	list, total, err := r.ListCAs(p.ID, "", Page{Limit: 50})
	if err != nil || total != MaxCAsPerProject {
		t.Fatalf("ListCAs total = %d, %v; want 100", total, err)
	}
	_, err = r.AddCA(testCtx(t), p.ID, "", caPEM(mustRootCA(t, "101st")))
	requireErr(t, err, ErrCAQuota, "limit 100")

	// Other projects have their own quota.
	q2 := mustProject(t, r, "quota2")
	mustAddCA(t, r, q2.ID, mustRootCA(t, "elsewhere"))

	if err := r.DeleteCA(testCtx(t), p.ID, list[0].ID); err != nil {
		t.Fatal(err)
	}
	mustAddCA(t, r, p.ID, mustRootCA(t, "after delete"))
	_, err = r.AddCA(testCtx(t), p.ID, "", caPEM(mustRootCA(t, "one too many")))
	requireErr(t, err, ErrCAQuota, "CA quota reached")
}

func TestCAQuotaOption(t *testing.T) {
	r, _ := openTest(t, Options{MaxCAsPerProject: 2})
	p := mustProject(t, r, "p")
	mustAddCA(t, r, p.ID, mustRootCA(t, "a"))
	mustAddCA(t, r, p.ID, mustRootCA(t, "b"))
	_, err := r.AddCA(testCtx(t), p.ID, "", caPEM(mustRootCA(t, "c")))
	requireErr(t, err, ErrCAQuota, "limit 2")
}

func TestVerifyCA(t *testing.T) {
	now := time.Now().UTC().Truncate(time.Second)
	r, _ := openTest(t, Options{Now: func() time.Time { return now }})
	p := mustProject(t, r, "p")
	root := mustRootCA(t, "root")
	foreign := mustRootCA(t, "foreign")
	rec := mustAddCA(t, r, p.ID, root)
	vc := func(signer *pki.CA, cn string, opts ...pki.Option) string {
		t.Helper()
		l, err := signer.NewVerificationCert(cn, opts...)
		if err != nil {
			t.Fatal(err)
		}
		return string(l.CertPEM())
	}
	expiredAt := now.Add(-time.Hour)
	cases := []struct {
		name   string
		caID   string
		pem    string
		want   error
		substr string
	}{
		{"malformed", rec.ID, "not a certificate", ErrVerifyFailed, "malformed PEM"},
		{"garbage DER", rec.ID, string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: []byte{1, 2}})), ErrVerifyFailed, "not an X.509 certificate"},
		{"wrong CN", rec.ID, vc(root, "not-the-code"), ErrVerifyFailed, `CN "not-the-code" does not match verify_code`},
		{"foreign signer", rec.ID, vc(foreign, rec.VerifyCode), ErrVerifyFailed, "not signed by the CA's key"},
		{"expired proof", rec.ID, vc(root, rec.VerifyCode, pki.WithValidity(now.Add(-2*time.Hour), expiredAt)), ErrVerifyFailed,
			"verification certificate expired on " + expiredAt.Format(time.RFC3339)},
		{"not yet valid proof", rec.ID, vc(root, rec.VerifyCode, pki.WithValidity(now.Add(time.Hour), now.Add(2*time.Hour))), ErrVerifyFailed,
			"verification certificate not yet valid"},
		{"unknown CA", "000000000000000000000000", vc(root, rec.VerifyCode), ErrNotFound, "not found"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := r.VerifyCA(testCtx(t), p.ID, tc.caID, tc.pem)
			requireErr(t, err, tc.want, tc.substr)
			if got, _ := r.CA(p.ID, rec.ID); got.Verified {
				t.Fatalf("CA verified by a failed proof")
			}
		})
	}
	var log eventLog
	r.OnChange(log.add)
	if err := r.VerifyCA(testCtx(t), p.ID, rec.ID, vc(root, rec.VerifyCode)); err != nil {
		t.Fatal(err)
	}
	if got, _ := r.CA(p.ID, rec.ID); !got.Verified {
		t.Fatal("CA not verified after a good proof")
	}
	if ev := log.take(); len(ev) != 1 || ev[0].Kind != EventTrustChanged {
		t.Errorf("events = %s, want one EventTrustChanged", fmtEvents(ev))
	}
	// Idempotent: verifying again succeeds.
	if err := r.VerifyCA(testCtx(t), p.ID, rec.ID, vc(root, rec.VerifyCode)); err != nil {
		t.Fatalf("second verify: %v", err)
	}
	if _, _, verified, _, _ := r.Counts(); verified != 1 {
		t.Errorf("Counts verified = %d, want 1", verified)
	}
	// Another project cannot verify this project's CA.
	other := mustProject(t, r, "other")
	requireErr(t, r.VerifyCA(testCtx(t), other.ID, rec.ID, vc(root, rec.VerifyCode)), ErrNotFound, "not found")
}

func TestDeleteCA(t *testing.T) {
	r, _ := openTest(t, Options{})
	p := mustProject(t, r, "p")
	other := mustProject(t, r, "other")
	rec := mustAddCA(t, r, p.ID, mustRootCA(t, "root"))
	var log eventLog
	r.OnChange(log.add)
	requireErr(t, r.DeleteCA(testCtx(t), other.ID, rec.ID), ErrNotFound, "not found")
	requireErr(t, r.DeleteCA(testCtx(t), p.ID, "ffffffffffffffffffffffff"), ErrNotFound, "not found")
	if ev := log.take(); len(ev) != 0 {
		t.Fatalf("failed deletes emitted %s", fmtEvents(ev))
	}
	if err := r.DeleteCA(testCtx(t), p.ID, rec.ID); err != nil {
		t.Fatal(err)
	}
	ev := log.take()
	if len(ev) != 2 || ev[0] != (Event{Kind: EventCADeleted, CAID: rec.ID}) || ev[1].Kind != EventTrustChanged {
		t.Fatalf("events = %s, want CADeleted{%s} then TrustChanged", fmtEvents(ev), rec.ID)
	}
	if _, err := r.CA(p.ID, rec.ID); !errors.Is(err, ErrNotFound) {
		t.Errorf("CA after delete: %v, want ErrNotFound", err)
	}
	requireErr(t, r.DeleteCA(testCtx(t), p.ID, rec.ID), ErrNotFound, "not found")
}

func TestListCAsPaging(t *testing.T) {
	r, _ := openTest(t, Options{})
	p := mustProject(t, r, "p")
	var ids []string // creation order
	for i := range 12 {
		app := "a"
		if i%3 == 0 {
			app = "b"
		}
		rec, err := r.AddCA(testCtx(t), p.ID, app, caPEM(mustRootCA(t, "ca")))
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, rec.ID)
	}
	desc := func(from, to int) []string { // ids[to-1] down to ids[from]
		var out []string
		for i := to - 1; i >= from; i-- {
			out = append(out, ids[i])
		}
		return out
	}
	idsOf := func(cas []CA) []string {
		out := []string{}
		for _, c := range cas {
			out = append(out, c.ID)
		}
		return out
	}
	cases := []struct {
		name  string
		app   string
		page  Page
		want  []string
		total int64
	}{
		{"first page", "", Page{Limit: 5}, desc(7, 12), 12},
		{"default limit 10", "", Page{}, desc(2, 12), 12},
		{"after marker", "", Page{Limit: 5, Marker: ids[7]}, desc(2, 7), 12},
		{"last page", "", Page{Limit: 5, Marker: ids[2]}, desc(0, 2), 12},
		{"marker and offset", "", Page{Limit: 3, Marker: ids[10], Offset: 2}, desc(5, 8), 12},
		{"offset past the end", "", Page{Limit: 5, Offset: 500}, desc(0, 0), 12},
		{"IoTDA default marker", "", Page{Limit: 2, Marker: "FFFFFFFFFFFFFFFFFFFFFFFF"}, desc(10, 12), 12},
		{"app filter", "b", Page{Limit: 50}, []string{ids[9], ids[6], ids[3], ids[0]}, 4},
		{"app filter with marker", "b", Page{Limit: 1, Marker: ids[9]}, []string{ids[6]}, 4},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, total, err := r.ListCAs(p.ID, tc.app, tc.page)
			if err != nil {
				t.Fatal(err)
			}
			if g, w := strings.Join(idsOf(got), ","), strings.Join(tc.want, ","); g != w || total != tc.total {
				t.Fatalf("got %s (total %d), want %s (total %d)", g, total, w, tc.total)
			}
		})
	}
	bad := []struct {
		name   string
		page   Page
		substr string
	}{
		{"limit too big", Page{Limit: 51}, "limit must be 1..50"},
		{"negative limit", Page{Limit: -1}, "limit must be 1..50"},
		{"offset too big", Page{Offset: 501}, "offset must be 0..500"},
		{"negative offset", Page{Offset: -1}, "offset must be 0..500"},
		{"short marker", Page{Marker: "abc"}, "marker must be 24 hex digits"},
		{"non-hex marker", Page{Marker: "zzzzzzzzzzzzzzzzzzzzzzzz"}, "marker must be 24 hex digits"},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := r.ListCAs(p.ID, "", tc.page)
			requireErr(t, err, ErrInvalidInput, tc.substr)
		})
	}
	_, _, err := r.ListCAs("nope", "", Page{})
	requireErr(t, err, ErrNotFound, "project")
}
