package iotda

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// verifyResult is what the loopback server's VerifyRequest returned.
type verifyResult struct {
	accessKey string
	err       error
}

// startVerifyServer serves one VerifyRequest per request on 127.0.0.1 and
// reports each result; its clock is base+offset.
func startVerifyServer(t *testing.T, now func() time.Time) (*httptest.Server, <-chan verifyResult) {
	t.Helper()
	secrets := map[string]string{vecAK: vecSK, "ak2": "sk2"}
	lookup := func(ak string) (string, bool) { s, ok := secrets[ak]; return s, ok }
	results := make(chan verifyResult, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			results <- verifyResult{err: err}
			return
		}
		ak, err := VerifyRequest(r, body, lookup, now(), 0)
		results <- verifyResult{ak, err}
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(srv.Close)
	return srv, results
}

// send sends r with body over the real loopback connection and returns the
// server's verdict.
func send(t *testing.T, srv *httptest.Server, results <-chan verifyResult, r *http.Request, body []byte) verifyResult {
	t.Helper()
	r.Body = io.NopCloser(bytes.NewReader(body))
	r.ContentLength = int64(len(body))
	hc := &http.Client{Timeout: 5 * time.Second}
	resp, err := hc.Do(r)
	if err != nil {
		t.Fatalf("send %s %s: %v", r.Method, r.URL, err)
	}
	_ = resp.Body.Close()
	select {
	case res := <-results:
		return res
	case <-time.After(5 * time.Second):
		t.Fatal("server reported no verification result")
		return verifyResult{}
	}
}

