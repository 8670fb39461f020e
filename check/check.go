// Package check is certlab's device compatibility check, for device vendors:
// given a target (REST API + MQTTS endpoint) and a device's certificate and
// key, it lints the certificate against what the platform will demand, then
// logs the device in for real and explains the outcome.
//
// The lint mirrors the platform's rules, in the order a login meets them:
// the key pair, the key type and size, the signature algorithms, the
// validity window, the clientAuth extended key usage, the intermediates
// (CA:TRUE, keyCertSign), the chain to an uploaded and verified CA of the
// project (the project's CAs are listed through the API and the signatures
// checked locally) [LOGIN-TLS] [CA-UNVERIFIED], and the device registration
// (auth type, frozen, MQTT product, primary or secondary fingerprint in
// SHA-256 or SHA-1) [DEV-FINGERPRINT] [DEV-FINGERPRINT-SECONDARY]
// [PROTO-MQTT-ONLY] [DEV-FREEZE]. Each problem names the login-refusal reason
// it causes (docs/requirements.md, "Login refusals") and a remedy; the
// certificate remedies are the ones of the sim/pki catalogue, so a variant
// and its explanation have one wording.
//
// The login is sim/device's, with the certificate always presented
// (device.AlwaysPresent), so what the platform sees is what a device built
// on OpenSSL or mbedTLS sends. On the reference platform the platform's own
// record of the attempt (GET /certlab/v1/login-attempts) gives the reason it
// refused, which becomes the verdict. A refused login is a result: Run
// returns an error only when the check itself cannot run.
package check

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"time"

	"github.com/certlab/certlab/iotda"
	"github.com/certlab/certlab/sim/device"
	"github.com/certlab/certlab/sim/pki"
)

// Defaults applied by Config.withDefaults.
const (
	DefaultConnectTimeout = 10 * time.Second
	DefaultAttemptWait    = 3 * time.Second
	DefaultAPITimeout     = 15 * time.Second
	// ExpirySoon is how close to NotAfter a certificate draws a warning.
	ExpirySoon = 30 * 24 * time.Hour
)

// Config describes one check.
type Config struct {
	// Target says how to reach the platform (required).
	Target *iotda.Target
	// Client talks to the target's API; nil = Target.Client().
	Client *iotda.Client
	// Leaf is the device's certificate, the intermediates it presents and its
	// private key (required; see pki.LeafFromFiles).
	Leaf *pki.Leaf
	// DeviceID is the device_id the device logs in as; "" = look the device
	// up: by the certificate's fingerprint, else by node_id or device_id = CN
	// (see findDevice).
	DeviceID string
	// TLSVersion pins the login's TLS version (tls.VersionTLS12 or
	// tls.VersionTLS13); 0 lets client and server agree.
	TLSVersion uint16
	// MQTTVersion is iotda.MQTT311 (default) or iotda.MQTT5.
	MQTTVersion iotda.MQTTVersion
	// ConnectTimeout bounds the login (TCP + TLS + CONNECT -> CONNACK); default 10 s.
	ConnectTimeout time.Duration
	// APITimeout bounds each API call; default 15 s.
	APITimeout time.Duration
	// AttemptWait is how long to wait for the platform's record of the login
	// to appear in its login-attempt log; default 3 s.
	AttemptWait time.Duration
	// Now is the clock of the lint and of the login's ClientId; nil = time.Now.
	Now func() time.Time
}

