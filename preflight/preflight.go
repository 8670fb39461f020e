// Package preflight checks, in a second, that a target can be used before a
// run starts: the API answers over TLS with a certificate the target's
// ca_file trusts, each configured credential (access_key/secret_key, token)
// is accepted for the project, and the MQTT endpoint speaks TLS with a
// trusted certificate. A run against a wrong port or a wrong secret would
// otherwise fail hundreds of times over with the same low-level error; the
// pre-flight says once, in one line per problem, which field of the target
// file is wrong.
//
// It only reads: one TCP connection and TLS handshake per endpoint and one
// authenticated list call (limit 1) per credential. The MQTT handshake is
// made without a client certificate, so a certificate-login platform records
// it as a refused attempt (no_client_cert), which is honest and harmless.
package preflight

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"strings"
	"syscall"
	"time"

	"github.com/certlab/certlab/iotda"
)

// DefaultTimeout bounds each phase (dial, handshake, API call).
const DefaultTimeout = 5 * time.Second

// Options configure Run. Zero values take the defaults.
type Options struct {
	Timeout time.Duration // per phase; default DefaultTimeout
	// Source names where the target came from in messages ("target.json");
	// default "the target file".
	Source string
}

// Check is the result of one check.
type Check struct {
	Name    string `json:"name"`    // e.g. "api-tls"
	Status  Status `json:"status"`  // ok, fail or skip
	Message string `json:"message"` // what was found, or what is wrong and which field to fix
}

// Status of a check.
type Status string

// Check statuses.
const (
	StatusOK   Status = "ok"
	StatusFail Status = "fail"
	StatusSkip Status = "skip" // not applicable, or an earlier check failed
)

// Report is the outcome of a pre-flight, checks in the order they ran.
type Report struct {
	Target string  `json:"target"`
	Checks []Check `json:"checks"`
}

// OK reports whether no check failed.
func (r Report) OK() bool {
	for _, c := range r.Checks {
		if c.Status == StatusFail {
			return false
		}
	}
	return true
}

// Err returns nil when every check passed, else an error whose text has one
// line per failed check.
func (r Report) Err() error {
	var lines []string
	for _, c := range r.Checks {
		if c.Status == StatusFail {
			lines = append(lines, c.Message)
		}
	}
	if len(lines) == 0 {
		return nil
	}
	return fmt.Errorf("target %s failed its pre-flight:\n  %s", r.Target, strings.Join(lines, "\n  "))
}

// WriteText writes one line per check.
func (r Report) WriteText(w io.Writer) error {
	for _, c := range r.Checks {
		if _, err := fmt.Fprintf(w, "%-4s  %-18s %s\n", strings.ToUpper(string(c.Status)), c.Name, c.Message); err != nil {
			return err
		}
	}
	return nil
}

// Run checks the target. Problems are results in the report, never errors.
func Run(ctx context.Context, t *iotda.Target, opts Options) Report {
	if opts.Timeout <= 0 {
		opts.Timeout = DefaultTimeout
	}
	if opts.Source == "" {
		opts.Source = "the target file"
	}
	p := &pilot{t: t, opts: opts, r: Report{Target: t.Name}}
	if p.r.Target == "" {
		p.r.Target = opts.Source
	}
	p.api(ctx)
	p.mqtt(ctx)
	return p.r
}

type pilot struct {
	t    *iotda.Target
	opts Options
	r    Report
}

func (p *pilot) add(name string, st Status, format string, args ...any) {
	p.r.Checks = append(p.r.Checks, Check{Name: name, Status: st, Message: fmt.Sprintf(format, args...)})
}

// api checks the REST endpoint: reachable, TLS trusted, each credential accepted.
func (p *pilot) api(ctx context.Context) {
	if p.t.APIEndpoint == "" {
		p.add("api", StatusSkip, "no api_endpoint: the target has no REST API (the fleet must be registered there already)")
		return
	}
	u, err := url.Parse(p.t.APIEndpoint)
	if err != nil || u.Host == "" {
		p.add("api-reachable", StatusFail, "api_endpoint %q in %s is not a URL", p.t.APIEndpoint, p.opts.Source)
		return
	}
	addr := u.Host
	if u.Port() == "" {
		addr = net.JoinHostPort(u.Hostname(), map[bool]string{true: "443", false: "80"}[u.Scheme == "https"])
	}
	conn, ok := p.dial(ctx, "api-reachable", "API", p.t.APIEndpoint, addr, "api_endpoint")
	if !ok {
		p.add("api-credentials", StatusSkip, "not checked: the API cannot be reached")
		return
	}
	if u.Scheme == "https" {
		ok = p.handshake(ctx, "api-tls", "API", addr, conn, p.t.ServerName(p.t.APIEndpoint), false)
	} else {
		_ = conn.Close()
	}
	if !ok {
		p.add("api-credentials", StatusSkip, "not checked: no trusted TLS connection to the API")
		return
	}
	p.credentials(ctx)
}

