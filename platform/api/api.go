// Package api is the reference platform's REST API as an http.Handler: the
// IoTDA v5 subset certlab needs (device CA certificates, products, devices,
// device messages and shadows) plus certlab's own extensions under
// /certlab/v1 (login attempts, project creation, health).
//
// Wire compatibility with Huawei's SDK is the contract: paths, JSON names,
// status codes and the error body {"error_code","error_msg"} follow
// docs/iotda.md (§3, §4, §6, §7, §10) and the types in package
// iotda. Every v5 and certlab route (except healthz) is authenticated with an
// AK/SK signature (SDK-HMAC-SHA256 or V11-HMAC-SHA256, checked by
// iotda.VerifyRequest) or a project's static X-Auth-Token, and a project's
// credentials reach only that project's resources (tenant isolation).
//
// Every response carries an X-Request-Id header (32 random hex digits), and
// every error response is IoTDA's JSON error body with Content-Type
// application/json. Handlers make at most one registry write per request, so
// a failed request leaves nothing half-written (the registry makes each write
// atomic).
package api

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/certlab/certlab/iotda"
	"github.com/certlab/certlab/platform/registry"
)

// Registry is what the API needs from the platform's registry: the domain
// rules (quotas, uniqueness, validation) and the durable store behind them.
// Each write is atomic and enforces its own rules; reads answer from memory.
// *registry.Registry implements it, the broker's Directory is its login-path
// counterpart.
type Registry interface {
	// Projects and their credentials.
	Projects() []registry.Project
	ProjectByAccessKey(ak string) (registry.Project, bool)
	ProjectByToken(token string) (registry.Project, bool)
	CreateProject(ctx context.Context, name string) (registry.Project, error)

	// Device CA certificates. [CA-UPLOAD] [CA-VERIFY] [CA-DELETE] [CA-LIST]
	AddCA(ctx context.Context, projectID, appID, pemContent string) (registry.CA, error)
	CA(projectID, caID string) (registry.CA, error)
	ListCAs(projectID, appID string, p registry.Page) ([]registry.CA, int64, error)
	VerifyCA(ctx context.Context, projectID, caID, verifyPEM string) error
	DeleteCA(ctx context.Context, projectID, caID string) error

	// Products.
	CreateProduct(ctx context.Context, p registry.Product) (registry.Product, error)
	Product(projectID, productID string) (registry.Product, error)
	ListProducts(projectID, appID string, p registry.Page) ([]registry.Product, int64, error)
	DeleteProduct(ctx context.Context, projectID, productID string) error

	// Devices.
	CreateDevice(ctx context.Context, projectID string, d registry.NewDevice) (registry.Device, error)
	Device(projectID, deviceID string) (registry.Device, error)
	ListDevices(projectID string, f registry.DeviceFilter, p registry.Page) ([]registry.Device, int64, error)
	UpdateDevice(ctx context.Context, projectID, deviceID string, name, description *string, ext []byte) (registry.Device, error)
	DeleteDevice(ctx context.Context, projectID, deviceID string) error
	ResetFingerprint(ctx context.Context, projectID, deviceID, fingerprintType, fingerprint string, force bool) (registry.Device, error)
	SetFrozen(ctx context.Context, projectID, deviceID string, frozen bool) (registry.Device, error)

	// Counts sizes the registry for the metrics.
	Counts() (projects, cas, verifiedCAs, products, devices int)

	// StorageErr is nil while the registry can store writes, else why not
	// (its database file was removed or replaced); healthz and the metrics
	// report it. StorageFailures counts failed writes by cause (one of
	// registry.StorageFailureCauses).
	StorageErr() error
	StorageFailures(cause string) uint64
}

var _ Registry = (*registry.Registry)(nil)

