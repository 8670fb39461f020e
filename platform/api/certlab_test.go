package api_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/certlab/certlab/iotda"
	"github.com/certlab/certlab/platform/api"
)

// TestLoginAttempts: a project sees its own attempts and project-less TLS
// refusals, never another tenant's; limit is validated and passed on.
func TestLoginAttempts(t *testing.T) {
	tp := newTestPlatform(t)
	tp.devices.attempts = []iotda.LoginAttempt{
		{Outcome: "success", Stage: iotda.StageConnect, Reason: iotda.ReasonOK, DeviceID: "a-1", ProjectID: tp.proj.ID},
		{Outcome: "refused", Stage: iotda.StageConnect, Reason: iotda.ReasonFingerprintMismatch, DeviceID: "b-1", ProjectID: tp.other.ID},
		{Outcome: "refused", Stage: iotda.StageTLS, Reason: iotda.ReasonUnknownCA},
		{Outcome: "refused", Stage: iotda.StageConnect, Reason: iotda.ReasonDeviceNotFound, DeviceID: "ghost"},
		{Outcome: "refused", Stage: iotda.StageConnect, Reason: iotda.ReasonDeviceFrozen, DeviceID: "a-1", ProjectID: tp.proj.ID},
		{Outcome: "refused", Stage: iotda.StageTLS, Reason: iotda.ReasonCANotVerified, CAID: "x", ProjectID: tp.other.ID},
	}
	get := func(query string) iotda.ListLoginAttemptsResponse {
		t.Helper()
		r := tp.as("GET", "/certlab/v1/login-attempts"+query, nil)
		m := requireJSON(t, r, http.StatusOK)
		requireFields(t, m, "attempts", "count")
		var out iotda.ListLoginAttemptsResponse
		if err := json.Unmarshal(r.body, &out); err != nil {
			t.Fatal(err)
		}
		if out.Count != len(out.Attempts) {
			t.Fatalf("count %d != %d attempts", out.Count, len(out.Attempts))
		}
		return out
	}
	reasons := func(as []iotda.LoginAttempt) []string {
		var out []string
		for _, a := range as {
			out = append(out, string(a.Reason))
		}
		return out
	}

	all := get("")
	if got, want := reasons(all.Attempts), []string{"ok", "unknown_ca", "device_frozen"}; !slices.Equal(got, want) {
		t.Errorf("project A sees %v, want %v", got, want)
	}
	if tp.devices.lastLimit != 100 {
		t.Errorf("default limit passed to the broker = %d, want 100", tp.devices.lastLimit)
	}
	if got := reasons(get("?device_id=a-1&reason=device_frozen&limit=10000").Attempts); !slices.Equal(got, []string{"device_frozen"}) {
		t.Errorf("filtered = %v", got)
	}
	if got := reasons(get("?device_id=b-1").Attempts); len(got) != 0 {
		t.Errorf("project A sees B's device: %v", got)
	}
	for _, q := range []string{"?limit=0", "?limit=10001", "?limit=ten"} {
		requireError(t, tp.as("GET", "/certlab/v1/login-attempts"+q, nil), http.StatusBadRequest, iotda.CodeLimitOutOfRange, "limit")
	}
}

// TestLoginAttemptsPageIsBounded: whatever limit asks for, a page is at
// most 1 MiB of JSON, newest attempts first, and says it was truncated.
func TestLoginAttemptsPageIsBounded(t *testing.T) {
	tp := newTestPlatform(t)
	// 3,000 attempts of ~1.6 KiB of JSON each (HTML-escaped '<' is 6 bytes).
	big := strings.Repeat("<", 256)
	for i := range 3000 {
		tp.devices.attempts = append(tp.devices.attempts, iotda.LoginAttempt{Outcome: "refused", Stage: iotda.StageConnect,
			Reason: iotda.ReasonClientIDFormat, ProjectID: tp.proj.ID, ClientID: big, Detail: fmt.Sprint(i)})
	}
	for _, q := range []string{"", "?limit=10000"} {
		r := tp.as("GET", "/certlab/v1/login-attempts"+q, nil)
		var out iotda.ListLoginAttemptsResponse
		requireJSON(t, r, http.StatusOK)
		if err := json.Unmarshal(r.body, &out); err != nil {
			t.Fatal(err)
		}
		switch {
		case len(r.body) > 1<<20:
			t.Errorf("%q: a page of %d bytes, more than 1 MiB", q, len(r.body))
		case q == "" && (out.Truncated || out.Count != 100):
			t.Errorf("%q: default page of %d attempts, truncated=%v; want 100 whole", q, out.Count, out.Truncated)
		case q != "" && (!out.Truncated || out.Count < 500 || out.Count >= 3000):
			t.Errorf("%q: %d attempts in %d bytes, truncated=%v; want the page cut near 1 MiB", q, out.Count, len(r.body), out.Truncated)
		case out.Attempts[0].Detail != "0" || out.Attempts[out.Count-1].Detail != fmt.Sprint(out.Count-1):
			t.Errorf("%q: the page is not the newest attempts in order", q)
		}
	}
}

