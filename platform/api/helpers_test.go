package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/certlab/certlab/iotda"
	"github.com/certlab/certlab/platform/api"
	"github.com/certlab/certlab/platform/registry"
	"github.com/certlab/certlab/sim/pki"
)

const adminToken = "admin-token-for-tests"

// testPlatform is the API under test behind real HTTPS on loopback, over a
// real registry in a SQLite file.
type testPlatform struct {
	t       *testing.T
	reg     *registry.Registry
	srv     *httptest.Server
	client  *http.Client
	prom    *prometheus.Registry
	devices *fakeDevices
	proj    registry.Project // the project most tests act in
	other   registry.Project // a second tenant
}

// newTestPlatform starts the API; mutate adjusts the Config before New.
func newTestPlatform(t *testing.T, mutate ...func(*api.Config)) *testPlatform {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	reg, err := registry.Open(ctx, filepath.Join(t.TempDir(), "registry.db"), registry.Options{})
	if err != nil {
		t.Fatalf("open registry: %v", err)
	}
	t.Cleanup(func() { _ = reg.Close() })
	proj, err := reg.CreateProject(ctx, "tenant-a")
	if err != nil {
		t.Fatalf("create project: %v", err)
	}
	other, err := reg.CreateProject(ctx, "tenant-b")
	if err != nil {
		t.Fatalf("create project: %v", err)
	}
	tp := &testPlatform{t: t, reg: reg, prom: prometheus.NewPedanticRegistry(), devices: newFakeDevices(), proj: proj, other: other}
	cfg := api.Config{
		Registry:   reg,
		Devices:    tp.devices,
		AdminToken: adminToken,
		Logger:     slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn})),
		Registerer: tp.prom,
	}
	for _, m := range mutate {
		m(&cfg)
	}
	h, err := api.New(cfg)
	if err != nil {
		t.Fatalf("api.New: %v", err)
	}
	tp.srv = httptest.NewTLSServer(h)
	t.Cleanup(tp.srv.Close)
	tp.client = tp.srv.Client()
	tp.client.Timeout = 20 * time.Second
	return tp
}

// creds are the AK/SK credentials of p.
func creds(p registry.Project) iotda.Credentials {
	return iotda.Credentials{AccessKey: p.AccessKey, SecretKey: p.SecretKey, ProjectID: p.ID}
}

// authFunc authenticates a request about to be sent with body.
type authFunc func(t *testing.T, r *http.Request, body []byte)

// signed signs with c at the current time.
func signed(c iotda.Credentials) authFunc { return signedAt(c, time.Now()) }

// signedAt signs with c as if the clock said at.
func signedAt(c iotda.Credentials, at time.Time) authFunc {
	return func(t *testing.T, r *http.Request, body []byte) {
		t.Helper()
		if err := iotda.SignRequest(r, body, c, at); err != nil {
			t.Fatalf("sign request: %v", err)
		}
	}
}

// header sets one header (X-Auth-Token, X-Certlab-Admin-Token).
func header(name, value string) authFunc {
	return func(_ *testing.T, r *http.Request, _ []byte) { r.Header.Set(name, value) }
}

// noAuth sends the request unauthenticated.
func noAuth(*testing.T, *http.Request, []byte) {}

// response is a finished HTTP exchange.
type response struct {
	status int
	header http.Header
	body   []byte
}

var requestIDRE = regexp.MustCompile(`^[0-9a-f]{32}$`)

// do sends method path with body (nil, []byte/string sent raw, anything else
// JSON-encoded) as application/json, authenticated by auth. Every response
// must carry an X-Request-Id of 32 hex digits.
func (tp *testPlatform) do(method, path string, body any, auth authFunc) response {
	tp.t.Helper()
	r, err := tp.try(method, path, body, auth)
	if err != nil {
		tp.t.Fatal(err)
	}
	return r
}

