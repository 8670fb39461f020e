package features

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/cucumber/godog"

	"github.com/certlab/certlab/iotda"
	"github.com/certlab/certlab/sim/device"
	"github.com/certlab/certlab/sim/pki"
)

// loginSpec says how a device logs in; nil/zero fields take the defaults
// (its certificate, IoTDA's ClientId and username, keepalive 120 s).
type loginSpec struct {
	version   iotda.MQTTVersion
	certName  string  // one of the device's extra certificates
	noCert    bool    // present no client certificate
	clientID  *string // template with placeholders
	username  *string // template with placeholders
	password  []byte
	keepalive *int
}

const mqttVersionRE = `MQTT (3\.1\.1|5)`

func (w *world) loginSteps(sc *godog.ScenarioContext) {
	login := func(ctx context.Context, name, version string, spec loginSpec) error {
		v, err := iotda.ParseMQTTVersion(version)
		if err != nil {
			return err
		}
		spec.version = v
		return w.logIn(ctx, name, spec)
	}
	sc.Step(`^device "([^"]*)" logs in over `+mqttVersionRE+`$`, func(ctx context.Context, name, v string) error {
		return login(ctx, name, v, loginSpec{})
	})
	sc.Step(`^device "([^"]*)" logs in again over `+mqttVersionRE+`$`, func(ctx context.Context, name, v string) error {
		return login(ctx, name, v, loginSpec{})
	})
	sc.Step(`^device "([^"]*)" logs in over `+mqttVersionRE+` with its certificate "([^"]*)"$`, func(ctx context.Context, name, v, cert string) error {
		return login(ctx, name, v, loginSpec{certName: cert})
	})
	sc.Step(`^device "([^"]*)" logs in over `+mqttVersionRE+` with ClientId "([^"]*)"$`, func(ctx context.Context, name, v, cid string) error {
		return login(ctx, name, v, loginSpec{clientID: &cid})
	})
	sc.Step(`^device "([^"]*)" logs in over `+mqttVersionRE+` with ClientId "([^"]*)" and username "([^"]*)"$`, func(ctx context.Context, name, v, cid, user string) error {
		return login(ctx, name, v, loginSpec{clientID: &cid, username: &user})
	})
	sc.Step(`^device "([^"]*)" logs in over `+mqttVersionRE+` with username "([^"]*)"$`, func(ctx context.Context, name, v, user string) error {
		return login(ctx, name, v, loginSpec{username: &user})
	})
	sc.Step(`^device "([^"]*)" logs in over `+mqttVersionRE+` with password "([^"]*)"$`, func(ctx context.Context, name, v, pw string) error {
		return login(ctx, name, v, loginSpec{password: []byte(pw)})
	})
	sc.Step(`^device "([^"]*)" logs in over `+mqttVersionRE+` with keepalive (\d+)$`, func(ctx context.Context, name, v string, ka int) error {
		return login(ctx, name, v, loginSpec{keepalive: &ka})
	})
	sc.Step(`^device "([^"]*)" logs in over `+mqttVersionRE+` without a client certificate$`, func(ctx context.Context, name, v string) error {
		return login(ctx, name, v, loginSpec{noCert: true})
	})
	sc.Step(`^device "([^"]*)" is connected over `+mqttVersionRE+`$`, func(ctx context.Context, name, v string) error {
		if err := login(ctx, name, v, loginSpec{}); err != nil {
			return err
		}
		return w.loginSucceeds(ctx)
	})

	sc.Step(`^the login succeeds$`, w.loginSucceeds)
	sc.Step(`^the login is refused with reason "([^"]*)"$`, w.loginRefused)
	sc.Step(`^the login-attempt log explains "([^"]*)"$`, w.attemptExplains)
	sc.Step(`^device "([^"]*)" disconnects$`, w.deviceDisconnects)
	sc.Step(`^the session of device "([^"]*)" is closed by the platform within (\d+) seconds$`, func(ctx context.Context, name string, s int) error {
		return w.sessionClosed(ctx, name, 1, time.Duration(s)*time.Second)
	})
	sc.Step(`^the previous session of device "([^"]*)" is closed by the platform within (\d+) seconds$`, func(ctx context.Context, name string, s int) error {
		return w.sessionClosed(ctx, name, 2, time.Duration(s)*time.Second)
	})
	sc.Step(`^the session of device "([^"]*)" is still connected$`, w.sessionStillConnected)
}

