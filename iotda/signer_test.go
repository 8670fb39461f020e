package iotda

import (
	"bytes"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"
)

// Published vectors: docs/iotda.md §2.2 (a), (b), (c) and §2.3.
const (
	vecAK      = "AKEXAMPLEAKEXAMPLE12"
	vecSK      = "SKEXAMPLEskexampleSKEXAMPLEskexample1234"
	vecProject = "0123456789abcdef0123456789abcdef"
	vecBody    = `{"app_id":"app1","content":"-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"}` + "\n"
)

var vecDate = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)

func newRequest(t *testing.T, method, target string, body []byte) *http.Request {
	t.Helper()
	r, err := http.NewRequest(method, target, bytes.NewReader(body))
	if err != nil {
		t.Fatalf("new request %s %s: %v", method, target, err)
	}
	return r
}

func TestSignRequestPublishedVectors(t *testing.T) {
	certs := "https://iotda.cn-north-4.myhuaweicloud.com/v5/iot/" + vecProject + "/certificates"
	tests := []struct {
		name    string
		method  string
		url     string
		headers map[string]string
		body    string
		creds   Credentials
		wantCR  string // "" = not published
		want    string // Authorization
	}{
		{
			name:    "a: POST certificates with SDK headers",
			method:  http.MethodPost,
			url:     certs,
			headers: map[string]string{"User-Agent": "huaweicloud-usdk-go/3.0", "Content-Type": "application/json"},
			body:    vecBody,
			creds:   Credentials{AccessKey: vecAK, SecretKey: vecSK, ProjectID: vecProject},
			wantCR: "POST\n/v5/iot/0123456789abcdef0123456789abcdef/certificates/\n\n" +
				"user-agent:huaweicloud-usdk-go/3.0\nx-project-id:0123456789abcdef0123456789abcdef\nx-sdk-date:20240101T000000Z\n\n" +
				"user-agent;x-project-id;x-sdk-date\n12cd9f476b6da8cd5c33204a814912beb009a90bfdef550aa2585c085356a546",
			want: "SDK-HMAC-SHA256 Access=AKEXAMPLEAKEXAMPLE12, SignedHeaders=user-agent;x-project-id;x-sdk-date, " +
				"Signature=ee42eaafb0daac6f4bb8d820ae8e6c148069f8b259125436b7a8db7ea9ca298d",
		},
		{
			name:   "b: GET certificates with an unsorted query and a space, only x-sdk-date signed",
			method: http.MethodGet,
			url:    certs + "?limit=10&app_id=app%201",
			creds:  Credentials{AccessKey: vecAK, SecretKey: vecSK},
			want: "SDK-HMAC-SHA256 Access=AKEXAMPLEAKEXAMPLE12, SignedHeaders=x-sdk-date, " +
				"Signature=af78b09f7a72ee18e0d8e2e5360de86ac07e7b7acb4e1e553ab23606d0d40da1",
		},
		{
			name:    "V11: DELETE certificate on an instance endpoint",
			method:  http.MethodDelete,
			url:     certs + "/cert-1",
			headers: map[string]string{"Instance-Id": "inst-1"},
			creds:   Credentials{AccessKey: vecAK, SecretKey: vecSK, Region: "cn-north-4", Derived: true},
			want: "V11-HMAC-SHA256 Credential=AKEXAMPLEAKEXAMPLE12/20240101/cn-north-4/iotdm, SignedHeaders=instance-id;x-sdk-date, " +
				"Signature=60396e52eff4c36feefa07c3891275d9b0db8ee9a5df80004003521fdd438a88",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := newRequest(t, tc.method, tc.url, []byte(tc.body))
			for k, v := range tc.headers {
				r.Header.Set(k, v)
			}
			if err := SignRequest(r, []byte(tc.body), tc.creds, vecDate); err != nil {
				t.Fatalf("SignRequest: %v", err)
			}
			if got := r.Header.Get(HeaderSdkDate); got != "20240101T000000Z" {
				t.Errorf("X-Sdk-Date = %q, want 20240101T000000Z", got)
			}
			if tc.wantCR != "" {
				a, err := parseAuthorization(r.Header.Get(HeaderAuthorization))
				if err != nil {
					t.Fatalf("parse own Authorization: %v", err)
				}
				if got := canonicalRequest(r, a.signed, payloadHash(r.Header, []byte(tc.body))); got != tc.wantCR {
					t.Errorf("canonical request:\n got %q\nwant %q", got, tc.wantCR)
				}
			}
			if got := r.Header.Get(HeaderAuthorization); got != tc.want {
				t.Errorf("Authorization:\n got %s\nwant %s", got, tc.want)
			}
		})
	}
}

