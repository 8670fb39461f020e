package iotda

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
)

// ErrInvalidTarget is wrapped by every target validation error.
var ErrInvalidTarget = errors.New("invalid target")

// ErrNoAPI is wrapped by the error of an API use of a target that has no
// api_endpoint (a plain MQTT broker, or a platform whose fleet is
// registered already).
var ErrNoAPI = errors.New("target has no REST API")

// Signing schemes a target may ask for (Target.Signing).
const (
	SigningAuto = ""    // V11 on Huawei instance endpoints, else SDK-HMAC-SHA256
	SigningSDK  = "sdk" // always SDK-HMAC-SHA256
	SigningV11  = "v11" // always V11-HMAC-SHA256 (service iotdm)
)

// Target says how to reach a platform: the embedded reference platform, a
// real IoTDA instance, or any MQTT broker that logs devices in with their
// certificates (docs/design.md, "The target file"). Only the MQTT endpoint is
// required: a target without api_endpoint has no REST API, so nothing can be
// registered there (the fleet's CA must be trusted by the broker already).
type Target struct {
	Name            string `json:"name"`
	APIEndpoint     string `json:"api_endpoint,omitempty"`     // https://host:port; "" = no REST API
	MQTTEndpoint    string `json:"mqtt_endpoint"`              // host:port (ssl:// or mqtts:// prefix accepted)
	MetricsEndpoint string `json:"metrics_endpoint,omitempty"` // Prometheus scrape URL, when the platform has one
	Region          string `json:"region"`
	ProjectID       string `json:"project_id"`
	AccessKey       string `json:"access_key"`
	SecretKey       string `json:"secret_key"`
	Token           string `json:"token,omitempty"`
	// CAFile is the CA that signed the platform's HTTPS and MQTTS server
	// certificates, relative to the target file; "" = system roots.
	CAFile string `json:"ca_file"`
	// AdminToken authorises certlab admin calls (POST /certlab/v1/projects).
	AdminToken string `json:"admin_token,omitempty"`
	// Signing is SigningAuto, SigningSDK or SigningV11.
	Signing string `json:"signing,omitempty"`
	// ClientIDTemplate and UsernameTemplate are the MQTT login conventions
	// of a broker that does not follow IoTDA's, as LoginTemplates (e.g.
	// "{cn}" or "{node_id}"); "" = IoTDA's: ClientId
	// {device_id}_0_0_{YYYYMMDDHH} and username {device_id}.
	ClientIDTemplate string `json:"client_id_template,omitempty"`
	UsernameTemplate string `json:"username_template,omitempty"`

	dir string // directory of the file this target was loaded from or saved to
}

// LoadTarget reads and validates a target file. A relative ca_file is
// resolved against the file's directory.
func LoadTarget(path string) (*Target, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("load target: %w", err)
	}
	var t Target
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&t); err != nil {
		return nil, fmt.Errorf("load target %s: %w: %w", path, ErrInvalidTarget, err)
	}
	t.dir = filepath.Dir(path)
	if err := t.Validate(); err != nil {
		return nil, fmt.Errorf("load target %s: %w", path, err)
	}
	return &t, nil
}

// Validate checks the fields every user of a target needs: the MQTT
// endpoint, the login templates, and, when the target has a REST API
// (api_endpoint), the project and credentials that API needs.
func (t *Target) Validate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrInvalidTarget, fmt.Sprintf(format, args...))
	}
	if t.MQTTEndpoint == "" {
		return bad("mqtt_endpoint is required (e.g. 127.0.0.1:8883)")
	}
	if _, _, err := net.SplitHostPort(trimMQTTScheme(t.MQTTEndpoint)); err != nil {
		return bad("mqtt_endpoint %q is not host:port: %v", t.MQTTEndpoint, err)
	}
	if _, err := ParseLoginTemplate(t.ClientIDTemplate); err != nil {
		return bad("client_id_template: %v", err)
	}
	if _, err := ParseLoginTemplate(t.UsernameTemplate); err != nil {
		return bad("username_template: %v", err)
	}
	switch t.Signing {
	case SigningAuto, SigningSDK, SigningV11:
	default:
		return bad("signing %q is not one of \"\", %q, %q", t.Signing, SigningSDK, SigningV11)
	}
	if !t.HasAPI() {
		return nil // no API: project and credentials have no use
	}
	u, err := url.Parse(t.APIEndpoint)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return bad("api_endpoint %q is not an http(s)://host[:port] URL", t.APIEndpoint)
	}
	if t.ProjectID == "" {
		return bad("project_id is required with an api_endpoint")
	}
	switch {
	case t.AccessKey != "" && t.SecretKey == "":
		return bad("access_key is set but secret_key is empty")
	case t.AccessKey == "" && t.SecretKey != "":
		return bad("secret_key is set but access_key is empty")
	case t.AccessKey == "" && t.Token == "":
		return bad("credentials are required with an api_endpoint: access_key and secret_key, or token")
	}
	return nil
}