// logIn performs one login of a device and records it in w.login. The
// outcome (success or refusal) is for the Then steps; only a harness fault
// is an error here.
func (w *world) logIn(ctx context.Context, name string, spec loginSpec) error {
	d, err := w.registered(name)
	if err != nil {
		return err
	}
	var cert *pki.Leaf
	switch {
	case spec.noCert:
	case spec.certName != "":
		if cert = d.certs[spec.certName]; cert == nil {
			return fmt.Errorf("device %q holds no certificate %q", name, spec.certName)
		}
	default:
		if cert = d.cert; cert == nil {
			return fmt.Errorf("device %q holds no certificate", name)
		}
	}
	clientID := iotda.ClientIDFor(d.id, time.Now())
	if spec.clientID != nil {
		if clientID, err = w.expand(*spec.clientID, d); err != nil {
			return err
		}
	}
	username := d.id
	if spec.username != nil {
		if username, err = w.expand(*spec.username, d); err != nil {
			return err
		}
	}
	tc := w.env.tlsBase.Clone()
	if cert != nil {
		tc.Certificates = []tls.Certificate{cert.TLSCertificate()}
	}
	rec := &sessionRec{version: spec.version}
	cfg := device.Config{
		Addr: w.env.mqttAddr, TLS: tc, MQTTVersion: spec.version,
		ClientID: clientID, Username: username, Password: spec.password,
		ConnectTimeout: loginTimeout,
		OnMessage: func(m device.Message) {
			rec.mu.Lock()
			rec.msgs = append(rec.msgs, m)
			rec.mu.Unlock()
		},
	}
	if spec.keepalive != nil {
		if *spec.keepalive < 0 || *spec.keepalive > 65535 {
			return fmt.Errorf("keepalive %d does not fit MQTT's 16 bits", *spec.keepalive)
		}
		cfg.Keepalive = uint16(*spec.keepalive)
		cfg.KeepaliveZero = *spec.keepalive == 0
	}
	start := time.Now()
	s, res := device.Login(ctx, cfg)
	w.login = &loginRec{dev: d, cert: cert, clientID: clientID, version: spec.version, start: start, res: res}
	if s != nil {
		rec.s = s
		d.sessions = append(d.sessions, rec)
	}
	return nil
}

func describe(res device.Result) string {
	s := fmt.Sprintf("outcome %s, phase %q, reason %q", res.Outcome, res.Phase, res.Reason)
	if res.ConnackCode != 0 {
		s += fmt.Sprintf(", CONNACK 0x%02x", res.ConnackCode)
	}
	if res.ReasonString != "" {
		s += fmt.Sprintf(" %q", res.ReasonString)
	}
	if res.ErrText != "" {
		s += ": " + res.ErrText
	}
	return s
}

func (w *world) loginSucceeds(ctx context.Context) error {
	l := w.login
	if l == nil {
		return errors.New("no login was attempted")
	}
	if l.res.OK() {
		return nil
	}
	msg := fmt.Sprintf("device %q: want CONNACK success over MQTT %s, got %s", l.dev.name, l.version, describe(l.res))
	if w.env.reference {
		if why := w.loggedReason(ctx, l, time.Second); why != "" {
			msg += "; the platform logged: " + why
		}
	}
	return errors.New(msg)
}

// loginRefused checks a refusal against the login-refusal table
// (iotda.Refusals): the stage, and for CONNECT-stage reasons the CONNACK
// code of the MQTT version in use. On the reference platform it also finds
// the attempt with exactly this reason in the login-attempt log.
func (w *world) loginRefused(ctx context.Context, reason string) error {
	l := w.login
	if l == nil {
		return errors.New("no login was attempted")
	}
	want, ok := iotda.RefusalFor(iotda.Reason(reason))
	if !ok {
		return fmt.Errorf("reason %q is not in the login-refusal table (iotda.Refusals)", reason)
	}
	res := l.res
	if res.Outcome != iotda.OutcomeRefused {
		return fmt.Errorf("device %q: want a refusal (%s) over MQTT %s, got %s", l.dev.name, reason, l.version, describe(res))
	}
	switch want.Stage {
	case iotda.StageTLS:
		if res.Phase != device.PhaseTLS {
			return fmt.Errorf("device %q: %s must be refused in the TLS handshake, got %s", l.dev.name, reason, describe(res))
		}
	case iotda.StageConnect:
		code := want.Code(l.version)
		if res.Phase != device.PhaseConnect || res.ConnackCode != code {
			return fmt.Errorf("device %q: %s over MQTT %s must be refused with CONNACK 0x%02x, got %s",
				l.dev.name, reason, l.version, code, describe(res))
		}
	}
	if w.env.reference {
		return w.attemptLogged(ctx, l, iotda.Reason(reason))
	}
	return nil
}

// logClient is the client whose project sees the device's login attempts.
func (w *world) logClient(l *loginRec) *iotda.Client { return l.dev.product.proj.client }

// matches reports whether a logged attempt is (probably) the login l: same
// certificate, or same ClientId, not older than the login.
func (l *loginRec) matches(a iotda.LoginAttempt) bool {
	if t, err := time.Parse(time.RFC3339Nano, a.Time); err == nil && t.Before(l.start.Add(-2*time.Second)) {
		return false
	}
	if l.cert != nil {
		return strings.EqualFold(strings.ReplaceAll(a.CertSHA256, ":", ""), l.cert.FingerprintSHA256())
	}
	if a.ClientID != "" {
		return a.ClientID == l.clientID
	}
	return true
}

