package api_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/certlab/certlab/iotda"
	"github.com/certlab/certlab/platform/api"
	"github.com/certlab/certlab/sim/pki"
)

// TestAuthentication: AK/SK (both schemes) and X-Auth-Token are accepted;
// everything else is 401 IOTDA.000002 saying why; another project's
// credentials are 403 IOTDA.000022 (tenant isolation).
func TestAuthentication(t *testing.T) {
	tp := newTestPlatform(t)
	path := tp.v5("/certificates")
	wrongSK := creds(tp.proj)
	wrongSK.SecretKey = "not-the-secret-key-at-all"
	unknownAK := creds(tp.proj)
	unknownAK.AccessKey = "AKNOSUCHKEY000000000"
	derived := creds(tp.proj)
	derived.Derived, derived.Region = true, "cn-north-4"
	tamper := func(t *testing.T, r *http.Request, body []byte) {
		signed(creds(tp.proj))(t, r, body)
		r.URL.RawQuery = "limit=2" // the signature covered no query
	}

	tests := []struct {
		name    string
		auth    authFunc
		status  int
		code    string
		msgPart string
	}{
		{"SDK-HMAC-SHA256", signed(creds(tp.proj)), 200, "", ""},
		{"V11-HMAC-SHA256", signed(derived), 200, "", ""},
		{"token", header("X-Auth-Token", tp.proj.Token), 200, "", ""},
		{"no credentials", noAuth, 401, iotda.CodeUnauthorized, "missing Authorization or X-Auth-Token"},
		{"wrong secret key", signed(wrongSK), 401, iotda.CodeUnauthorized, "signature mismatch"},
		{"unknown access key", signed(unknownAK), 401, iotda.CodeUnauthorized, "unknown access key"},
		{"stale X-Sdk-Date", signedAt(creds(tp.proj), time.Now().Add(-20*time.Minute)), 401, iotda.CodeUnauthorized, "clock skew"},
		{"future X-Sdk-Date", signedAt(creds(tp.proj), time.Now().Add(20*time.Minute)), 401, iotda.CodeUnauthorized, "clock skew"},
		{"tampered query", tamper, 401, iotda.CodeUnauthorized, "signature mismatch"},
		{"garbage Authorization", header("Authorization", "Basic dXNlcjpwYXNz"), 401, iotda.CodeUnauthorized, "malformed Authorization"},
		{"wrong token", header("X-Auth-Token", "nope"), 401, iotda.CodeUnauthorized, "invalid X-Auth-Token"},
		{"other project's AK/SK", signed(creds(tp.other)), 403, iotda.CodeForbidden, tp.proj.ID},
		{"other project's token", header("X-Auth-Token", tp.other.Token), 403, iotda.CodeForbidden, "permission"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tp := tp.in(t)
			r := tp.do("GET", path, nil, tt.auth)
			if tt.code == "" {
				requireJSON(t, r, tt.status)
				return
			}
			requireError(t, r, tt.status, tt.code, tt.msgPart)
		})
	}

	// A body changed after signing is refused: the signature covers its hash.
	t.Run("tampered body", func(t *testing.T) {
		tp := tp.in(t)
		ca := newCA(t, "Tamper CA")
		signedBody := []byte(`{"content":"x"}`)
		auth := func(t *testing.T, r *http.Request, _ []byte) { signed(creds(tp.proj))(t, r, signedBody) }
		r := tp.do("POST", path, iotda.CreateCertificateDto{Content: string(pki.CertPEM(ca.Cert))}, auth)
		requireError(t, r, http.StatusUnauthorized, iotda.CodeUnauthorized, "signature mismatch")
		if _, cas, _, _, _ := tp.reg.Counts(); cas != 0 {
			t.Fatalf("a refused request stored %d CAs", cas)
		}
	})

	// Routes other than certificates are guarded too.
	for _, p := range []string{"/products", "/devices", "/devices/x", "/certificates/x"} {
		requireError(t, tp.do("GET", tp.v5(p), nil, noAuth), http.StatusUnauthorized, iotda.CodeUnauthorized, "")
		requireError(t, tp.do("GET", "/v5/iot/"+tp.proj.ID+p, nil, signed(creds(tp.other))), http.StatusForbidden, iotda.CodeForbidden, "")
	}
	requireError(t, tp.do("GET", "/certlab/v1/login-attempts", nil, noAuth), http.StatusUnauthorized, iotda.CodeUnauthorized, "")
}