// HasAPI reports whether the target has a REST API (api_endpoint).
func (t *Target) HasAPI() bool { return t.APIEndpoint != "" }

// RequireAPI returns nil when the target has a REST API, else an error
// (wrapping ErrNoAPI) saying that what needs it cannot run.
func (t *Target) RequireAPI(what string) error {
	if t.HasAPI() {
		return nil
	}
	name := t.Name
	if name == "" {
		name = t.MQTTEndpoint
	}
	return fmt.Errorf("%w: target %s has no api_endpoint, and %s needs the platform's REST API (api_endpoint, project_id and credentials)", ErrNoAPI, name, what)
}

// LoginTemplates returns the target's ClientId and username templates
// (zero templates: IoTDA's conventions).
func (t *Target) LoginTemplates() (clientID, username LoginTemplate, err error) {
	if clientID, err = ParseLoginTemplate(t.ClientIDTemplate); err != nil {
		return clientID, username, fmt.Errorf("%w: client_id_template: %w", ErrInvalidTarget, err)
	}
	if username, err = ParseLoginTemplate(t.UsernameTemplate); err != nil {
		return clientID, username, fmt.Errorf("%w: username_template: %w", ErrInvalidTarget, err)
	}
	return clientID, username, nil
}

// Save writes the target to path (mode 0600: it holds secrets), atomically.
// A relative ca_file of a target never saved or loaded is taken as relative to
// path; otherwise ca_file is written relative to path's directory when the CA
// lies inside it, else absolute. Afterwards t describes the file at path.
func (t *Target) Save(path string) error {
	dir := filepath.Dir(path)
	out := *t
	if ca := t.caPath(); ca != "" && (filepath.IsAbs(t.CAFile) || t.dir != "") {
		abs, err := filepath.Abs(ca)
		if err != nil {
			return fmt.Errorf("save target: %w", err)
		}
		absDir, err := filepath.Abs(dir)
		if err != nil {
			return fmt.Errorf("save target: %w", err)
		}
		out.CAFile = abs
		if rel, err := filepath.Rel(absDir, abs); err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
			out.CAFile = rel
		}
	}
	data, err := json.MarshalIndent(&out, "", "  ")
	if err != nil {
		return fmt.Errorf("save target: %w", err)
	}
	tmp, err := os.CreateTemp(dir, ".target-*.json")
	if err != nil {
		return fmt.Errorf("save target: %w", err)
	}
	defer os.Remove(tmp.Name()) // no-op after a successful rename
	if _, err := tmp.Write(append(data, '\n')); err != nil {
		_ = tmp.Close()
		return fmt.Errorf("save target: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("save target: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("save target: %w", err)
	}
	t.CAFile, t.dir = out.CAFile, dir
	return nil
}

// caPath is CAFile resolved against the target file's directory.
func (t *Target) caPath() string {
	if t.CAFile == "" || filepath.IsAbs(t.CAFile) || t.dir == "" {
		return t.CAFile
	}
	return filepath.Join(t.dir, t.CAFile)
}