// attemptLogged polls the login-attempt log for login l with the reason. [@reference]
func (w *world) attemptLogged(ctx context.Context, l *loginRec, reason iotda.Reason) error {
	err := eventually(ctx, logPollTimeout, func() error {
		got, err := w.logClient(l).LoginAttempts(ctx, iotda.LoginAttemptFilter{Reason: reason, Limit: 1000})
		if err != nil {
			return fmt.Errorf("read the login-attempt log: %w", err)
		}
		for _, a := range got.Attempts {
			if l.matches(a) {
				if a.Outcome != iotda.OutcomeRefused {
					return fmt.Errorf("the login-attempt log records outcome %q with reason %s", a.Outcome, reason)
				}
				return nil
			}
		}
		return fmt.Errorf("the login-attempt log has no %s attempt for this login", reason)
	})
	if err != nil {
		if why := w.loggedReason(ctx, l, 0); why != "" {
			err = fmt.Errorf("%w; it logged: %s", err, why)
		} else {
			err = fmt.Errorf("%w; no attempt of this login is visible to the device's project at all", err)
		}
	}
	return err
}

// attemptExplains polls the login-attempt log for the last login and checks
// that its explanation (detail) contains text. [@reference]
func (w *world) attemptExplains(ctx context.Context, text string) error {
	l := w.login
	if l == nil {
		return errors.New("no login was attempted")
	}
	if !w.env.reference {
		return errors.New("the login-attempt log is certlab's: tag the scenario @reference")
	}
	var last string
	err := eventually(ctx, logPollTimeout, func() error {
		got, err := w.logClient(l).LoginAttempts(ctx, iotda.LoginAttemptFilter{Limit: 1000})
		if err != nil {
			return fmt.Errorf("read the login-attempt log: %w", err)
		}
		for _, a := range got.Attempts {
			if l.matches(a) {
				if last = a.Detail; strings.Contains(a.Detail, text) {
					return nil
				}
			}
		}
		return errors.New("not yet")
	})
	if err != nil {
		return fmt.Errorf("the login-attempt log does not explain %q for this login (last detail %q)", text, last)
	}
	return nil
}

// loggedReason describes the newest logged attempt matching login l ("" if
// none appears within wait).
func (w *world) loggedReason(ctx context.Context, l *loginRec, wait time.Duration) string {
	var found string
	_ = eventually(ctx, wait, func() error {
		got, err := w.logClient(l).LoginAttempts(ctx, iotda.LoginAttemptFilter{Limit: 1000})
		if err != nil {
			return err
		}
		for _, a := range got.Attempts {
			if l.matches(a) {
				found = fmt.Sprintf("outcome %s, stage %s, reason %s (%s)", a.Outcome, a.Stage, a.Reason, a.Detail)
				return nil
			}
		}
		return errors.New("not yet")
	})
	return found
}

func (w *world) session(name string, nth int) (*sessionRec, error) {
	d, err := w.registered(name)
	if err != nil {
		return nil, err
	}
	if len(d.sessions) < nth {
		return nil, fmt.Errorf("device %q has %d sessions, not %d", name, len(d.sessions), nth)
	}
	return d.sessions[len(d.sessions)-nth], nil
}

func (w *world) deviceDisconnects(name string) error {
	s, err := w.session(name, 1)
	if err != nil {
		return err
	}
	_ = s.s.Close()
	return nil
}

// sessionClosed waits for the nth newest session of a device to be ended by
// the platform (not by the client).
func (w *world) sessionClosed(ctx context.Context, name string, nth int, within time.Duration) error {
	s, err := w.session(name, nth)
	if err != nil {
		return err
	}
	select {
	case <-s.s.Done():
	case <-time.After(within):
		return fmt.Errorf("the session of device %q is still open after %s", name, within)
	case <-ctx.Done():
		return ctx.Err()
	}
	if errors.Is(s.s.Err(), device.ErrClosed) {
		return fmt.Errorf("the session of device %q was closed by the client, not the platform", name)
	}
	return nil
}

// sessionStillConnected gives the platform a moment to drop the session,
// then proves it is alive with a QoS 1 round trip on the device's own topic.
func (w *world) sessionStillConnected(ctx context.Context, name string) error {
	s, err := w.session(name, 1)
	if err != nil {
		return err
	}
	select {
	case <-s.s.Done():
		return fmt.Errorf("the session of device %q has ended: %v", name, s.s.Err())
	case <-time.After(500 * time.Millisecond):
	}
	d := w.devices[name]
	code, err := s.s.Publish(ctx, iotda.DeviceTopic(d.id, iotda.TopicMessagesUp), 1, []byte(`{"content":"ping"}`))
	if err != nil || code != 0 {
		return fmt.Errorf("the session of device %q is not usable: publish on its own topic got 0x%02x, %v", name, code, err)
	}
	return nil
}