// credentials makes one authenticated call per configured credential, so a
// failure names the field that is wrong.
func (p *pilot) credentials(ctx context.Context) {
	type cred struct {
		name   string
		target iotda.Target
	}
	var creds []cred
	if p.t.AccessKey != "" {
		t := *p.t
		t.Token = ""
		creds = append(creds, cred{"access_key/secret_key", t})
	}
	if p.t.Token != "" {
		t := *p.t
		t.AccessKey, t.SecretKey = "", ""
		creds = append(creds, cred{"token", t})
	}
	for _, c := range creds {
		client, err := c.target.Client(iotda.WithTimeout(p.opts.Timeout))
		if err != nil {
			p.add("api-credentials", StatusFail, "%s: %v", c.name, err)
			continue
		}
		_, err = client.ListCertificates(ctx, iotda.ListOptions{Limit: 1})
		if err == nil {
			p.add("api-credentials", StatusOK, "%s accepted for project %s", c.name, p.t.ProjectID)
			continue
		}
		p.add("api-credentials", StatusFail, "%s", p.credentialProblem(c.name, err))
	}
}

// credentialProblem turns a refused API call into the field to fix.
func (p *pilot) credentialProblem(cred string, err error) string {
	ae, ok := errors.AsType[*iotda.APIError](err)
	if !ok {
		return fmt.Sprintf("%s: the API call failed: %v", cred, err)
	}
	msg := strings.ToLower(ae.ErrorMsg)
	src := p.opts.Source
	switch {
	case ae.StatusCode == 401 && strings.Contains(msg, "unknown access key"):
		return fmt.Sprintf("access_key %q is not known to the platform: check access_key in %s (%s)", p.t.AccessKey, src, ae.ErrorCode)
	case ae.StatusCode == 401 && strings.Contains(msg, "signature"):
		return fmt.Sprintf("the platform knows access_key %q but the signature does not match: check secret_key in %s (%s)", p.t.AccessKey, src, ae.ErrorCode)
	case ae.StatusCode == 401 && (strings.Contains(msg, "x-sdk-date") || strings.Contains(msg, "clock")):
		return fmt.Sprintf("the request's date was refused: this machine's clock differs from the platform's (%s)", ae.ErrorMsg)
	case ae.StatusCode == 401 && cred == "token":
		return fmt.Sprintf("the platform refused the token: check token in %s (%s: %s)", src, ae.ErrorCode, ae.ErrorMsg)
	case ae.StatusCode == 401:
		return fmt.Sprintf("the platform refused the credentials: check access_key and secret_key in %s (%s: %s)", src, ae.ErrorCode, ae.ErrorMsg)
	case ae.StatusCode == 403:
		return fmt.Sprintf("%s belongs to another project than project_id %q: check project_id in %s (%s: %s)", cred, p.t.ProjectID, src, ae.ErrorCode, ae.ErrorMsg)
	case ae.StatusCode == 404:
		return fmt.Sprintf("project_id %q was not found on the platform (or api_endpoint is not an IoTDA API): check project_id and api_endpoint in %s (%s)", p.t.ProjectID, src, ae.Error())
	default:
		return fmt.Sprintf("%s: the API answered %s", cred, ae.Error())
	}
}

// mqtt checks the MQTTS endpoint: reachable, speaks TLS, trusted certificate.
func (p *pilot) mqtt(ctx context.Context) {
	addr := p.t.MQTTAddress()
	conn, ok := p.dial(ctx, "mqtt-reachable", "MQTT", p.t.MQTTEndpoint, addr, "mqtt_endpoint")
	if !ok {
		return
	}
	p.handshake(ctx, "mqtt-tls", "MQTT", addr, conn, p.t.ServerName(""), true)
}

// dial opens a TCP connection, or records why it could not.
func (p *pilot) dial(ctx context.Context, check, what, endpoint, addr, field string) (net.Conn, bool) {
	d := net.Dialer{Timeout: p.opts.Timeout}
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err == nil {
		p.add(check, StatusOK, "%s endpoint %s accepts TCP connections", what, endpoint)
		return conn, true
	}
	hint := "check " + field + " in " + p.opts.Source
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		hint = "nothing listens there: is the platform running, and is " + field + " in " + p.opts.Source + " right?"
	case isTimeout(err):
		hint = fmt.Sprintf("no answer within %s: a firewall, a wrong host, or a platform that is down; check %s in %s", p.opts.Timeout, field, p.opts.Source)
	case strings.Contains(err.Error(), "no such host"):
		hint = "the host name does not resolve: check " + field + " in " + p.opts.Source
	}
	p.add(check, StatusFail, "%s endpoint %s: %v — %s", what, endpoint, rootCause(err), hint)
	return nil, false
}