// RootCAs returns the pool to verify the platform's server certificates
// with: the certificates of ca_file, or nil (= the system roots) when
// ca_file is empty.
func (t *Target) RootCAs() (*x509.CertPool, error) {
	path := t.caPath()
	if path == "" {
		return nil, nil
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("target root CAs: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(data) {
		return nil, fmt.Errorf("target root CAs: %s holds no PEM certificate", path)
	}
	return pool, nil
}

// ServerName is the host name to verify (and send as SNI) for endpoint, a
// URL or host:port; "" means the MQTT endpoint.
func (t *Target) ServerName(endpoint string) string {
	if endpoint == "" {
		endpoint = t.MQTTEndpoint
	}
	if u, err := url.Parse(endpoint); err == nil && u.Host != "" {
		return u.Hostname()
	}
	if host, _, err := net.SplitHostPort(endpoint); err == nil {
		return host
	}
	return endpoint
}

// MQTTAddress is the MQTT endpoint as host:port for net.Dial.
func (t *Target) MQTTAddress() string { return trimMQTTScheme(t.MQTTEndpoint) }

// TLSConfig is a client TLS configuration for the MQTTS endpoint: the
// target's root CAs, its server name and TLS ≥ 1.2. Callers add their
// client certificate.
func (t *Target) TLSConfig() (*tls.Config, error) {
	pool, err := t.RootCAs()
	if err != nil {
		return nil, err
	}
	return &tls.Config{RootCAs: pool, ServerName: t.ServerName(""), MinVersion: tls.VersionTLS12}, nil
}

// Credentials are the target's API credentials, with the signing scheme chosen
// by Signing (auto: V11 on Huawei instance endpoints, as the SDK does).
func (t *Target) Credentials() Credentials {
	c := Credentials{AccessKey: t.AccessKey, SecretKey: t.SecretKey, Token: t.Token, ProjectID: t.ProjectID, Region: t.Region}
	switch t.Signing {
	case SigningV11:
		c.Derived = true
	case SigningAuto:
		c.Derived = huaweiInstanceEndpoint(t.APIEndpoint)
	}
	return c
}

// Client returns an API client for the target: its endpoint, credentials and
// root CAs. opts come last and may override any of them. A target without
// api_endpoint has no client (ErrNoAPI).
func (t *Target) Client(opts ...ClientOption) (*Client, error) {
	if err := t.RequireAPI("this use"); err != nil {
		return nil, fmt.Errorf("target client: %w", err)
	}
	pool, err := t.RootCAs()
	if err != nil {
		return nil, fmt.Errorf("target client: %w", err)
	}
	all := make([]ClientOption, 0, len(opts)+1)
	if pool != nil {
		all = append(all, WithRootCAs(pool))
	}
	return NewClient(t.APIEndpoint, t.Credentials(), append(all, opts...)...), nil
}

func trimMQTTScheme(ep string) string {
	for _, p := range []string{"ssl://", "tls://", "mqtts://", "tcp://", "mqtt://"} {
		if strings.HasPrefix(ep, p) {
			return strings.TrimPrefix(ep, p)
		}
	}
	return ep
}

// sdkRegionalHost is the SDK's GetDefaultDerivedPredicate pattern: hosts it
// matches use standard signing, others derived (docs/iotda.md §2.3).
var sdkRegionalHost = regexp.MustCompile(`^[a-z][a-z0-9-]+(\.[a-z]{2,}-[a-z]+-\d{1,2})?\.(my)?(huaweicloud|myhwclouds).(com|cn)`)

// huaweiInstanceEndpoint reports whether endpoint is a Huawei Cloud host that
// the SDK would sign with V11 (e.g. {prefix}.st1.iotda-app.{region}.myhuaweicloud.com).
// Other hosts — the embedded platform, a lab deployment — use SDK-HMAC-SHA256.
func huaweiInstanceEndpoint(endpoint string) bool {
	u, err := url.Parse(endpoint)
	if err != nil {
		return false
	}
	host := strings.ToLower(u.Hostname())
	huawei := false
	for _, d := range []string{"huaweicloud.com", "huaweicloud.cn", "myhwclouds.com", "myhwclouds.cn"} {
		huawei = huawei || strings.HasSuffix(host, d)
	}
	return huawei && !sdkRegionalHost.MatchString(host)
}