func TestCanonicalQueryVectorB(t *testing.T) {
	if got, want := canonicalQuery("limit=10&app_id=app 1"), "app_id=app%201&limit=10"; got != want {
		t.Errorf("canonicalQuery = %q, want %q", got, want)
	}
}

// Vector (c) is Huawei's APIG documentation example: only the string to sign
// and the resulting header are published.
func TestSignatureVectorC(t *testing.T) {
	sts := "SDK-HMAC-SHA256\n20191115T033655Z\nb25362e603ee30f4f25e7858e8a7160fd36e803bb2dfe206278659d71a9bcd7a"
	const want = "7be6668032f70418fcc22abc52071e57aff61b84a1d2381bb430d6870f4f6ebe"
	if got := hmacHex([]byte("MFyfvK41ba2giqM7Uio6PznpdUKGpownRZlmVmHc"), sts); got != want {
		t.Errorf("signature = %s, want %s", got, want)
	}
}

func TestEscape(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"unreserved kept", "AZaz09_-~.", "AZaz09_-~."},
		{"space", "a b", "a%20b"},
		{"plus and slash", "a+b/c", "a%2Bb%2Fc"},
		{"reserved", "?&=#%:", "%3F%26%3D%23%25%3A"},
		{"utf-8 bytes upper hex", "é", "%C3%A9"},
		{"empty", "", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := escape(tc.in); got != tc.want {
				t.Errorf("escape(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}

func TestCanonicalURI(t *testing.T) {
	tests := []struct{ name, url, want string }{
		{"empty path", "https://h", "/"},
		{"root", "https://h/", "/"},
		{"appends slash", "https://h/v5/iot/p/devices", "/v5/iot/p/devices/"},
		{"keeps trailing slash", "https://h/v5/iot/p/devices/", "/v5/iot/p/devices/"},
		{"space in segment", "https://h/v5/a%20b", "/v5/a%20b/"},
		{"escaped slash stays in its segment", "https://h/v5/a%2Fb/c", "/v5/a%2Fb/c/"},
		{"lower-case escapes normalised", "https://h/v5/%c3%a9", "/v5/%C3%A9/"},
		{"sub-delims escaped", "https://h/v5/a:b@c", "/v5/a%3Ab%40c/"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := newRequest(t, http.MethodGet, tc.url, nil)
			if got := canonicalURI(r.URL); got != tc.want {
				t.Errorf("canonicalURI(%s) = %q, want %q", tc.url, got, tc.want)
			}
		})
	}
}

func TestCanonicalQuery(t *testing.T) {
	tests := []struct{ name, raw, want string }{
		{"empty", "", ""},
		{"sorted keys", "b=2&a=1", "a=1&b=2"},
		{"sorted values", "k=z&k=a&k=m", "k=a&k=m&k=z"},
		{"plus is space", "q=a+b", "q=a%20b"},
		{"bare key", "flag", "flag="},
		{"escaped specials", "app_id=a%26b%3Dc", "app_id=a%26b%3Dc"},
		{"case-sensitive keys", "B=1&a=2", "B=1&a=2"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := canonicalQuery(tc.raw); got != tc.want {
				t.Errorf("canonicalQuery(%q) = %q, want %q", tc.raw, got, tc.want)
			}
		})
	}
}

func TestSignedHeaderNames(t *testing.T) {
	h := http.Header{}
	h.Set("Content-Type", "application/json")
	h.Set("Content-Type-Extra", "x")
	h["instance_id"] = []string{"i"}
	h.Set("X-Project-Id", "p")
	h.Set("User-Agent", "ua")
	h["x-lower"] = []string{"v"}
	got := strings.Join(signedHeaderNames(h), ";")
	if want := "user-agent;x-lower;x-project-id"; got != want {
		t.Errorf("signed headers = %q, want %q", got, want)
	}
}

func TestCanonicalHeadersMultiValueAndHost(t *testing.T) {
	r := newRequest(t, http.MethodGet, "https://api.example:8943/v5", nil)
	r.Header.Add("X-Multi", " b ")
	r.Header.Add("X-Multi", "a")
	got := canonicalHeaders(r, []string{"host", "x-multi"})
	if want := "host:api.example:8943\nx-multi:a\nx-multi:b\n"; got != want {
		t.Errorf("canonical headers = %q, want %q", got, want)
	}
}

func TestSignRequestModes(t *testing.T) {
	tests := []struct {
		name        string
		contentType string
		creds       Credentials
		wantErr     error
		wantAuth    string // prefix of Authorization; "" = none
		wantToken   string
		wantContent string // X-Sdk-Content-Sha256
	}{
		{name: "json body is hashed", contentType: "application/json;charset=UTF-8",
			creds: Credentials{AccessKey: "ak", SecretKey: "sk"}, wantAuth: "SDK-HMAC-SHA256 Access=ak, "},
		{name: "non-json body is unsigned", contentType: "text/plain",
			creds: Credentials{AccessKey: "ak", SecretKey: "sk"}, wantAuth: "SDK-HMAC-SHA256 Access=ak, SignedHeaders=x-project-id;x-sdk-content-sha256;x-sdk-date,", wantContent: UnsignedPayload},
		{name: "derived with default region", contentType: "application/json",
			creds: Credentials{AccessKey: "ak", SecretKey: "sk", Derived: true}, wantAuth: "V11-HMAC-SHA256 Credential=ak/20240101/local/iotdm, "},
		{name: "token", creds: Credentials{Token: "tok"}, wantToken: "tok"},
		{name: "nothing", creds: Credentials{}, wantErr: ErrNoCredentials},
		{name: "access key without secret", creds: Credentials{AccessKey: "ak"}, wantErr: ErrNoCredentials},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := newRequest(t, http.MethodPost, "https://h/v5/iot/p/devices", []byte("{}"))
			if tc.contentType != "" {
				r.Header.Set("Content-Type", tc.contentType)
			}
			r.Header.Set(HeaderAuthorization, "stale")
			tc.creds.ProjectID = "p"
			err := SignRequest(r, []byte("{}"), tc.creds, vecDate)
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("SignRequest error = %v, want %v", err, tc.wantErr)
			}
			if err != nil {
				return
			}
			if got := r.Header.Get(HeaderProjectID); got != "p" {
				t.Errorf("X-Project-Id = %q, want p", got)
			}
			auth := r.Header.Get(HeaderAuthorization)
			if tc.wantAuth == "" && auth != "" || !strings.HasPrefix(auth, tc.wantAuth) {
				t.Errorf("Authorization = %q, want prefix %q", auth, tc.wantAuth)
			}
			if got := r.Header.Get(HeaderAuthToken); got != tc.wantToken {
				t.Errorf("X-Auth-Token = %q, want %q", got, tc.wantToken)
			}
			if got := r.Header.Get(HeaderContentSHA256); got != tc.wantContent {
				t.Errorf("X-Sdk-Content-Sha256 = %q, want %q", got, tc.wantContent)
			}
		})
	}
}
