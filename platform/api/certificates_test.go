package api_test

import (
	"crypto/x509"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/certlab/certlab/iotda"
	"github.com/certlab/certlab/platform/registry"
	"github.com/certlab/certlab/sim/pki"
)

// TestCertificateFlow walks upload, show, list, verify and delete over HTTPS
// and checks the wire names and codes. [CA-UPLOAD] [CA-VERIFY] [CA-DUPLICATE] [CA-VALID] [CA-DELETE]
func TestCertificateFlow(t *testing.T) {
	tp := newTestPlatform(t)
	ca := newCA(t, "Flow Root CA")

	up := tp.uploadCA(ca)
	requireFields(t, up, "certificate_id", "cn_name", "owner", "status", "verify_code",
		"provision_enable", "ocsp_enable", "ocsp_ssl_enable", "create_date", "effective_date", "expiry_date")
	requireAbsent(t, up, "name", "content")
	id, _ := up["certificate_id"].(string)
	code, _ := up["verify_code"].(string)
	if id == "" || code == "" {
		t.Fatalf("upload: certificate_id %q verify_code %q must be set", id, code)
	}
	if up["cn_name"] != "Flow Root CA" || up["owner"] != "certlab tests" || up["status"] != false {
		t.Errorf("upload: cn_name %v owner %v status %v", up["cn_name"], up["owner"], up["status"])
	}
	for _, k := range []string{"create_date", "effective_date", "expiry_date"} {
		requireTime(t, k, up[k], iotda.CompactTime)
	}
	if up["expiry_date"] != ca.Cert.NotAfter.UTC().Format(iotda.CompactTime) {
		t.Errorf("expiry_date = %v, want %s", up["expiry_date"], ca.Cert.NotAfter.UTC().Format(iotda.CompactTime))
	}

	show := requireJSON(t, tp.as("GET", tp.v5("/certificates/"+id), nil), http.StatusOK)
	requireFields(t, show, "certificate_id", "name", "content", "verify_code", "status")
	if certs, err := pki.ParseCertsPEM([]byte(show["content"].(string))); err != nil || len(certs) != 1 || !certs[0].Equal(ca.Cert) {
		t.Errorf("show content does not round-trip the CA: %v", err)
	}

	list := requireJSON(t, tp.as("GET", tp.v5("/certificates"), nil), http.StatusOK)
	page := list["page"].(map[string]any)
	if page["count"] != float64(1) || page["marker"] != id {
		t.Errorf("list page = %v, want count 1 marker %s", page, id)
	}
	if certs := list["certificates"].([]any); len(certs) != 1 || certs[0].(map[string]any)["certificate_id"] != id {
		t.Errorf("list certificates = %v", certs)
	}

	// Duplicate upload. [CA-DUPLICATE]
	dup := tp.as("POST", tp.v5("/certificates"), iotda.CreateCertificateDto{Content: string(pki.CertPEM(ca.Cert))})
	requireError(t, dup, http.StatusBadRequest, iotda.CodeCAExists, "already exists")

	verifyPath := tp.v5("/certificates/" + id + "/action?action_id=verify")
	// Proof of possession with the wrong CN, then signed by another CA. [CA-VERIFY]
	wrongCN, err := ca.NewVerificationCert("not-the-code")
	if err != nil {
		t.Fatal(err)
	}
	requireError(t, tp.as("POST", verifyPath, iotda.VerifyCertificateDto{VerifyContent: string(wrongCN.CertPEM())}),
		http.StatusBadRequest, iotda.CodeVerifyFailed, "verifyCode failed")
	foreign, err := newCA(t, "Foreign CA").NewVerificationCert(code)
	if err != nil {
		t.Fatal(err)
	}
	requireError(t, tp.as("POST", verifyPath, iotda.VerifyCertificateDto{VerifyContent: string(foreign.CertPEM())}),
		http.StatusBadRequest, iotda.CodeVerifyFailed, "verifyCode failed")

	good, err := ca.NewVerificationCert(code)
	if err != nil {
		t.Fatal(err)
	}
	body := iotda.VerifyCertificateDto{VerifyContent: string(good.CertPEM())}
	requireError(t, tp.as("POST", tp.v5("/certificates/"+id+"/action"), body), http.StatusBadRequest, iotda.CodeInvalidInput, "action_id")
	requireError(t, tp.as("POST", tp.v5("/certificates/"+id+"/action?action_id=generate"), body), http.StatusBadRequest, iotda.CodeInvalidInput, "action_id")
	requireError(t, tp.as("POST", verifyPath, map[string]any{}), http.StatusBadRequest, iotda.CodeInvalidInput, "verify_content")
	requireEmpty(t, tp.as("POST", verifyPath, body), http.StatusOK)
	if show := requireJSON(t, tp.as("GET", tp.v5("/certificates/"+id), nil), http.StatusOK); show["status"] != true {
		t.Errorf("after verify: status = %v, want true", show["status"])
	}

	// Delete, then it is gone. [CA-DELETE]
	requireEmpty(t, tp.as("DELETE", tp.v5("/certificates/"+id), nil), http.StatusNoContent)
	requireError(t, tp.as("GET", tp.v5("/certificates/"+id), nil), http.StatusNotFound, iotda.CodeNotFound, "not found")
	requireError(t, tp.as("DELETE", tp.v5("/certificates/"+id), nil), http.StatusNotFound, iotda.CodeNotFound, "not found")
	list = requireJSON(t, tp.as("GET", tp.v5("/certificates"), nil), http.StatusOK)
	if page := list["page"].(map[string]any); page["count"] != float64(0) || page["marker"] != "" || len(list["certificates"].([]any)) != 0 {
		t.Errorf("list after delete = %v", list)
	}
}