func (c Config) withDefaults() Config {
	if c.MQTTVersion == 0 {
		c.MQTTVersion = iotda.MQTT311
	}
	if c.ConnectTimeout <= 0 {
		c.ConnectTimeout = DefaultConnectTimeout
	}
	if c.APITimeout <= 0 {
		c.APITimeout = DefaultAPITimeout
	}
	if c.AttemptWait <= 0 {
		c.AttemptWait = DefaultAttemptWait
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return c
}

// Run checks one device and returns its compatibility report. It fails only
// when the check cannot run (no target, no certificate, a client that cannot
// be built); everything the platform or the certificate gets wrong is in the
// report.
func Run(ctx context.Context, cfg Config) (*Report, error) {
	cfg = cfg.withDefaults()
	switch {
	case cfg.Target == nil:
		return nil, errors.New("check: Config.Target is required")
	case cfg.Leaf == nil || cfg.Leaf.Cert == nil:
		return nil, errors.New("check: Config.Leaf with a certificate is required")
	case cfg.Leaf.Key == nil:
		return nil, errors.New("check: Config.Leaf has no private key")
	case cfg.MQTTVersion != iotda.MQTT311 && cfg.MQTTVersion != iotda.MQTT5:
		return nil, fmt.Errorf("check: MQTT version %s (want 3.1.1 or 5)", cfg.MQTTVersion)
	case cfg.TLSVersion != 0 && cfg.TLSVersion != tls.VersionTLS12 && cfg.TLSVersion != tls.VersionTLS13:
		return nil, fmt.Errorf("check: TLS version %#04x (want TLS 1.2 or 1.3)", cfg.TLSVersion)
	}
	if cfg.Client == nil {
		c, err := cfg.Target.Client(iotda.WithTimeout(cfg.APITimeout))
		if err != nil {
			return nil, fmt.Errorf("check: %w", err)
		}
		cfg.Client = c
	}
	c := &checker{cfg: cfg, leaf: cfg.Leaf, now: cfg.Now()}
	match := DeviceMatch{DeviceID: cfg.DeviceID, By: "flag", Detail: "given by the caller"}
	if cfg.DeviceID == "" {
		var err error
		if match, err = c.findDevice(ctx); err != nil {
			return nil, fmt.Errorf("check: %w", err)
		}
		if match.DeviceID == "" {
			return nil, fmt.Errorf("check: %s; give the device ID", match.Detail)
		}
		c.cfg.DeviceID = match.DeviceID
	}
	r := &Report{
		Target:      Endpoints{Name: cfg.Target.Name, API: cfg.Target.APIEndpoint, MQTT: cfg.Target.MQTTAddress(), ProjectID: cfg.Target.ProjectID},
		DeviceID:    c.cfg.DeviceID,
		Device:      match,
		Certificate: describe(cfg.Leaf),
		CheckedAt:   c.now.UTC(),
	}
	r.Checks = c.lint(ctx)
	r.Login = c.login(ctx)
	r.Platform, r.PlatformNote = c.platformRecord(ctx, r.Login)
	r.decide()
	return r, nil
}

// checker holds one check's inputs.
type checker struct {
	cfg  Config
	leaf *pki.Leaf
	now  time.Time
	// loginStart is when the login began (platform-record matching).
	loginStart time.Time
}

// api bounds one API call by the configured timeout.
func (c *checker) api(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, c.cfg.APITimeout)
}

// login logs the device in once, with the certificate always presented.
func (c *checker) login(ctx context.Context) Login {
	out := Login{MQTTVersion: c.cfg.MQTTVersion.String(), Username: c.cfg.DeviceID}
	tlsCfg, err := c.cfg.Target.TLSConfig()
	if err != nil {
		out.Outcome, out.Error = iotda.OutcomeError, fmt.Sprintf("target TLS configuration: %v", err)
		return out
	}
	cert := c.leaf.TLSCertificate()
	tlsCfg.Certificates = []tls.Certificate{cert}
	if v := c.cfg.TLSVersion; v != 0 {
		tlsCfg.MinVersion, tlsCfg.MaxVersion = v, v
	}
	tlsCfg.GetClientCertificate = device.AlwaysPresent(cert)
	out.ClientID = iotda.ClientIDFor(c.cfg.DeviceID, c.now)
	c.loginStart = time.Now()
	s, res := device.Login(ctx, device.Config{
		Addr:           c.cfg.Target.MQTTAddress(),
		TLS:            tlsCfg,
		MQTTVersion:    c.cfg.MQTTVersion,
		ClientID:       out.ClientID,
		Username:       c.cfg.DeviceID,
		ConnectTimeout: c.cfg.ConnectTimeout,
	})
	if s != nil {
		_ = s.Close()
	}
	out.Outcome = res.Outcome
	out.Phase = string(res.Phase)
	out.ClientReason = res.Reason
	out.Alert = res.Alert
	if res.Phase == device.PhaseConnect && res.Outcome == iotda.OutcomeRefused {
		code := int(res.ConnackCode)
		out.ConnackCode = &code
	}
	out.ReasonString = res.ReasonString
	if res.TLSVersion != 0 {
		out.TLSVersion = tls.VersionName(res.TLSVersion)
	}
	if res.CipherSuite != 0 {
		out.CipherSuite = tls.CipherSuiteName(res.CipherSuite)
	}
	out.DurationMs = float64(res.Total.Microseconds()) / 1000
	out.Error = res.ErrText
	return out
}

