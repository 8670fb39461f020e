package features

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/cucumber/godog"

	"github.com/certlab/certlab/iotda"
	"github.com/certlab/certlab/sim/device"
	"github.com/certlab/certlab/sim/pki"
)

// Deadlines of the suite's network phases.
const (
	loginTimeout   = 10 * time.Second // TCP + TLS + CONNECT -> CONNACK
	cleanupTimeout = 30 * time.Second // the whole cleanup of one scenario
	logPollTimeout = 3 * time.Second  // how long a login attempt may take to appear in the log
)

// env is what all scenarios of one run share: the target and its client.
// Everything in it is safe for concurrent use.
type env struct {
	target    *iotda.Target
	client    *iotda.Client // the target's own project
	reference bool          // @reference enabled: admin API and login-attempt log
	tlsBase   *tls.Config   // MQTTS client config without a certificate
	mqttAddr  string

	mu       sync.Mutex
	warnings []string // cleanup failures
}

func newEnv(t *iotda.Target, reference bool) (*env, error) {
	c, err := t.Client()
	if err != nil {
		return nil, err
	}
	tc, err := t.TLSConfig()
	if err != nil {
		return nil, err
	}
	return &env{target: t, client: c, reference: reference, tlsBase: tc, mqttAddr: t.MQTTAddress()}, nil
}

func (e *env) warn(format string, args ...any) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.warnings = append(e.warnings, fmt.Sprintf(format, args...))
}

func (e *env) cleanupWarnings() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return slices.Clone(e.warnings)
}

// initScenario is godog's ScenarioInitializer: it runs once per scenario, so
// the world it allocates is private to that scenario even when scenarios run
// concurrently (docs/libraries.md A3.2).
func (e *env) initScenario(sc *godog.ScenarioContext) {
	w := &world{env: e, cas: map[string]*caRec{}, devices: map[string]*deviceRec{}}
	sc.Before(w.before)
	sc.After(w.after)
	w.caSteps(sc)
	w.deviceSteps(sc)
	w.loginSteps(sc)
	w.mqttSteps(sc)
}

// project is a tenant the scenario works in: the target's own project, or a
// fresh one made with the admin API (@reference).
type project struct {
	name   string
	client *iotda.Client
	fresh  bool // disposable: nothing in it is cleaned up
}

type caRec struct {
	name       string
	ca         *pki.CA
	proj       *project // where it was uploaded (nil until then)
	id         string   // certificate_id
	verifyCode string
	deleted    bool
}

type productRec struct {
	id       string
	protocol string
	proj     *project
}

type deviceRec struct {
	name     string
	nodeID   string
	id       string // device_id (known once registered; predicted before)
	product  *productRec
	cert     *pki.Leaf            // the certificate it logs in with by default
	certs    map[string]*pki.Leaf // more certificates, by name
	sessions []*sessionRec        // oldest first
}

// sessionRec is one live (or ended) MQTT session and what it received.
type sessionRec struct {
	s       *device.Session
	version iotda.MQTTVersion
	mu      sync.Mutex
	msgs    []device.Message
}

func (s *sessionRec) messages(topic string) []device.Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []device.Message
	for _, m := range s.msgs {
		if m.Topic == topic {
			out = append(out, m)
		}
	}
	return out
}

// loginRec is the last login attempt of the scenario.
type loginRec struct {
	dev      *deviceRec
	cert     *pki.Leaf // nil: no client certificate
	clientID string
	version  iotda.MQTTVersion
	start    time.Time
	res      device.Result
}

// world is the state of one scenario.
type world struct {
	env    *env
	name   string
	suffix string // random, makes every identity of the scenario unique
	seq    int

	proj     *project
	cas      map[string]*caRec
	mine     []*caRec // CAs of "I have uploaded N device CAs", in upload order
	product  *productRec
	devices  map[string]*deviceRec
	chosenID string // "a device_id of my choice"

	lastErr    error
	lastCA     *iotda.CACert
	lastDevice *iotda.Device
	lastList   *iotda.ListCertificatesResponse
	pages      []*iotda.ListCertificatesResponse
	bulk       bulkResult
	bulkIDs    []string // certificate_ids of the bulk uploads that succeeded

	login    *loginRec
	pub      opResult
	sub      opResult
	probe    *probeConn
	probeDev *deviceRec
	probeAn  probeAnswer

	cleanups []func(context.Context) error
}

// opResult is a PUBLISH or SUBSCRIBE outcome.
type opResult struct {
	sess *sessionRec
	code byte
	err  error
	done bool
}

// bulkResult counts the outcomes of many concurrent API calls.
type bulkResult struct {
	ok      int
	refused map[string]int // by error_code
	other   []string       // unexpected failures
}

func (w *world) before(ctx context.Context, sc *godog.Scenario) (context.Context, error) {
	w.name = sc.Name
	var b [4]byte
	if _, err := rand.Read(b[:]); err != nil {
		return ctx, err
	}
	w.suffix = hex.EncodeToString(b[:])
	w.proj = &project{name: "target", client: w.env.client}
	return ctx, nil
}