// try is do for goroutines other than the test's: it returns failures.
func (tp *testPlatform) try(method, path string, body any, auth authFunc) (response, error) {
	var raw []byte
	switch b := body.(type) {
	case nil:
	case []byte:
		raw = b
	case string:
		raw = []byte(b)
	default:
		var err error
		if raw, err = json.Marshal(b); err != nil {
			return response{}, fmt.Errorf("encode body: %w", err)
		}
	}
	ctx, cancel := context.WithTimeout(tp.t.Context(), 20*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, tp.srv.URL+path, bytes.NewReader(raw))
	if err != nil {
		return response{}, fmt.Errorf("new request: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	auth(tp.t, req, raw)
	resp, err := tp.client.Do(req)
	if err != nil {
		return response{}, fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	if err != nil {
		return response{}, fmt.Errorf("%s %s: read body: %w", method, path, err)
	}
	if rid := resp.Header.Get("X-Request-Id"); !requestIDRE.MatchString(rid) {
		return response{}, fmt.Errorf("%s %s: X-Request-Id = %q, want 32 hex digits", method, path, rid)
	}
	return response{status: resp.StatusCode, header: resp.Header, body: out}, nil
}

// in returns tp acting for subtest t.
func (tp *testPlatform) in(t *testing.T) *testPlatform {
	c := *tp
	c.t = t
	return &c
}

// as sends as tp.proj with AK/SK.
func (tp *testPlatform) as(method, path string, body any) response {
	tp.t.Helper()
	return tp.do(method, path, body, signed(creds(tp.proj)))
}

// v5 is the v5 path prefix of tp.proj followed by rest.
func (tp *testPlatform) v5(rest string) string { return "/v5/iot/" + tp.proj.ID + rest }

// requireStatus fails unless r has status want.
func requireStatus(t *testing.T, r response, want int) {
	t.Helper()
	if r.status != want {
		t.Fatalf("status = %d, want %d; body: %s", r.status, want, r.body)
	}
}

// requireJSON checks status and Content-Type and decodes the body into a map.
func requireJSON(t *testing.T, r response, want int) map[string]any {
	t.Helper()
	requireStatus(t, r, want)
	if ct := r.header.Get("Content-Type"); ct != "application/json" {
		t.Fatalf("Content-Type = %q, want application/json", ct)
	}
	var m map[string]any
	if err := json.Unmarshal(r.body, &m); err != nil {
		t.Fatalf("decode %s: %v", r.body, err)
	}
	return m
}

// requireEmpty checks status and an empty body.
func requireEmpty(t *testing.T, r response, want int) {
	t.Helper()
	requireStatus(t, r, want)
	if len(r.body) != 0 {
		t.Fatalf("body = %q, want empty", r.body)
	}
}

// requireError checks an IoTDA error response: status, error_code, an
// error_msg containing msgPart, and nothing else in the body.
func requireError(t *testing.T, r response, status int, code, msgPart string) {
	t.Helper()
	m := requireJSON(t, r, status)
	if m["error_code"] != code {
		t.Fatalf("error_code = %v, want %s (error_msg %q)", m["error_code"], code, m["error_msg"])
	}
	msg, _ := m["error_msg"].(string)
	if msg == "" || !strings.Contains(msg, msgPart) {
		t.Fatalf("error_msg = %q, want it to contain %q", msg, msgPart)
	}
	if len(m) != 2 {
		t.Fatalf("error body has fields %v, want only error_code and error_msg", m)
	}
}

// requireFields fails unless m holds exactly these keys (wire names).
func requireFields(t *testing.T, m map[string]any, keys ...string) {
	t.Helper()
	for _, k := range keys {
		if _, ok := m[k]; !ok {
			t.Errorf("missing field %q in %v", k, m)
		}
	}
}

// requireAbsent fails if m holds any of keys.
func requireAbsent(t *testing.T, m map[string]any, keys ...string) {
	t.Helper()
	for _, k := range keys {
		if v, ok := m[k]; ok {
			t.Errorf("field %q = %v, want it absent", k, v)
		}
	}
}

// requireTime fails unless s parses in layout.
func requireTime(t *testing.T, name string, v any, layout string) {
	t.Helper()
	s, _ := v.(string)
	if _, err := time.Parse(layout, s); err != nil {
		t.Errorf("%s = %q, want layout %s", name, s, layout)
	}
}

// newCA mints a root CA with org as its subject O.
func newCA(t *testing.T, cn string) *pki.CA {
	t.Helper()
	ca, err := pki.NewRootCA(cn, pki.WithOrganization("certlab tests"))
	if err != nil {
		t.Fatalf("new CA: %v", err)
	}
	return ca
}

// uploadCA uploads ca to tp.proj and returns the response fields.
func (tp *testPlatform) uploadCA(ca *pki.CA) map[string]any {
	tp.t.Helper()
	r := tp.as("POST", tp.v5("/certificates"), iotda.CreateCertificateDto{Content: string(pki.CertPEM(ca.Cert))})
	return requireJSON(tp.t, r, http.StatusCreated)
}

// createProduct creates a product of protocol proto with a fixed product_id.
func (tp *testPlatform) createProduct(id, proto string) {
	tp.t.Helper()
	r := tp.as("POST", tp.v5("/products"), map[string]any{
		"product_id": id, "name": "product " + id, "device_type": "sensor",
		"protocol_type": proto, "data_format": "json", "service_capabilities": []any{},
	})
	requireJSON(tp.t, r, http.StatusCreated)
}

// fakeDevices stands in for the MQTT broker (a dependency of the API, not
// the thing under test): it records downstream messages and serves canned
// login attempts and shadows.
type fakeDevices struct {
	mu        sync.Mutex
	online    map[string]bool
	sent      []sentMessage
	attempts  []iotda.LoginAttempt
	lastLimit int
	shadows   map[string][]iotda.DeviceShadowData
}

type sentMessage struct {
	deviceID, topic string
	payload         []byte
	hasDeadline     bool
}

func newFakeDevices() *fakeDevices {
	return &fakeDevices{online: map[string]bool{}, shadows: map[string][]iotda.DeviceShadowData{}}
}

func (f *fakeDevices) LoginAttempts(deviceID, reason string, limit int) []iotda.LoginAttempt {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.lastLimit = limit
	var out []iotda.LoginAttempt
	for _, a := range f.attempts {
		if (deviceID == "" || a.DeviceID == deviceID) && (reason == "" || string(a.Reason) == reason) && len(out) < limit {
			out = append(out, a)
		}
	}
	return out
}

func (f *fakeDevices) SendDown(ctx context.Context, deviceID, topic string, payload []byte) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.online[deviceID] {
		return fmt.Errorf("send down %s: %w", deviceID, iotda.ErrDeviceOffline)
	}
	_, ok := ctx.Deadline()
	f.sent = append(f.sent, sentMessage{deviceID: deviceID, topic: topic, payload: payload, hasDeadline: ok})
	return nil
}

// panicDevice makes fakeDevices.Shadow panic, to test the API's recovery.
const panicDevice = "panic-dev"

func (f *fakeDevices) Shadow(deviceID string) []iotda.DeviceShadowData {
	if deviceID == panicDevice {
		panic("fake broker bug")
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.shadows[deviceID]
}
