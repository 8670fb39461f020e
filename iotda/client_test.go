package iotda

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"
)

const (
	testAK      = "AK-client-test"
	testSK      = "SK-client-test-secret"
	testToken   = "token-client-test"
	testProject = "proj-1"
)

// seen is one request as the fake platform received it.
type seen struct {
	method, escapedPath, rawQuery string
	path                          string // decoded
	query                         url.Values
	header                        http.Header
	body                          string
	accessKey                     string
}

// reply is the fake platform's canned answer.
type reply struct {
	status int
	body   string
	header map[string]string
	block  bool // wait for the client to give up (timeout tests)
}

// fakeIoTDA is a real TLS server on 127.0.0.1 that authenticates each request
// like the platform does (VerifyRequest, or X-Auth-Token) and answers with a
// canned IoTDA-shaped response.
type fakeIoTDA struct {
	srv  *httptest.Server
	pool *x509.CertPool
	mu   sync.Mutex
	last seen
	next reply
}

func newFakeIoTDA(t *testing.T) *fakeIoTDA {
	t.Helper()
	f := &fakeIoTDA{}
	f.srv = httptest.NewUnstartedServer(http.HandlerFunc(f.serve))
	f.srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the untrusted-CA case logs handshake errors
	f.srv.StartTLS()
	t.Cleanup(f.srv.Close)
	f.pool = x509.NewCertPool()
	f.pool.AddCert(f.srv.Certificate())
	return f
}

func (f *fakeIoTDA) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	s := seen{method: r.Method, escapedPath: r.URL.EscapedPath(), rawQuery: r.URL.RawQuery, path: r.URL.Path,
		query: r.URL.Query(), header: r.Header.Clone(), body: string(body)}
	var authErr error
	switch {
	case r.Header.Get(HeaderAuthorization) != "":
		lookup := func(ak string) (string, bool) { return testSK, ak == testAK }
		s.accessKey, authErr = VerifyRequest(r, body, lookup, time.Now(), 0)
	case r.Header.Get(HeaderAuthToken) != "":
		if r.Header.Get(HeaderAuthToken) != testToken {
			authErr = errors.New("invalid token")
		}
	case r.Header.Get(HeaderAdminToken) != "" && strings.HasPrefix(r.URL.Path, "/certlab/"):
	default:
		authErr = errors.New("no credentials")
	}
	f.mu.Lock()
	f.last = s
	rep := f.next
	f.mu.Unlock()
	w.Header().Set(HeaderRequestID, "req-42")
	if authErr != nil {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusUnauthorized)
		_ = json.NewEncoder(w).Encode(ErrorBody{ErrorCode: CodeUnauthorized, ErrorMsg: authErr.Error()})
		return
	}
	if rep.block {
		select {
		case <-r.Context().Done():
		case <-time.After(5 * time.Second):
		}
		return
	}
	for k, v := range rep.header {
		w.Header().Set(k, v)
	}
	w.WriteHeader(rep.status)
	_, _ = io.WriteString(w, rep.body)
}

func (f *fakeIoTDA) answer(rep reply) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.next = rep
}

func (f *fakeIoTDA) lastRequest() seen {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.last
}

func (f *fakeIoTDA) client(opts ...ClientOption) *Client {
	creds := Credentials{AccessKey: testAK, SecretKey: testSK, ProjectID: testProject}
	return NewClient(f.srv.URL, creds, append([]ClientOption{WithRootCAs(f.pool), WithTimeout(5 * time.Second)}, opts...)...)
}

func ptr[T any](v T) *T { return &v }