// after closes the scenario's sessions and deletes what it created in the
// target's project. Failures become warnings: cleanup never changes the
// scenario's result.
func (w *world) after(ctx context.Context, _ *godog.Scenario, _ error) (context.Context, error) {
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
	defer cancel()
	if w.probe != nil {
		w.probe.close()
	}
	for _, d := range w.devices {
		for _, s := range d.sessions {
			_ = s.s.Close()
		}
	}
	for i := len(w.cleanups) - 1; i >= 0; i-- {
		if err := w.cleanups[i](cctx); err != nil && iotda.StatusCode(err) != 404 {
			w.env.warn("%s: %v", w.name, err)
		}
	}
	return ctx, nil
}

func (w *world) onCleanup(p *project, fn func(context.Context) error) {
	if p.fresh {
		return // a fresh project is disposable
	}
	w.cleanups = append(w.cleanups, fn)
}

// unique returns a name unique to this scenario and run.
func (w *world) unique(prefix string) string {
	w.seq++
	return fmt.Sprintf("%s%s-%d", prefix, w.suffix, w.seq)
}

// freshProject creates a project with the admin API (@reference scenarios).
func (w *world) freshProject(ctx context.Context) (*project, error) {
	t := w.env.target
	if t.AdminToken == "" {
		return nil, errors.New("a fresh project needs the certlab admin API: the target has no admin_token (run @reference scenarios against certlab's reference platform)")
	}
	name := w.unique("bdd-")
	creds, err := w.env.client.AddProject(ctx, t.AdminToken, name)
	if err != nil {
		return nil, fmt.Errorf("create project %s: %w", name, err)
	}
	nt := *t
	nt.ProjectID, nt.AccessKey, nt.SecretKey, nt.Token = creds.ProjectID, creds.AccessKey, creds.SecretKey, ""
	c, err := nt.Client()
	if err != nil {
		return nil, fmt.Errorf("client for project %s: %w", name, err)
	}
	return &project{name: name, client: c, fresh: true}, nil
}

// ---- placeholders ----

// expand replaces the placeholders of a step argument:
//
//	{device_id}      the device_id of dev
//	{DEVICE_ID}      the same in upper case
//	{device:NAME}    the device_id of device NAME (predicted if not registered)
//	{timestamp}      the current hour, YYYYMMDDHH in UTC (ClientId format)
func (w *world) expand(s string, dev *deviceRec) (string, error) {
	var out strings.Builder
	for {
		i := strings.IndexByte(s, '{')
		if i < 0 {
			out.WriteString(s)
			return out.String(), nil
		}
		j := strings.IndexByte(s[i:], '}')
		if j < 0 {
			return "", fmt.Errorf("unterminated placeholder in %q", s)
		}
		out.WriteString(s[:i])
		key := s[i+1 : i+j]
		s = s[i+j+1:]
		switch {
		case key == "device_id" || key == "DEVICE_ID":
			if dev == nil {
				return "", fmt.Errorf("{%s} needs a device", key)
			}
			id := dev.id
			if key == "DEVICE_ID" {
				id = strings.ToUpper(id)
			}
			out.WriteString(id)
		case strings.HasPrefix(key, "device:"):
			name := strings.TrimPrefix(key, "device:")
			if d, ok := w.devices[name]; ok && d.id != "" {
				out.WriteString(d.id)
			} else if w.product != nil {
				out.WriteString(w.product.id + "_" + name)
			} else {
				return "", fmt.Errorf("{%s}: no device %q and no product", key, name)
			}
		case key == "timestamp":
			out.WriteString(time.Now().UTC().Format(iotda.ClientIDTimeLayout))
		default:
			return "", fmt.Errorf("unknown placeholder {%s}", key)
		}
	}
}

// ---- common assertions on the last API call ----

func (w *world) requestSucceeds() error {
	if w.lastErr != nil {
		return fmt.Errorf("expected the request to succeed, got: %w", w.lastErr)
	}
	return nil
}

func (w *world) requestRefused(status int, code string) error {
	if w.lastErr == nil {
		return fmt.Errorf("expected HTTP %d %s, but the request succeeded", status, code)
	}
	var ae *iotda.APIError
	if !errors.As(w.lastErr, &ae) {
		return fmt.Errorf("expected HTTP %d %s, got a non-API error: %w", status, code, w.lastErr)
	}
	if ae.StatusCode != status || ae.ErrorCode != code {
		return fmt.Errorf("expected HTTP %d %s, got %w", status, code, ae)
	}
	return nil
}

func (w *world) errorMentions(alternatives string) error {
	var ae *iotda.APIError
	if !errors.As(w.lastErr, &ae) {
		return fmt.Errorf("no API error to inspect (last error: %v)", w.lastErr)
	}
	msg := strings.ToLower(ae.ErrorMsg)
	for _, a := range strings.Split(alternatives, "|") {
		if a = strings.TrimSpace(a); a != "" && strings.Contains(msg, strings.ToLower(a)) {
			return nil
		}
	}
	return fmt.Errorf("error_msg %q names none of %q", ae.ErrorMsg, alternatives)
}

// eventually polls check every 100 ms until it returns nil or d has passed,
// and returns check's last error.
func eventually(ctx context.Context, d time.Duration, check func() error) error {
	deadline := time.Now().Add(d)
	for {
		err := check()
		if err == nil || time.Now().After(deadline) {
			return err
		}
		select {
		case <-ctx.Done():
			return errors.Join(err, ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// asAPIError is errors.As for *iotda.APIError.
func asAPIError(err error, target **iotda.APIError) bool { return errors.As(err, target) }