func TestVerifyRequestRoundTrip(t *testing.T) {
	sdk := Credentials{AccessKey: vecAK, SecretKey: vecSK, ProjectID: vecProject}
	v11 := Credentials{AccessKey: vecAK, SecretKey: vecSK, ProjectID: vecProject, Region: "cn-north-4", Derived: true}
	jsonBody := []byte(vecBody)
	tests := []struct {
		name        string
		creds       Credentials
		method      string
		path        string // with query
		contentType string
		body        []byte
		signHost    bool
		tamper      func(r *http.Request, body *[]byte)
		serverSkew  time.Duration // server clock minus client clock
		wantErr     error         // nil = accepted
	}{
		{name: "sdk POST json", creds: sdk, method: "POST", path: "/v5/iot/p/certificates", body: jsonBody},
		{name: "v11 POST json", creds: v11, method: "POST", path: "/v5/iot/p/certificates", body: jsonBody},
		{name: "escaped path and query", creds: sdk, method: "GET",
			path: "/v5/iot/p/devices/prod_a%20b%2Fc%C3%A9?node_id=n+1&app_id=a%26b&limit=10&limit=2"},
		{name: "host signed (APIG style)", creds: sdk, method: "GET", path: "/v5/iot/p/products", signHost: true},
		{name: "non-json body unsigned", creds: sdk, method: "PUT", path: "/x", contentType: "text/plain", body: []byte("raw"),
			tamper: func(_ *http.Request, b *[]byte) { *b = []byte("changed, and allowed: unsigned") }},
		{name: "unsigned header added in transit", creds: sdk, method: "GET", path: "/v5/iot/p/devices",
			tamper: func(r *http.Request, _ *[]byte) { r.Header.Set("X-Forwarded-For", "10.0.0.1") }},
		{name: "clock 14m ahead", creds: sdk, method: "GET", path: "/", serverSkew: 14 * time.Minute},
		{name: "clock 14m behind", creds: v11, method: "GET", path: "/", serverSkew: -14 * time.Minute},

		{name: "tampered body", creds: sdk, method: "POST", path: "/v5/iot/p/certificates", body: jsonBody,
			tamper:  func(_ *http.Request, b *[]byte) { *b = bytes.Replace(*b, []byte("app1"), []byte("app2"), 1) },
			wantErr: ErrSignatureMismatch},
		{name: "tampered body v11", creds: v11, method: "POST", path: "/v5/iot/p/certificates", body: jsonBody,
			tamper:  func(_ *http.Request, b *[]byte) { *b = append(*b, ' ') },
			wantErr: ErrSignatureMismatch},
		{name: "tampered path", creds: sdk, method: "DELETE", path: "/v5/iot/p/certificates/c1",
			tamper:  func(r *http.Request, _ *[]byte) { r.URL.Path = "/v5/iot/p/certificates/c2" },
			wantErr: ErrSignatureMismatch},
		{name: "tampered query", creds: sdk, method: "GET", path: "/v5/iot/p/certificates?limit=10",
			tamper:  func(r *http.Request, _ *[]byte) { r.URL.RawQuery = "limit=50" },
			wantErr: ErrSignatureMismatch},
		{name: "added query parameter", creds: v11, method: "GET", path: "/v5/iot/p/certificates?limit=10",
			tamper:  func(r *http.Request, _ *[]byte) { r.URL.RawQuery += "&app_id=x" },
			wantErr: ErrSignatureMismatch},
		{name: "tampered method", creds: sdk, method: "GET", path: "/v5/iot/p/devices/d1",
			tamper:  func(r *http.Request, _ *[]byte) { r.Method = http.MethodDelete },
			wantErr: ErrSignatureMismatch},
		{name: "tampered signed header", creds: sdk, method: "GET", path: "/v5/iot/p/devices",
			tamper:  func(r *http.Request, _ *[]byte) { r.Header.Set(HeaderProjectID, "other") },
			wantErr: ErrSignatureMismatch},
		{name: "signed header dropped", creds: sdk, method: "GET", path: "/v5/iot/p/devices",
			tamper:  func(r *http.Request, _ *[]byte) { r.Header.Del(HeaderProjectID) },
			wantErr: ErrSignatureMismatch},
		{name: "signed host changed", creds: sdk, method: "GET", path: "/v5/iot/p/products", signHost: true,
			tamper:  func(r *http.Request, _ *[]byte) { r.Host = "evil.example" },
			wantErr: ErrSignatureMismatch},
		{name: "wrong secret", creds: Credentials{AccessKey: vecAK, SecretKey: "not-the-secret"}, method: "GET", path: "/",
			wantErr: ErrSignatureMismatch},
		{name: "v11 region changed", creds: v11, method: "GET", path: "/",
			tamper: func(r *http.Request, _ *[]byte) {
				r.Header.Set(HeaderAuthorization, strings.Replace(r.Header.Get(HeaderAuthorization), "/cn-north-4/", "/cn-east-3/", 1))
			},
			wantErr: ErrSignatureMismatch},
		{name: "unsigned payload claimed for json", creds: sdk, method: "POST", path: "/x", body: jsonBody,
			tamper:  func(r *http.Request, _ *[]byte) { r.Header.Set(HeaderContentSHA256, UnsignedPayload) },
			wantErr: ErrSignatureMismatch},
		{name: "missing authorization", creds: sdk, method: "GET", path: "/",
			tamper:  func(r *http.Request, _ *[]byte) { r.Header.Del(HeaderAuthorization) },
			wantErr: ErrMissingAuthorization},
		{name: "token instead of signature", creds: Credentials{Token: "tok"}, method: "GET", path: "/",
			wantErr: ErrMissingAuthorization},
		{name: "other scheme", creds: sdk, method: "GET", path: "/",
			tamper:  func(r *http.Request, _ *[]byte) { r.Header.Set(HeaderAuthorization, "Bearer abc") },
			wantErr: ErrMalformedAuthorization},
		{name: "v11 credential date differs", creds: v11, method: "GET", path: "/",
			tamper: func(r *http.Request, _ *[]byte) {
				r.Header.Set(HeaderAuthorization, strings.Replace(r.Header.Get(HeaderAuthorization), "/20240101/", "/20240102/", 1))
			},
			wantErr: ErrMalformedAuthorization},
		{name: "missing date", creds: sdk, method: "GET", path: "/",
			tamper:  func(r *http.Request, _ *[]byte) { r.Header.Del(HeaderSdkDate) },
			wantErr: ErrBadDate},
		{name: "unknown access key", creds: Credentials{AccessKey: "nobody", SecretKey: "x"}, method: "GET", path: "/",
			wantErr: ErrUnknownAccessKey},
		{name: "clock 16m ahead", creds: sdk, method: "GET", path: "/", serverSkew: 16 * time.Minute, wantErr: ErrStaleDate},
		{name: "clock 16m behind", creds: v11, method: "GET", path: "/", serverSkew: -16 * time.Minute, wantErr: ErrStaleDate},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv, results := startVerifyServer(t, func() time.Time { return vecDate.Add(tc.serverSkew) })
			r := newRequest(t, tc.method, srv.URL+tc.path, tc.body)
			ct := tc.contentType
			if ct == "" {
				ct = "application/json"
			}
			r.Header.Set("Content-Type", ct)
			r.Header.Set("User-Agent", "certlab-test")
			if tc.signHost {
				r.Header["Host"] = []string{r.Host}
			}
			if err := SignRequest(r, tc.body, tc.creds, vecDate); err != nil {
				t.Fatalf("SignRequest: %v", err)
			}
			if tc.signHost && !strings.Contains(r.Header.Get(HeaderAuthorization), "SignedHeaders=host;") {
				t.Fatalf("host not signed: %s", r.Header.Get(HeaderAuthorization))
			}
			body := tc.body
			if tc.tamper != nil {
				tc.tamper(r, &body)
			}
			res := send(t, srv, results, r, body)
			if !errors.Is(res.err, tc.wantErr) {
				t.Fatalf("VerifyRequest error = %v, want %v", res.err, tc.wantErr)
			}
			if tc.wantErr == nil && res.accessKey != tc.creds.AccessKey {
				t.Errorf("access key = %q, want %q", res.accessKey, tc.creds.AccessKey)
			}
		})
	}
}