// Devices is the live side of the platform the API reads and drives: login
// attempts, downstream messages and device shadows. The MQTT broker
// implements it. A nil Devices in Config means no broker: login attempts and
// shadows are empty and every device counts as offline.
type Devices interface {
	// LoginAttempts returns up to limit recent login attempts, newest first,
	// optionally filtered by device ID and reason ("" = any).
	LoginAttempts(deviceID, reason string, limit int) []iotda.LoginAttempt
	// SendDown publishes payload on topic to the device's live session. It
	// returns an error wrapping iotda.ErrDeviceOffline when the device is not connected.
	SendDown(ctx context.Context, deviceID, topic string, payload []byte) error
	// Shadow returns the device's shadow (latest reported properties per service).
	Shadow(deviceID string) []iotda.DeviceShadowData
}

// Config configures New.
type Config struct {
	// Registry is the platform's registry (required).
	Registry Registry
	// Devices is the MQTT side; nil = no broker (see Devices).
	Devices Devices
	// AdminToken is the X-Certlab-Admin-Token value that POST /certlab/v1/projects
	// requires; "" disables project creation over the API (always 401).
	AdminToken string
	// Now returns the current time; nil = time.Now.
	Now func() time.Time
	// ClockSkew is how far X-Sdk-Date may be from Now, either way; 0 = 15 minutes.
	ClockSkew time.Duration
	// MaxBodyBytes bounds request bodies in bytes; 0 = 1 MiB (IoTDA's REST body limit, docs/iotda.md §9).
	MaxBodyBytes int64
	// SendTimeout bounds Devices.SendDown; 0 = 10 seconds.
	SendTimeout time.Duration
	// Logger receives request errors; nil = slog.Default().
	Logger *slog.Logger
	// Registerer receives the API's metrics; nil = metrics are not registered.
	Registerer prometheus.Registerer
}

// Defaults applied by withDefaults.
const (
	DefaultClockSkew    = 15 * time.Minute
	DefaultMaxBodyBytes = 1 << 20
	DefaultSendTimeout  = 10 * time.Second
)