// platformRecord finds the platform's record of this login: by device ID
// (CONNECT-stage attempts), else by certificate fingerprint (TLS-stage
// attempts carry no device ID). Only the reference platform has the log.
func (c *checker) platformRecord(ctx context.Context, l Login) (*iotda.LoginAttempt, string) {
	sha := pki.FingerprintSHA256(c.leaf.Cert)
	since := c.loginStart.Add(-2 * time.Second) // the platform's clock is this machine's or close to it
	deadline := time.Now().Add(c.cfg.AttemptWait)
	match := func(as []iotda.LoginAttempt) *iotda.LoginAttempt {
		for i := range as { // newest first
			a := &as[i]
			t, err := time.Parse(time.RFC3339Nano, a.Time)
			if err == nil && t.Before(since) {
				continue
			}
			sameCert := a.CertSHA256 == "" || a.CertSHA256 == sha
			if l.ClientID != "" && a.ClientID == l.ClientID && sameCert || a.ClientID == "" && a.CertSHA256 == sha {
				return a
			}
		}
		return nil
	}
	for {
		actx, cancel := c.api(ctx)
		byDevice, err := c.cfg.Client.LoginAttempts(actx, iotda.LoginAttemptFilter{DeviceID: c.cfg.DeviceID, Limit: 20})
		cancel()
		if err != nil {
			if st := iotda.StatusCode(err); st == 404 || st == 405 {
				return nil, "the target keeps no login-attempt log (GET /certlab/v1/login-attempts): the verdict comes from the lint and the login alone"
			}
			return nil, fmt.Sprintf("the platform's login-attempt log could not be read: %v", err)
		}
		if a := match(byDevice.Attempts); a != nil {
			return a, ""
		}
		actx, cancel = c.api(ctx)
		recent, err := c.cfg.Client.LoginAttempts(actx, iotda.LoginAttemptFilter{Limit: 500})
		cancel()
		if err == nil {
			if a := match(recent.Attempts); a != nil {
				return a, ""
			}
		}
		if time.Now().After(deadline) {
			return nil, "the platform recorded no attempt visible to this project for this login (a refusal before the device's project is known, such as device_not_found, is shown to nobody)"
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Sprintf("stopped waiting for the platform's record: %v", ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// describe summarises the certificate for the report.
func describe(l *pki.Leaf) Certificate {
	c := l.Cert
	out := Certificate{
		Subject:            c.Subject.String(),
		Issuer:             c.Issuer.String(),
		Serial:             c.SerialNumber.Text(16),
		SHA256:             pki.FingerprintSHA256(c),
		SHA1:               pki.FingerprintSHA1(c),
		KeyType:            pki.KeyDescription(c.PublicKey),
		SignatureAlgorithm: c.SignatureAlgorithm.String(),
		NotBefore:          c.NotBefore.UTC(),
		NotAfter:           c.NotAfter.UTC(),
		Intermediates:      len(l.Chain),
	}
	for _, u := range c.ExtKeyUsage {
		out.ExtKeyUsage = append(out.ExtKeyUsage, extKeyUsageName(u))
	}
	return out
}

func extKeyUsageName(u x509.ExtKeyUsage) string {
	switch u {
	case x509.ExtKeyUsageAny:
		return "any"
	case x509.ExtKeyUsageServerAuth:
		return "serverAuth"
	case x509.ExtKeyUsageClientAuth:
		return "clientAuth"
	case x509.ExtKeyUsageCodeSigning:
		return "codeSigning"
	case x509.ExtKeyUsageEmailProtection:
		return "emailProtection"
	case x509.ExtKeyUsageTimeStamping:
		return "timeStamping"
	case x509.ExtKeyUsageOCSPSigning:
		return "OCSPSigning"
	default:
		return fmt.Sprintf("eku(%d)", int(u))
	}
}