func testContext(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestClientOperations(t *testing.T) {
	f := newFakeIoTDA(t)
	c := f.client()
	p := "/v5/iot/" + testProject
	tests := []struct {
		name      string
		call      func(ctx context.Context) (any, error)
		reply     reply
		method    string
		path      string // escaped, as on the wire
		rawQuery  string
		body      string // exact request bytes
		check     func(t *testing.T, got any)
		adminHdr  string
		wantNoSig bool
	}{
		{
			name: "AddCertificate",
			call: func(ctx context.Context) (any, error) {
				return c.AddCertificate(ctx, CreateCertificateDto{Content: "-----BEGIN CERTIFICATE-----\n<&>\n", AppID: ptr("app1")})
			},
			reply:  reply{status: 201, body: `{"certificate_id":"c1","cn_name":"Root","status":false,"verify_code":"vc-1","create_date":"20240101T000000Z"}`},
			method: "POST", path: p + "/certificates",
			body: `{"content":"-----BEGIN CERTIFICATE-----\n<&>\n","app_id":"app1"}` + "\n",
			check: func(t *testing.T, got any) {
				ca := got.(*CACert)
				if ca.CertificateID != "c1" || ca.VerifyCode != "vc-1" || ca.Status || ca.CnName != "Root" {
					t.Errorf("CACert = %+v", ca)
				}
			},
		},
		{
			name: "ListCertificates",
			call: func(ctx context.Context) (any, error) {
				return c.ListCertificates(ctx, ListOptions{AppID: "app 1", Limit: 10, Offset: 5, Marker: "m"})
			},
			reply:  reply{status: 200, body: `{"certificates":[{"certificate_id":"c2"},{"certificate_id":"c1"}],"page":{"count":7,"marker":"c1"}}`},
			method: "GET", path: p + "/certificates", rawQuery: "app_id=app%201&limit=10&marker=m&offset=5",
			check: func(t *testing.T, got any) {
				l := got.(*ListCertificatesResponse)
				if len(l.Certificates) != 2 || l.Page.Count != 7 || l.Page.Marker != "c1" {
					t.Errorf("list = %+v", l)
				}
			},
		},
		{
			name:   "ShowCertificate escapes the id",
			call:   func(ctx context.Context) (any, error) { return c.ShowCertificate(ctx, "c 1/x") },
			reply:  reply{status: 200, body: `{"certificate_id":"c 1/x","name":"n","content":"PEM"}`},
			method: "GET", path: p + "/certificates/c%201%2Fx",
			check: func(t *testing.T, got any) {
				if ca := got.(*CACert); ca.Content != "PEM" || ca.Name != "n" {
					t.Errorf("CACert = %+v", ca)
				}
			},
		},
		{
			name: "CheckCertificate",
			call: func(ctx context.Context) (any, error) {
				return nil, c.CheckCertificate(ctx, "c1", VerifyCertificateDto{VerifyContent: "VPEM"})
			},
			reply:  reply{status: 200},
			method: "POST", path: p + "/certificates/c1/action", rawQuery: "action_id=verify",
			body: `{"verify_content":"VPEM"}` + "\n",
		},
		{
			name:   "DeleteCertificate",
			call:   func(ctx context.Context) (any, error) { return nil, c.DeleteCertificate(ctx, "c1") },
			reply:  reply{status: 204},
			method: "DELETE", path: p + "/certificates/c1",
		},
		{
			name: "CreateProduct",
			call: func(ctx context.Context) (any, error) {
				return c.CreateProduct(ctx, AddProduct{Name: "meter", DeviceType: "m", ProtocolType: ProtocolMQTT, DataFormat: "json",
					ServiceCapabilities: json.RawMessage(`[]`)})
			},
			reply:  reply{status: 201, body: `{"product_id":"p1","name":"meter","protocol_type":"MQTT"}`},
			method: "POST", path: p + "/products",
			body: `{"name":"meter","device_type":"m","protocol_type":"MQTT","data_format":"json","service_capabilities":[]}` + "\n",
			check: func(t *testing.T, got any) {
				if pr := got.(*Product); pr.ProductID != "p1" || pr.ProtocolType != "MQTT" {
					t.Errorf("Product = %+v", pr)
				}
			},
		},
		{
			name:   "ShowProduct",
			call:   func(ctx context.Context) (any, error) { return c.ShowProduct(ctx, "p1") },
			reply:  reply{status: 200, body: `{"product_id":"p1"}`},
			method: "GET", path: p + "/products/p1",
			check: func(t *testing.T, got any) {
				if pr := got.(*Product); pr.ProductID != "p1" {
					t.Errorf("Product = %+v", pr)
				}
			},
		},
		{
			name:   "ListProducts",
			call:   func(ctx context.Context) (any, error) { return c.ListProducts(ctx, ListOptions{Limit: 50}) },
			reply:  reply{status: 200, body: `{"products":[{"product_id":"p1"}],"page":{"count":1,"marker":"p1"}}`},
			method: "GET", path: p + "/products", rawQuery: "limit=50",
			check: func(t *testing.T, got any) {
				if l := got.(*ListProductsResponse); len(l.Products) != 1 || l.Page.Count != 1 {
					t.Errorf("list = %+v", l)
				}
			},
		},
		{
			name:   "DeleteProduct",
			call:   func(ctx context.Context) (any, error) { return nil, c.DeleteProduct(ctx, "p1") },
			reply:  reply{status: 204},
			method: "DELETE", path: p + "/products/p1",
		},
		{
			name: "AddDevice",
			call: func(ctx context.Context) (any, error) {
				return c.AddDevice(ctx, AddDevice{NodeID: "AA:BB", ProductID: "p1",
					AuthInfo: &AuthInfo{AuthType: ptr(AuthCertificates), Fingerprint: ptr(strings.Repeat("ab", 32))}})
			},
			reply:  reply{status: 201, body: `{"device_id":"p1_AA:BB","node_id":"AA:BB","status":"INACTIVE","auth_info":{"auth_type":"CERTIFICATES","secure_access":true,"timeout":0}}`},
			method: "POST", path: p + "/devices",
			body: `{"node_id":"AA:BB","product_id":"p1","auth_info":{"auth_type":"CERTIFICATES","fingerprint":"` + strings.Repeat("ab", 32) + `"}}` + "\n",
			check: func(t *testing.T, got any) {
				d := got.(*Device)
				if d.DeviceID != "p1_AA:BB" || d.Status != StatusInactive || d.AuthInfo.AuthType != AuthCertificates {
					t.Errorf("Device = %+v", d)
				}
			},
		},
		{
			name:   "ShowDevice",
			call:   func(ctx context.Context) (any, error) { return c.ShowDevice(ctx, "p1_AA:BB") },
			reply:  reply{status: 200, body: `{"device_id":"p1_AA:BB","status":"ONLINE"}`},
			method: "GET", path: p + "/devices/p1_AA:BB",
			check: func(t *testing.T, got any) {
				if d := got.(*Device); d.Status != StatusOnline {
					t.Errorf("Device = %+v", d)
				}
			},
		},
		{
			name: "ListDevices",
			call: func(ctx context.Context) (any, error) {
				return c.ListDevices(ctx, DeviceListOptions{ProductID: "p1", NodeID: "n1", ListOptions: ListOptions{Limit: 2}})
			},
			reply:  reply{status: 200, body: `{"devices":[{"device_id":"d2"},{"device_id":"d1"}],"page":{"count":2,"marker":"d1"}}`},
			method: "GET", path: p + "/devices", rawQuery: "limit=2&node_id=n1&product_id=p1",
			check: func(t *testing.T, got any) {
				if l := got.(*ListDevicesResponse); len(l.Devices) != 2 || l.Devices[0].DeviceID != "d2" {
					t.Errorf("list = %+v", l)
				}
			},
		},
		{
			name: "UpdateDevice",
			call: func(ctx context.Context) (any, error) {
				return c.UpdateDevice(ctx, "d1", UpdateDevice{DeviceName: ptr("new")})
			},
			reply:  reply{status: 200, body: `{"device_id":"d1","device_name":"new"}`},
			method: "PUT", path: p + "/devices/d1", body: `{"device_name":"new"}` + "\n",
			check: func(t *testing.T, got any) {
				if d := got.(*Device); d.DeviceName != "new" {
					t.Errorf("Device = %+v", d)
				}
			},
		},
		{
			name:   "DeleteDevice",
			call:   func(ctx context.Context) (any, error) { return nil, c.DeleteDevice(ctx, "d1") },
			reply:  reply{status: 204},
			method: "DELETE", path: p + "/devices/d1",
		},
		{
			name: "ResetFingerprint",
			call: func(ctx context.Context) (any, error) {
				return c.ResetFingerprint(ctx, "d1", ResetFingerprint{Fingerprint: ptr("0a"), FingerprintType: ptr(FingerprintSecondary)})
			},
			reply:  reply{status: 200, body: `{"device_id":"d1","fingerprint":"0a","fingerprint_type":"SECONDARY"}`},
			method: "POST", path: p + "/devices/d1/reset-fingerprint",
			body: `{"fingerprint":"0a","fingerprint_type":"SECONDARY"}` + "\n",
			check: func(t *testing.T, got any) {
				if r := got.(*ResetFingerprintResponse); r.FingerprintType != FingerprintSecondary {
					t.Errorf("response = %+v", r)
				}
			},
		},
		{
			name:   "FreezeDevice",
			call:   func(ctx context.Context) (any, error) { return nil, c.FreezeDevice(ctx, "d1") },
			reply:  reply{status: 200},
			method: "POST", path: p + "/devices/d1/freeze",
		},
		{
			name:   "UnfreezeDevice",
			call:   func(ctx context.Context) (any, error) { return nil, c.UnfreezeDevice(ctx, "d1") },
			reply:  reply{status: 200},
			method: "POST", path: p + "/devices/d1/unfreeze",
		},
		{
			name: "CreateMessage",
			call: func(ctx context.Context) (any, error) {
				return c.CreateMessage(ctx, "d1", DeviceMessage{Message: map[string]int{"v": 1}})
			},
			reply:  reply{status: 201, body: `{"message_id":"m1","result":{"status":"PENDING","created_time":"20240101T000000Z"}}`},
			method: "POST", path: p + "/devices/d1/messages", body: `{"message":{"v":1}}` + "\n",
			check: func(t *testing.T, got any) {
				if m := got.(*CreateMessageResponse); m.MessageID != "m1" || m.Result.Status != "PENDING" {
					t.Errorf("response = %+v", m)
				}
			},
		},
		{
			name:   "ShowDeviceShadow",
			call:   func(ctx context.Context) (any, error) { return c.ShowDeviceShadow(ctx, "d1") },
			reply:  reply{status: 200, body: `{"device_id":"d1","shadow":[{"service_id":"s","reported":{"properties":{"t":21.5}},"version":3}]}`},
			method: "GET", path: p + "/devices/d1/shadow",
			check: func(t *testing.T, got any) {
				s := got.(*ShowDeviceShadowResponse)
				if len(s.Shadow) != 1 || s.Shadow[0].Reported.Properties["t"] != 21.5 || s.Shadow[0].Version != 3 {
					t.Errorf("shadow = %+v", s)
				}
			},
		},
		{
			name: "LoginAttempts",
			call: func(ctx context.Context) (any, error) {
				return c.LoginAttempts(ctx, LoginAttemptFilter{DeviceID: "d1", Reason: ReasonFingerprintMismatch, Limit: 5})
			},
			reply:  reply{status: 200, body: `{"attempts":[{"outcome":"refused","stage":"connect","reason":"fingerprint_mismatch","connack_code":5}],"count":1}`},
			method: "GET", path: "/certlab/v1/login-attempts", rawQuery: "device_id=d1&limit=5&reason=fingerprint_mismatch",
			check: func(t *testing.T, got any) {
				l := got.(*ListLoginAttemptsResponse)
				if l.Count != 1 || l.Attempts[0].Reason != ReasonFingerprintMismatch || l.Attempts[0].ConnackCode != 5 {
					t.Errorf("attempts = %+v", l)
				}
			},
		},
		{
			name:   "AddProject",
			call:   func(ctx context.Context) (any, error) { return c.AddProject(ctx, "admin-secret", "second") },
			reply:  reply{status: 201, body: `{"project_id":"proj-2","name":"second","access_key":"ak2","secret_key":"sk2","token":"t2"}`},
			method: "POST", path: "/certlab/v1/projects", body: `{"name":"second"}` + "\n", adminHdr: "admin-secret",
			check: func(t *testing.T, got any) {
				if pc := got.(*ProjectCredentials); pc.ProjectID != "proj-2" || pc.AccessKey != "ak2" {
					t.Errorf("project = %+v", pc)
				}
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f.answer(tc.reply)
			got, err := tc.call(testContext(t))
			if err != nil {
				t.Fatalf("call: %v", err)
			}
			s := f.lastRequest()
			if s.method != tc.method || s.escapedPath != tc.path || s.rawQuery != tc.rawQuery {
				t.Errorf("request = %s %s?%s, want %s %s?%s", s.method, s.escapedPath, s.rawQuery, tc.method, tc.path, tc.rawQuery)
			}
			if s.body != tc.body {
				t.Errorf("body = %q, want %q", s.body, tc.body)
			}
			if s.accessKey != testAK {
				t.Errorf("request was not verified as signed by %s (got %q)", testAK, s.accessKey)
			}
			for name, want := range map[string]string{"Content-Type": "application/json", "User-Agent": UserAgent,
				HeaderProjectID: testProject, HeaderAdminToken: tc.adminHdr} {
				if got := s.header.Get(name); got != want {
					t.Errorf("header %s = %q, want %q", name, got, want)
				}
			}
			if tc.check != nil {
				tc.check(t, got)
			}
		})
	}
}

// The client's path escaping and query encoding must survive the trip to the
// server in a form whose canonical rendering equals the one the client signed.
func TestClientEscapingMatchesCanonicalForm(t *testing.T) {
	f := newFakeIoTDA(t)
	c := f.client()
	ids := []string{"plain_id-1", "with space", "slash/inside", "percent%25", "ünïcode", "colon:at@", "semi;comma,plus+"}
	for _, id := range ids {
		t.Run(id, func(t *testing.T) {
			f.answer(reply{status: 200, body: `{"devices":[],"page":{"count":0,"marker":""}}`})
			_, err := c.ListDevices(testContext(t), DeviceListOptions{ProductID: id, NodeID: "a&b=c", ListOptions: ListOptions{Marker: id}})
			if err != nil {
				t.Fatalf("list devices: %v", err)
			}
			s := f.lastRequest()
			if s.query.Get("product_id") != id || s.query.Get("marker") != id || s.query.Get("node_id") != "a&b=c" {
				t.Errorf("server decoded query %v, want product_id=marker=%q node_id=a&b=c", s.query, id)
			}
			f.answer(reply{status: 200, body: `{"device_id":"x"}`})
			if _, err := c.ShowDevice(testContext(t), id); err != nil {
				t.Fatalf("show device: %v", err)
			}
			s = f.lastRequest()
			if want := "/v5/iot/" + testProject + "/devices/" + id; s.path != want {
				t.Errorf("server decoded path %q, want %q", s.path, want)
			}
			u := &url.URL{Path: s.path, RawPath: s.escapedPath}
			if got, want := canonicalURI(u), "/v5/iot/"+testProject+"/devices/"+escape(id)+"/"; got != want {
				t.Errorf("canonical URI on the server = %q, want %q", got, want)
			}
		})
	}
}

func TestClientErrors(t *testing.T) {
	f := newFakeIoTDA(t)
	long := "<html>" + strings.Repeat("x", 300) + "</html>"
	tests := []struct {
		name       string
		client     *Client
		reply      reply
		wantStatus int
		wantCode   string
		wantMsg    string
		wantErr    error
		wantText   string
	}{
		{name: "iotda error body", client: f.client(),
			reply:      reply{status: 400, body: `{"error_code":"IOTDA.014302","error_msg":"CA quota reached"}`},
			wantStatus: 400, wantCode: CodeCAQuota, wantMsg: "CA quota reached",
			wantText: "add certificate: IOTDA.014302 (HTTP 400): CA quota reached [request req-42]"},
		{name: "sdk fallback code/message", client: f.client(),
			reply:      reply{status: 403, body: `{"code":"APIGW.0301","message":"Incorrect IAM authentication information"}`},
			wantStatus: 403, wantCode: "APIGW.0301", wantMsg: "Incorrect IAM authentication information"},
		{name: "non-json error body keeps 200 bytes", client: f.client(),
			reply:      reply{status: 502, body: long},
			wantStatus: 502, wantMsg: long[:200]},
		{name: "empty error body", client: f.client(),
			reply:      reply{status: 503},
			wantStatus: 503, wantMsg: "Service Unavailable"},
		{name: "wrong secret is refused by the verifier",
			client:     NewClient(f.srv.URL, Credentials{AccessKey: testAK, SecretKey: "wrong", ProjectID: testProject}, WithRootCAs(f.pool)),
			reply:      reply{status: 201, body: `{}`},
			wantStatus: 401, wantCode: CodeUnauthorized, wantText: "signature mismatch"},
		{name: "skewed clock is refused by the verifier", client: f.client(WithClock(func() time.Time { return time.Now().Add(-20 * time.Minute) })),
			reply:      reply{status: 201, body: `{}`},
			wantStatus: 401, wantCode: CodeUnauthorized, wantText: "clock skew"},
		{name: "200 where 201 is due", client: f.client(),
			reply: reply{status: 200, body: `{"certificate_id":"c1"}`}, wantErr: ErrUnexpectedStatus},
		{name: "201 with an empty body", client: f.client(),
			reply: reply{status: 201}, wantText: "empty body"},
		{name: "201 with a non-json body", client: f.client(),
			reply: reply{status: 201, body: "ok"}, wantText: "decode HTTP 201 body"},
		{name: "request timeout", client: f.client(WithTimeout(100 * time.Millisecond)),
			reply: reply{block: true}, wantErr: context.DeadlineExceeded},
		{name: "server certificate not trusted without root CAs",
			client: NewClient(f.srv.URL, Credentials{AccessKey: testAK, SecretKey: testSK, ProjectID: testProject}, WithTimeout(5*time.Second)),
			reply:  reply{status: 201, body: `{}`}, wantText: "certificate"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f.answer(tc.reply)
			_, err := tc.client.AddCertificate(testContext(t), CreateCertificateDto{Content: "PEM"})
			if err == nil {
				t.Fatal("AddCertificate succeeded, want an error")
			}
			if got := StatusCode(err); got != tc.wantStatus {
				t.Errorf("StatusCode(%v) = %d, want %d", err, got, tc.wantStatus)
			}
			if tc.wantStatus != 0 {
				var ae *APIError
				if !errors.As(err, &ae) {
					t.Fatalf("error %v is not an *APIError", err)
				}
				if ae.ErrorCode != tc.wantCode || (tc.wantMsg != "" && ae.ErrorMsg != tc.wantMsg) || ae.RequestID != "req-42" {
					t.Errorf("APIError = %+v, want code %q msg %q request req-42", ae, tc.wantCode, tc.wantMsg)
				}
				if tc.wantCode != "" && !IsCode(err, tc.wantCode) {
					t.Errorf("IsCode(%v, %s) = false", err, tc.wantCode)
				}
			}
			if tc.wantErr != nil && !errors.Is(err, tc.wantErr) {
				t.Errorf("error = %v, want %v", err, tc.wantErr)
			}
			if tc.wantText != "" && !strings.Contains(err.Error(), tc.wantText) {
				t.Errorf("error %q does not contain %q", err, tc.wantText)
			}
		})
	}
}