func (c Config) withDefaults() Config {
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.ClockSkew == 0 {
		c.ClockSkew = DefaultClockSkew
	}
	if c.MaxBodyBytes == 0 {
		c.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if c.SendTimeout == 0 {
		c.SendTimeout = DefaultSendTimeout
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c
}

// server is the http.Handler New returns.
type server struct {
	cfg      Config
	reg      Registry
	mux      *http.ServeMux
	patterns map[string]bool // every registered mux pattern: the bounded route label set
	metrics  *metrics
}

// New builds the API handler. It fails when the registry is missing or the
// metrics cannot be registered (e.g. registered twice on one Registerer).
func New(cfg Config) (http.Handler, error) {
	if cfg.Registry == nil {
		return nil, errors.New("new api: Config.Registry is required")
	}
	if cfg.ClockSkew < 0 || cfg.MaxBodyBytes < 0 || cfg.SendTimeout < 0 {
		return nil, errors.New("new api: ClockSkew, MaxBodyBytes and SendTimeout must not be negative")
	}
	cfg = cfg.withDefaults()
	m, err := newMetrics(cfg.Registerer, cfg.Registry)
	if err != nil {
		return nil, fmt.Errorf("new api: %w", err)
	}
	s := &server{
		cfg:      cfg,
		reg:      cfg.Registry,
		mux:      http.NewServeMux(),
		patterns: map[string]bool{},
		metrics:  m,
	}
	s.routes()
	return s, nil
}

// routes registers every route. Paths and methods: docs/iotda.md §4, §6, §7.
func (s *server) routes() {
	const v5 = "/v5/iot/{project_id}"

	// Device CA certificates (§4).
	s.handle("POST "+v5+"/certificates", authProject, s.addCertificate)
	s.handle("GET "+v5+"/certificates", authProject, s.listCertificates)
	s.handle("GET "+v5+"/certificates/{certificate_id}", authProject, s.showCertificate)
	s.handle("DELETE "+v5+"/certificates/{certificate_id}", authProject, s.deleteCertificate)
	s.handle("POST "+v5+"/certificates/{certificate_id}/action", authProject, s.checkCertificate)

	// Products (§6).
	s.handle("POST "+v5+"/products", authProject, s.createProduct)
	s.handle("GET "+v5+"/products", authProject, s.listProducts)
	s.handle("GET "+v5+"/products/{product_id}", authProject, s.showProduct)
	s.handle("DELETE "+v5+"/products/{product_id}", authProject, s.deleteProduct)

	// Devices (§7).
	s.handle("POST "+v5+"/devices", authProject, s.addDevice)
	s.handle("GET "+v5+"/devices", authProject, s.listDevices)
	s.handle("GET "+v5+"/devices/{device_id}", authProject, s.showDevice)
	s.handle("PUT "+v5+"/devices/{device_id}", authProject, s.updateDevice)
	s.handle("DELETE "+v5+"/devices/{device_id}", authProject, s.deleteDevice)
	s.handle("POST "+v5+"/devices/{device_id}/reset-fingerprint", authProject, s.resetFingerprint)
	s.handle("POST "+v5+"/devices/{device_id}/freeze", authProject, s.freezeDevice)
	s.handle("POST "+v5+"/devices/{device_id}/unfreeze", authProject, s.unfreezeDevice)
	s.handle("POST "+v5+"/devices/{device_id}/messages", authProject, s.createMessage)
	s.handle("GET "+v5+"/devices/{device_id}/shadow", authProject, s.showShadow)

	// certlab extensions.
	s.handle("GET /certlab/v1/login-attempts", authProject, s.listLoginAttempts)
	s.handle("POST /certlab/v1/projects", authAdmin, s.createProject)
	s.handle("GET /certlab/v1/healthz", authNone, s.healthz)
}

// ServeHTTP stamps the request ID, dispatches to the matched route (or
// answers 404/405 in IoTDA form) and records metrics.
func (s *server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	w.Header().Set(iotda.HeaderRequestID, newRequestID())
	sw := &statusWriter{ResponseWriter: w}

	route := routeUnmatched
	if _, pattern := s.mux.Handler(r); s.patterns[pattern] {
		route = routeLabel(pattern)
		s.mux.ServeHTTP(sw, r)
	} else {
		s.unmatched(sw, r)
	}
	s.metrics.observe(route, r.Method, sw.status(), time.Since(start))
}

// unmatched answers a request no route pattern matched: 405 (with Allow)
// when the path exists for other methods, a redirect when the mux cleans the
// path, else 404 — all errors in IoTDA form.
func (s *server) unmatched(w http.ResponseWriter, r *http.Request) {
	h, _ := s.mux.Handler(r)
	rec := &headerRecorder{header: http.Header{}}
	h.ServeHTTP(rec, r)
	switch {
	case rec.code == http.StatusMethodNotAllowed:
		if allow := rec.header.Get("Allow"); allow != "" {
			w.Header().Set("Allow", allow)
		}
		s.writeError(w, r, errMethodNotAllowed(r.Method, r.URL.Path))
	case rec.code >= 300 && rec.code < 400 && rec.header.Get("Location") != "":
		w.Header().Set("Location", rec.header.Get("Location"))
		w.WriteHeader(rec.code)
	default:
		s.writeError(w, r, errRouteNotFound(r.URL.Path))
	}
}

// routeUnmatched is the route label of requests that matched no pattern.
const routeUnmatched = "unmatched"

// routeLabel turns a mux pattern ("GET /v5/iot/{project_id}/devices") into
// the route label: the path part, whose set is closed.
func routeLabel(pattern string) string {
	if _, path, ok := strings.Cut(pattern, " "); ok {
		return path
	}
	return pattern
}

// statusWriter remembers the status code written.
type statusWriter struct {
	http.ResponseWriter
	code int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.code == 0 {
		w.code = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.code == 0 {
		w.code = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

func (w *statusWriter) status() int {
	if w.code == 0 {
		return http.StatusOK
	}
	return w.code
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// headerRecorder captures the status and headers a mux fallback handler
// (404, 405, redirect) would write, so they can be rewritten in IoTDA form.
type headerRecorder struct {
	header http.Header
	code   int
}

func (r *headerRecorder) Header() http.Header { return r.header }

func (r *headerRecorder) Write(b []byte) (int, error) {
	if r.code == 0 {
		r.code = http.StatusOK
	}
	return len(b), nil
}

func (r *headerRecorder) WriteHeader(code int) {
	if r.code == 0 {
		r.code = code
	}
}