// handshake runs a TLS handshake over conn and closes it. For MQTT the
// platform may refuse the missing client certificate: that proves TLS works.
func (p *pilot) handshake(ctx context.Context, check, what, addr string, conn net.Conn, serverName string, clientCertExpected bool) bool {
	defer conn.Close()
	cfg, err := p.t.TLSConfig()
	if err != nil {
		p.add(check, StatusFail, "ca_file in %s: %v", p.opts.Source, err)
		return false
	}
	cfg.ServerName = serverName
	var leaf *x509.Certificate
	cfg.VerifyConnection = func(cs tls.ConnectionState) error {
		if len(cs.PeerCertificates) > 0 {
			leaf = cs.PeerCertificates[0]
		}
		return nil
	}
	_ = conn.SetDeadline(time.Now().Add(p.opts.Timeout))
	tc := tls.Client(conn, cfg)
	hctx, cancel := context.WithTimeout(ctx, p.opts.Timeout)
	err = tc.HandshakeContext(hctx)
	cancel()
	if err == nil && clientCertExpected {
		// TLS 1.3: the server checks the client's (absent) certificate
		// after the client has finished; read its verdict, briefly.
		_ = tc.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
		_, err = tc.Read(make([]byte, 1))
		if isTimeout(err) || errors.Is(err, io.EOF) {
			err = nil
		}
	}
	trusted := "a certificate trusted by ca_file"
	if p.t.CAFile == "" {
		trusted = "a certificate trusted by the system roots"
	}
	if leaf != nil {
		trusted += fmt.Sprintf(" (%s, valid until %s)", leaf.Subject.CommonName, leaf.NotAfter.UTC().Format("2006-01-02"))
	}
	switch {
	case err == nil:
		p.add(check, StatusOK, "%s endpoint %s speaks TLS with %s", what, addr, trusted)
		return true
	case clientCertExpected && isClientCertAlert(err):
		p.add(check, StatusOK, "%s endpoint %s speaks TLS with %s and demands a client certificate", what, addr, trusted)
		return true
	}
	p.add(check, StatusFail, "%s endpoint %s: %s", what, addr, p.tlsProblem(err, serverName))
	return false
}

// tlsProblem explains a failed handshake in terms of the target file.
func (p *pilot) tlsProblem(err error, serverName string) string {
	src := p.opts.Source
	if ua, ok := errors.AsType[x509.UnknownAuthorityError](err); ok {
		issuer := ""
		if ua.Cert != nil {
			issuer = fmt.Sprintf(" (its issuer is %q)", ua.Cert.Issuer.String())
		}
		if p.t.CAFile == "" {
			return fmt.Sprintf("its certificate%s is not trusted by the system roots: set ca_file in %s to the CA that signed it", issuer, src)
		}
		return fmt.Sprintf("its certificate%s is not signed by ca_file %q: set ca_file in %s to the CA that signed the platform's server certificate", issuer, p.t.CAFile, src)
	}
	if he, ok := errors.AsType[x509.HostnameError](err); ok {
		return fmt.Sprintf("its certificate is not valid for %q (%v): use a host name the certificate names in %s", serverName, he, src)
	}
	if ci, ok := errors.AsType[x509.CertificateInvalidError](err); ok {
		return fmt.Sprintf("its certificate is invalid: %v", ci)
	}
	if _, ok := errors.AsType[tls.RecordHeaderError](err); ok || strings.Contains(err.Error(), "first record does not look like a TLS handshake") {
		return fmt.Sprintf("it does not speak TLS (plain TCP or HTTP answered): check the port in %s", src)
	}
	if isTimeout(err) {
		return fmt.Sprintf("the TLS handshake did not complete within %s: is this a TLS port?", p.opts.Timeout)
	}
	return fmt.Sprintf("TLS handshake failed: %v", err)
}

// isClientCertAlert reports an alert a server sends when the client offers
// no certificate: certificate_required (TLS 1.3), handshake_failure or
// bad_certificate (TLS 1.2).
func isClientCertAlert(err error) bool {
	s := err.Error()
	for _, a := range []string{"certificate required", "handshake failure", "bad certificate"} {
		if strings.Contains(s, "remote error: tls: "+a) {
			return true
		}
	}
	return false
}

func isTimeout(err error) bool {
	ne, ok := errors.AsType[net.Error](err)
	return ok && ne.Timeout()
}

// rootCause strips the wrapping of a dial error to its syscall text.
func rootCause(err error) error {
	if oe, ok := errors.AsType[*net.OpError](err); ok && oe.Err != nil {
		return oe.Err
	}
	return err
}
