package console

import (
	"encoding/json"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/certlab/certlab/iotda"
)

func get(t *testing.T, h http.Handler, method, path string) *http.Response {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(method, path, nil))
	return rec.Result()
}

func body(t *testing.T, resp *http.Response) string {
	t.Helper()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read body: %v", err)
	}
	return string(b)
}

func TestHandlerRoutes(t *testing.T) {
	h := Handler(Config{PollInterval: 750 * time.Millisecond})
	tests := []struct {
		name, method, path string
		wantStatus         int
		wantType           string // Content-Type prefix
		wantBody           string // substring
		wantLocation       string
	}{
		{name: "index", method: "GET", path: "/console/", wantStatus: 200, wantType: "text/html", wantBody: `<script type="module" src="app.js">`},
		{name: "index by name redirects to the directory", method: "GET", path: "/console/index.html", wantStatus: 301, wantLocation: "./"},
		{name: "prefix without slash redirects", method: "GET", path: "/console", wantStatus: 301, wantLocation: "/console/"},
		{name: "script", method: "GET", path: "/console/app.js", wantStatus: 200, wantType: "text/javascript", wantBody: "signRequest"},
		{name: "signer", method: "GET", path: "/console/sign.js", wantStatus: 200, wantType: "text/javascript", wantBody: "SDK-HMAC-SHA256"},
		{name: "style", method: "GET", path: "/console/style.css", wantStatus: 200, wantType: "text/css"},
		{name: "remedies", method: "GET", path: "/console/remedies.json", wantStatus: 200, wantType: "application/json", wantBody: "fingerprint_mismatch"},
		{name: "settings", method: "GET", path: "/console/config.json", wantStatus: 200, wantType: "application/json", wantBody: `{"poll_ms":750}`},
		{name: "head", method: "HEAD", path: "/console/", wantStatus: 200, wantType: "text/html"},
		{name: "missing file", method: "GET", path: "/console/nope.js", wantStatus: 404},
		{name: "outside the prefix", method: "GET", path: "/v5/iot/x/devices", wantStatus: 404},
		{name: "post refused", method: "POST", path: "/console/", wantStatus: 405},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp := get(t, h, tc.method, tc.path)
			if resp.StatusCode != tc.wantStatus {
				t.Fatalf("%s %s: status %d, want %d", tc.method, tc.path, resp.StatusCode, tc.wantStatus)
			}
			if ct := resp.Header.Get("Content-Type"); tc.wantType != "" && !strings.HasPrefix(ct, tc.wantType) {
				t.Errorf("Content-Type %q, want %s…", ct, tc.wantType)
			}
			if b := body(t, resp); tc.wantBody != "" && !strings.Contains(b, tc.wantBody) {
				t.Errorf("body lacks %q", tc.wantBody)
			}
			if loc := resp.Header.Get("Location"); loc != tc.wantLocation {
				t.Errorf("Location %q, want %q", loc, tc.wantLocation)
			}
			if csp := resp.Header.Get("Content-Security-Policy"); csp != contentSecurityPolicy {
				t.Errorf("Content-Security-Policy %q, want %q", csp, contentSecurityPolicy)
			}
			if v := resp.Header.Get("X-Content-Type-Options"); v != "nosniff" {
				t.Errorf("X-Content-Type-Options %q, want nosniff", v)
			}
		})
	}
}

func TestHandlerPrefixAndDefaults(t *testing.T) {
	h := Handler(Config{Prefix: "ui"})
	if resp := get(t, h, "GET", "/ui/"); resp.StatusCode != 200 {
		t.Fatalf("GET /ui/ with Prefix \"ui\": status %d, want 200", resp.StatusCode)
	}
	if resp := get(t, h, "GET", "/console/"); resp.StatusCode != 404 {
		t.Fatalf("GET /console/ with Prefix \"ui\": status %d, want 404", resp.StatusCode)
	}
	if b := body(t, get(t, h, "GET", "/ui/config.json")); b != `{"poll_ms":2000}` {
		t.Fatalf("default settings %s, want poll_ms 2000", b)
	}
	if b := body(t, get(t, Handler(Config{PollInterval: time.Millisecond}), "GET", "/console/config.json")); b != `{"poll_ms":250}` {
		t.Fatalf("settings %s, want the 250 ms floor", b)
	}
}

// TestNoExternalAssets: the console loads nothing from anywhere but its own
// origin (no CDN, no web fonts, no absolute URLs at all).
func TestNoExternalAssets(t *testing.T) {
	external := regexp.MustCompile(`(?i)(https?:)?//[a-z0-9.-]+\.[a-z]{2,}|@import|url\(\s*['"]?(https?:|//)`)
	n := 0
	err := fs.WalkDir(static, "static", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		n++
		data, err := fs.ReadFile(static, path)
		if err != nil {
			return err
		}
		if m := external.Find(data); m != nil {
			t.Errorf("%s references %q: the console must not load external assets", path, m)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n < 5 {
		t.Fatalf("embedded %d files, want index.html, app.js, sign.js, style.css, remedies.json", n)
	}
}

// TestRemediesCoverEveryReason: the live view has a title and a remedy for
// every login outcome the platform can record.
func TestRemediesCoverEveryReason(t *testing.T) {
	data, err := fs.ReadFile(static, "static/remedies.json")
	if err != nil {
		t.Fatal(err)
	}
	var rem map[string]struct {
		Title  string `json:"title"`
		Remedy string `json:"remedy"`
	}
	if err := json.Unmarshal(data, &rem); err != nil {
		t.Fatalf("remedies.json: %v", err)
	}
	reasons := iotda.LoginReasons()
	for _, r := range reasons {
		e, ok := rem[string(r)]
		switch {
		case !ok:
			t.Errorf("remedies.json has no entry for reason %q", r)
		case e.Title == "":
			t.Errorf("remedies.json: %q has no title", r)
		case r != iotda.ReasonOK && e.Remedy == "":
			t.Errorf("remedies.json: %q has no remedy", r)
		}
	}
	if len(rem) != len(reasons) {
		t.Errorf("remedies.json has %d entries, iotda has %d reasons: remove stale ones", len(rem), len(reasons))
	}
}