func TestClientAuthModes(t *testing.T) {
	f := newFakeIoTDA(t)
	tests := []struct {
		name      string
		creds     Credentials
		wantAuth  string // Authorization prefix; "" = none
		wantToken string
		wantErr   bool
	}{
		{name: "sdk signature", creds: Credentials{AccessKey: testAK, SecretKey: testSK, ProjectID: testProject}, wantAuth: AlgorithmSDK + " "},
		{name: "v11 signature", creds: Credentials{AccessKey: testAK, SecretKey: testSK, ProjectID: testProject, Region: "cn-north-4", Derived: true},
			wantAuth: AlgorithmV11 + " Credential=" + testAK + "/"},
		{name: "token", creds: Credentials{Token: testToken, ProjectID: testProject}, wantToken: testToken},
		{name: "wrong token", creds: Credentials{Token: "nope", ProjectID: testProject}, wantToken: "nope", wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f.answer(reply{status: 200, body: `{"device_id":"d1"}`})
			c := NewClient(f.srv.URL, tc.creds, WithRootCAs(f.pool))
			_, err := c.ShowDevice(testContext(t), "d1")
			if (err != nil) != tc.wantErr {
				t.Fatalf("ShowDevice error = %v, want error %v", err, tc.wantErr)
			}
			s := f.lastRequest()
			if auth := s.header.Get(HeaderAuthorization); !strings.HasPrefix(auth, tc.wantAuth) || (tc.wantAuth == "") != (auth == "") {
				t.Errorf("Authorization = %q, want prefix %q", auth, tc.wantAuth)
			}
			if got := s.header.Get(HeaderAuthToken); got != tc.wantToken {
				t.Errorf("X-Auth-Token = %q, want %q", got, tc.wantToken)
			}
			if s.escapedPath != "/v5/iot/"+testProject+"/devices/d1" {
				t.Errorf("path = %s", s.escapedPath)
			}
		})
	}
}