// TestCertificateInvalid: uploads that are not usable CAs are 400 IOTDA.014301
// naming the problem. [CA-VALID]
func TestCertificateInvalid(t *testing.T) {
	tp := newTestPlatform(t)
	ca := newCA(t, "Issuer")
	leaf, err := ca.NewDeviceCert("device-1")
	if err != nil {
		t.Fatal(err)
	}
	notCA, err := pki.NewRootCA("Not a CA", pki.WithIsCA(false), pki.WithKeyUsage(x509.KeyUsageDigitalSignature))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		content string
		code    string
	}{
		{"garbage", "hello", iotda.CodeInvalidCert},
		{"leaf certificate", string(pki.CertPEM(leaf.Cert)), iotda.CodeInvalidCert},
		{"CA:FALSE root", string(pki.CertPEM(notCA.Cert)), iotda.CodeInvalidCert},
		{"empty content", "", iotda.CodeInvalidInput},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tp := tp.in(t)
			r := tp.as("POST", tp.v5("/certificates"), iotda.CreateCertificateDto{Content: tt.content})
			requireError(t, r, http.StatusBadRequest, tt.code, "")
		})
	}
	if _, cas, _, _, _ := tp.reg.Counts(); cas != 0 {
		t.Fatalf("registry holds %d CAs after refused uploads, want 0", cas)
	}
}

// TestCAQuotaAndPaging fills the quota over HTTP (16 concurrent uploaders),
// checks that the 101st is refused, and pages through the list. [CA-QUOTA] [CA-LIST]
func TestCAQuotaAndPaging(t *testing.T) {
	tp := newTestPlatform(t)
	cas := make([]*pki.CA, registry.MaxCAsPerProject+1)
	for i := range cas {
		cas[i] = newCA(t, fmt.Sprintf("Quota CA %03d", i))
	}
	var wg sync.WaitGroup
	results := make([]response, registry.MaxCAsPerProject)
	errs := make([]error, registry.MaxCAsPerProject)
	work := make(chan int)
	for range 16 {
		wg.Go(func() {
			for i := range work {
				results[i], errs[i] = tp.try("POST", tp.v5("/certificates"),
					iotda.CreateCertificateDto{Content: string(pki.CertPEM(cas[i].Cert))}, signed(creds(tp.proj)))
			}
		})
	}
	for i := range registry.MaxCAsPerProject {
		work <- i
	}
	close(work)
	wg.Wait()
	for i := range results {
		if errs[i] != nil {
			t.Fatalf("upload %d: %v", i, errs[i])
		}
		requireStatus(t, results[i], http.StatusCreated)
	}
	r := tp.as("POST", tp.v5("/certificates"), iotda.CreateCertificateDto{Content: string(pki.CertPEM(cas[registry.MaxCAsPerProject].Cert))})
	requireError(t, r, http.StatusBadRequest, iotda.CodeCAQuota, "limit")
	// The quota is per project: the other tenant can still upload. [CA-QUOTA]
	r = tp.do("POST", "/v5/iot/"+tp.other.ID+"/certificates", iotda.CreateCertificateDto{Content: string(pki.CertPEM(cas[registry.MaxCAsPerProject].Cert))}, signed(creds(tp.other)))
	requireStatus(t, r, http.StatusCreated)

	// Page through 100 CAs, 30 at a time: newest first, no repeats, count = total. [CA-LIST]
	seen := map[string]bool{}
	marker, prev := "", ""
	for pageNo := 0; ; pageNo++ {
		path := tp.v5("/certificates?limit=30")
		if marker != "" {
			path += "&marker=" + marker
		}
		m := requireJSON(t, tp.as("GET", path, nil), http.StatusOK)
		page := m["page"].(map[string]any)
		if page["count"] != float64(registry.MaxCAsPerProject) {
			t.Fatalf("page %d: count = %v, want %d", pageNo, page["count"], registry.MaxCAsPerProject)
		}
		items := m["certificates"].([]any)
		if len(items) == 0 {
			break
		}
		if len(items) > 30 {
			t.Fatalf("page %d has %d items, limit 30", pageNo, len(items))
		}
		for _, it := range items {
			id := it.(map[string]any)["certificate_id"].(string)
			if seen[id] {
				t.Fatalf("page %d repeats %s", pageNo, id)
			}
			if prev != "" && strings.Compare(id, prev) >= 0 {
				t.Fatalf("page %d: %s after %s, want descending IDs", pageNo, id, prev)
			}
			seen[id], prev = true, id
		}
		if page["marker"] != prev {
			t.Fatalf("page %d: marker = %v, want the last ID %s", pageNo, page["marker"], prev)
		}
		marker = prev
	}
	if len(seen) != registry.MaxCAsPerProject {
		t.Fatalf("paged through %d CAs, want %d", len(seen), registry.MaxCAsPerProject)
	}
	// offset skips records after the marker.
	m := requireJSON(t, tp.as("GET", tp.v5("/certificates?limit=5&offset=95"), nil), http.StatusOK)
	if n := len(m["certificates"].([]any)); n != 5 {
		t.Fatalf("offset 95 limit 5: %d items, want 5", n)
	}
	m = requireJSON(t, tp.as("GET", tp.v5("/certificates?limit=5&offset=98"), nil), http.StatusOK)
	if n := len(m["certificates"].([]any)); n != 2 {
		t.Fatalf("offset 98 limit 5: %d items, want 2", n)
	}
}