// TestMetrics: the metrics pass the linter, a request increments the
// counter under its route pattern, and registry gauges follow the registry.
func TestMetrics(t *testing.T) {
	tp := newTestPlatform(t)
	requireJSON(t, tp.do("GET", "/certlab/v1/healthz", nil, noAuth), http.StatusOK)
	requireJSON(t, tp.as("GET", tp.v5("/devices/nope"), nil), http.StatusNotFound)
	requireError(t, tp.do("GET", "/no/such/path/123", nil, noAuth), http.StatusNotFound, iotda.CodeNotFound, "")
	tp.uploadCA(newCA(t, "Metrics CA"))

	problems, err := testutil.GatherAndLint(tp.prom)
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	for _, p := range problems {
		t.Errorf("lint %s: %s", p.Metric, p.Text)
	}

	const want = `
# HELP certlab_platform_api_requests_total REST API requests by route pattern, method and HTTP status code.
# TYPE certlab_platform_api_requests_total counter
certlab_platform_api_requests_total{code="200",method="GET",route="/certlab/v1/healthz"} 1
certlab_platform_api_requests_total{code="201",method="POST",route="/v5/iot/{project_id}/certificates"} 1
certlab_platform_api_requests_total{code="404",method="GET",route="/v5/iot/{project_id}/devices/{device_id}"} 1
certlab_platform_api_requests_total{code="404",method="GET",route="unmatched"} 1
# HELP certlab_platform_registry_cas Device CA certificates in the registry, verified or not.
# TYPE certlab_platform_registry_cas gauge
certlab_platform_registry_cas 1
# HELP certlab_platform_registry_devices Devices in the registry.
# TYPE certlab_platform_registry_devices gauge
certlab_platform_registry_devices 0
# HELP certlab_platform_registry_products Products in the registry.
# TYPE certlab_platform_registry_products gauge
certlab_platform_registry_products 0
# HELP certlab_platform_registry_projects Projects (tenants) in the registry.
# TYPE certlab_platform_registry_projects gauge
certlab_platform_registry_projects 2
# HELP certlab_platform_registry_verified_cas Verified device CA certificates in the registry.
# TYPE certlab_platform_registry_verified_cas gauge
certlab_platform_registry_verified_cas 0
`
	if err := testutil.GatherAndCompare(tp.prom, strings.NewReader(want),
		"certlab_platform_api_requests_total", "certlab_platform_registry_cas", "certlab_platform_registry_devices",
		"certlab_platform_registry_products", "certlab_platform_registry_projects", "certlab_platform_registry_verified_cas"); err != nil {
		t.Fatal(err)
	}
	if n, err := testutil.GatherAndCount(tp.prom, "certlab_platform_api_request_duration_seconds"); err != nil || n != 4 {
		t.Fatalf("duration histogram series = %d (%v), want 4 routes", n, err)
	}
}

// TestNewErrors: New refuses a missing registry and a second registration
// of its metrics on one Registerer.
func TestNewErrors(t *testing.T) {
	if _, err := api.New(api.Config{}); err == nil {
		t.Error("New without a registry: no error")
	}
	tp := newTestPlatform(t)
	if _, err := api.New(api.Config{Registry: tp.reg, Registerer: tp.prom}); err == nil {
		t.Error("New registering metrics twice: no error")
	}
	if _, err := api.New(api.Config{Registry: tp.reg, MaxBodyBytes: -1}); err == nil {
		t.Error("New with negative MaxBodyBytes: no error")
	}
	if _, err := api.New(api.Config{Registry: tp.reg}); err != nil {
		t.Errorf("New without a Registerer: %v", err)
	}
}