func TestClientAddProjectWithoutCredentials(t *testing.T) {
	f := newFakeIoTDA(t)
	f.answer(reply{status: 201, body: `{"project_id":"proj-9"}`})
	c := NewClient(f.srv.URL, Credentials{}, WithRootCAs(f.pool))
	pc, err := c.AddProject(testContext(t), "admin-secret", "ninth")
	if err != nil {
		t.Fatalf("AddProject: %v", err)
	}
	if pc.ProjectID != "proj-9" {
		t.Errorf("project = %+v", pc)
	}
	if s := f.lastRequest(); s.header.Get(HeaderAuthorization) != "" || s.header.Get(HeaderAdminToken) != "admin-secret" {
		t.Errorf("headers = %v, want admin token only", s.header)
	}
}

func TestClientHonoursCallerContext(t *testing.T) {
	f := newFakeIoTDA(t)
	f.answer(reply{block: true})
	ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	err := f.client().DeleteDevice(ctx, "d1")
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("error = %v, want deadline exceeded", err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("returned after %s, want about 100ms", d)
	}
}

func ExampleAPIError() {
	err := fmt.Errorf("add certificate: %w", &APIError{StatusCode: 400, ErrorCode: CodeCAQuota, ErrorMsg: "CA quota reached", RequestID: "r1"})
	fmt.Println(err)
	fmt.Println(IsCode(err, CodeCAQuota), StatusCode(err))
	// Output:
	// add certificate: IOTDA.014302 (HTTP 400): CA quota reached [request r1]
	// true 400
}

func TestClientWithHTTPClientKeepsRootCAs(t *testing.T) {
	f := newFakeIoTDA(t)
	f.answer(reply{status: 204})
	var dials int
	var mu sync.Mutex
	tr := &http.Transport{DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
		mu.Lock()
		dials++
		mu.Unlock()
		var d net.Dialer
		return d.DialContext(ctx, network, addr)
	}}
	hc := &http.Client{Transport: tr}
	c := NewClient(f.srv.URL+"/", Credentials{AccessKey: testAK, SecretKey: testSK, ProjectID: testProject}, WithHTTPClient(hc), WithRootCAs(f.pool))
	if err := c.DeleteProduct(testContext(t), "p1"); err != nil {
		t.Fatalf("DeleteProduct through a caller's transport with root CAs: %v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if dials == 0 {
		t.Error("the caller's transport was not used")
	}
	if tr.TLSClientConfig != nil {
		t.Error("the caller's transport was modified in place")
	}
	if c.BaseURL() != f.srv.URL || c.Credentials().AccessKey != testAK {
		t.Errorf("BaseURL/Credentials = %q/%+v", c.BaseURL(), c.Credentials())
	}
}