func TestParseAuthorizationMalformed(t *testing.T) {
	sig := strings.Repeat("ab", 32)
	tests := []struct{ name, header string }{
		{"no parameters", "SDK-HMAC-SHA256"},
		{"unknown algorithm", "HMAC-SHA1 Access=a, SignedHeaders=x-sdk-date, Signature=" + sig},
		{"missing access", "SDK-HMAC-SHA256 SignedHeaders=x-sdk-date, Signature=" + sig},
		{"missing signed headers", "SDK-HMAC-SHA256 Access=a, Signature=" + sig},
		{"upper-case signed header", "SDK-HMAC-SHA256 Access=a, SignedHeaders=X-Sdk-Date, Signature=" + sig},
		{"empty signed header", "SDK-HMAC-SHA256 Access=a, SignedHeaders=host;;x-sdk-date, Signature=" + sig},
		{"short signature", "SDK-HMAC-SHA256 Access=a, SignedHeaders=x-sdk-date, Signature=abc"},
		{"upper-case signature", "SDK-HMAC-SHA256 Access=a, SignedHeaders=x-sdk-date, Signature=" + strings.ToUpper(sig)},
		{"parameter without =", "SDK-HMAC-SHA256 Access=a, SignedHeaders, Signature=" + sig},
		{"repeated parameter", "SDK-HMAC-SHA256 Access=a, Access=b, SignedHeaders=x-sdk-date, Signature=" + sig},
		{"v11 short credential", "V11-HMAC-SHA256 Credential=a/20240101/local, SignedHeaders=x-sdk-date, Signature=" + sig},
		{"v11 empty region", "V11-HMAC-SHA256 Credential=a/20240101//iotdm, SignedHeaders=x-sdk-date, Signature=" + sig},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := parseAuthorization(tc.header); !errors.Is(err, ErrMalformedAuthorization) {
				t.Errorf("parseAuthorization(%q) error = %v, want ErrMalformedAuthorization", tc.header, err)
			}
		})
	}
}

func TestVerifyRequestRequiresSignedDate(t *testing.T) {
	r := newRequest(t, http.MethodGet, "https://h/", nil)
	r.Header.Set(HeaderSdkDate, "20240101T000000Z")
	r.Header.Set(HeaderAuthorization, "SDK-HMAC-SHA256 Access="+vecAK+", SignedHeaders=host, Signature="+strings.Repeat("0", 64))
	_, err := VerifyRequest(r, nil, func(string) (string, bool) { return vecSK, true }, vecDate, time.Minute)
	if !errors.Is(err, ErrMalformedAuthorization) || !strings.Contains(err.Error(), "x-sdk-date") {
		t.Errorf("error = %v, want ErrMalformedAuthorization naming x-sdk-date", err)
	}
}

func TestVerifyRequestMismatchShowsCanonicalRequest(t *testing.T) {
	r := newRequest(t, http.MethodGet, "https://h/v5/x", nil)
	if err := SignRequest(r, nil, Credentials{AccessKey: vecAK, SecretKey: "wrong"}, vecDate); err != nil {
		t.Fatal(err)
	}
	ak, err := VerifyRequest(r, nil, func(string) (string, bool) { return vecSK, true }, vecDate, 0)
	if !errors.Is(err, ErrSignatureMismatch) {
		t.Fatalf("error = %v, want ErrSignatureMismatch", err)
	}
	if ak != vecAK {
		t.Errorf("access key on mismatch = %q, want %q", ak, vecAK)
	}
	if want := `"GET\n/v5/x/\n`; !strings.Contains(err.Error(), want) {
		t.Errorf("error %q does not show the canonical request %s", err, want)
	}
}