// TestTenantIsolation: a project's resources are invisible through another
// project's credentials and path.
func TestTenantIsolation(t *testing.T) {
	tp := newTestPlatform(t)
	id := tp.uploadCA(newCA(t, "A's CA"))["certificate_id"].(string)
	tp.createProduct("meter", "MQTT")
	requireJSON(t, tp.as("POST", tp.v5("/devices"), map[string]any{"device_id": "a-dev", "node_id": "n1", "product_id": "meter"}), http.StatusCreated)

	b := func(method, rest string) response {
		return tp.do(method, "/v5/iot/"+tp.other.ID+rest, nil, signed(creds(tp.other)))
	}
	for _, rest := range []string{"/certificates/" + id, "/products/meter", "/devices/a-dev", "/devices/a-dev/shadow"} {
		requireError(t, b("GET", rest), http.StatusNotFound, iotda.CodeNotFound, "")
	}
	requireError(t, b("DELETE", "/certificates/"+id), http.StatusNotFound, iotda.CodeNotFound, "")
	requireError(t, b("POST", "/devices/a-dev/freeze"), http.StatusNotFound, iotda.CodeNotFound, "")
	for _, rest := range []string{"/certificates", "/products", "/devices"} {
		m := requireJSON(t, b("GET", rest), http.StatusOK)
		if m["page"].(map[string]any)["count"] != float64(0) {
			t.Errorf("B lists A's resources at %s: %v", rest, m)
		}
	}
	if st := requireJSON(t, tp.as("GET", tp.v5("/devices/a-dev"), nil), http.StatusOK)["status"]; st == iotda.StatusFrozen {
		t.Fatalf("B froze A's device")
	}
}

// TestAdminProjects: project creation needs the admin token; the returned
// credentials work at once.
func TestAdminProjects(t *testing.T) {
	tp := newTestPlatform(t)
	const path = "/certlab/v1/projects"
	body := map[string]any{"name": "tenant-c"}
	requireError(t, tp.do("POST", path, body, noAuth), http.StatusUnauthorized, iotda.CodeUnauthorized, "missing X-Certlab-Admin-Token")
	requireError(t, tp.do("POST", path, body, header("X-Certlab-Admin-Token", adminToken+"x")), http.StatusUnauthorized, iotda.CodeUnauthorized, "invalid")
	requireError(t, tp.do("POST", path, body, signed(creds(tp.proj))), http.StatusUnauthorized, iotda.CodeUnauthorized, "")
	requireError(t, tp.do("POST", path, map[string]any{}, header("X-Certlab-Admin-Token", adminToken)), http.StatusBadRequest, iotda.CodeInvalidInput, "name")

	m := requireJSON(t, tp.do("POST", path, body, header("X-Certlab-Admin-Token", adminToken)), http.StatusCreated)
	requireFields(t, m, "project_id", "name", "access_key", "secret_key", "token")
	c := iotda.Credentials{AccessKey: m["access_key"].(string), SecretKey: m["secret_key"].(string), ProjectID: m["project_id"].(string)}
	requireJSON(t, tp.do("GET", "/v5/iot/"+c.ProjectID+"/devices", nil, signed(c)), http.StatusOK)
	requireJSON(t, tp.do("GET", "/v5/iot/"+c.ProjectID+"/devices", nil, header("X-Auth-Token", m["token"].(string))), http.StatusOK)
	// Names are unique.
	r := tp.do("POST", path, body, header("X-Certlab-Admin-Token", adminToken))
	if r.status < 400 || r.status >= 500 {
		t.Fatalf("duplicate project name: status %d, want 4xx; body %s", r.status, r.body)
	}

	t.Run("disabled without admin token", func(t *testing.T) {
		tp := newTestPlatform(t, func(c *api.Config) { c.AdminToken = "" })
		requireError(t, tp.do("POST", path, body, header("X-Certlab-Admin-Token", "")), http.StatusUnauthorized, iotda.CodeUnauthorized, "disabled")
		requireError(t, tp.do("POST", path, body, header("X-Certlab-Admin-Token", "anything")), http.StatusUnauthorized, iotda.CodeUnauthorized, "disabled")
	})
}

// TestRouting: healthz needs no auth; unknown paths are 404 and wrong
// methods 405, both in IoTDA form.
func TestRouting(t *testing.T) {
	tp := newTestPlatform(t)
	m := requireJSON(t, tp.do("GET", "/certlab/v1/healthz", nil, noAuth), http.StatusOK)
	if m["status"] != "ok" || len(m) != 1 {
		t.Fatalf("healthz = %v", m)
	}
	requireError(t, tp.do("GET", "/v5/iot/"+tp.proj.ID+"/widgets", nil, signed(creds(tp.proj))), http.StatusNotFound, iotda.CodeNotFound, "/widgets")
	requireError(t, tp.do("GET", "/", nil, noAuth), http.StatusNotFound, iotda.CodeNotFound, "")
	r := tp.do("PATCH", tp.v5("/devices"), nil, signed(creds(tp.proj)))
	requireError(t, r, http.StatusMethodNotAllowed, iotda.CodeMethodNotAllowed, "PATCH")
	if allow := r.header.Get("Allow"); allow == "" {
		t.Errorf("405 without Allow header")
	}
	requireError(t, tp.do("PUT", tp.v5("/certificates"), nil, noAuth), http.StatusMethodNotAllowed, iotda.CodeMethodNotAllowed, "")
}
