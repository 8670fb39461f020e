package features

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/cucumber/godog"

	"github.com/certlab/certlab/iotda"
	"github.com/certlab/certlab/sim/device"
)

func (w *world) mqttSteps(sc *godog.ScenarioContext) {
	sc.Step(`^device "([^"]*)" publishes with QoS ([01]) to "([^"]*)"$`, func(ctx context.Context, name string, qos int, topic string) error {
		return w.publish(ctx, name, byte(qos), topic, []byte(`{"content":"certlab bdd"}`))
	})
	sc.Step(`^device "([^"]*)" publishes (\d+) bytes with QoS ([01]) to "([^"]*)"$`, func(ctx context.Context, name string, n, qos int, topic string) error {
		return w.publish(ctx, name, byte(qos), topic, bytes.Repeat([]byte{'x'}, n))
	})
	sc.Step(`^the publish is acknowledged with reason code (0x[0-9A-Fa-f]{2})$`, w.publishAcked)
	sc.Step(`^the publish is refused with reason code (0x[0-9A-Fa-f]{2})$`, w.publishRefusedWith)
	sc.Step(`^the publish is refused$`, w.publishRefused)
	sc.Step(`^device "([^"]*)" subscribes with QoS ([01]) to "([^"]*)"$`, w.subscribe)
	sc.Step(`^the subscription is granted$`, w.subscriptionGranted)
	sc.Step(`^the subscription is refused$`, w.subscriptionRefused)
	sc.Step(`^device "([^"]*)" receives exactly (\d+) messages? on "([^"]*)" within (\d+) seconds$`, w.receivesExactly)
	sc.Step(`^device "([^"]*)" receives no message on "([^"]*)" within (\d+) seconds$`, func(ctx context.Context, name, topic string, s int) error {
		return w.receivesExactly(ctx, name, 0, topic, s)
	})
	sc.Step(`^device "([^"]*)" receives a message containing "([^"]*)" on "([^"]*)" within (\d+) seconds$`, w.receivesContaining)

	sc.Step(`^device "([^"]*)" probes the platform over MQTT 5$`, func(ctx context.Context, name string) error {
		return w.probeLogin(ctx, name, "")
	})
	sc.Step(`^device "([^"]*)" probes the platform over MQTT 5 with a will on "([^"]*)"$`, w.probeLogin)
	sc.Step(`^the CONNACK advertises Maximum QoS (\d)$`, w.connackMaxQoS)
	sc.Step(`^the CONNACK advertises Retain Available (\d)$`, w.connackRetain)
	sc.Step(`^the probe publishes with QoS ([012]) to "([^"]*)"$`, func(ctx context.Context, qos int, topic string) error {
		return w.probePublish(ctx, byte(qos), false, topic)
	})
	sc.Step(`^the probe publishes a retained message with QoS ([012]) to "([^"]*)"$`, func(ctx context.Context, qos int, topic string) error {
		return w.probePublish(ctx, byte(qos), true, topic)
	})
	sc.Step(`^the platform refuses the probe's PUBLISH$`, w.platformRefusesProbePublish)
	sc.Step(`^the probe's CONNECT is refused$`, w.probeConnectRefused)
}

func parseCode(s string) (byte, error) {
	v, err := strconv.ParseUint(s, 0, 8)
	return byte(v), err
}

// liveSession returns the newest session of a device.
func (w *world) liveSession(name string) (*sessionRec, *deviceRec, error) {
	s, err := w.session(name, 1)
	if err != nil {
		return nil, nil, err
	}
	return s, w.devices[name], nil
}

func (w *world) publish(ctx context.Context, name string, qos byte, topic string, payload []byte) error {
	s, d, err := w.liveSession(name)
	if err != nil {
		return err
	}
	if topic, err = w.expand(topic, d); err != nil {
		return err
	}
	code, err := s.s.Publish(ctx, topic, qos, payload)
	w.pub = opResult{sess: s, code: code, err: err, done: true}
	return nil
}

func (w *world) publishAcked(want string) error { return w.expectPuback(want, "PUBACK") }

// publishRefusedWith: MQTT 5 PUBACK with a refusal code. [ACL-OWN-TOPICS]
func (w *world) publishRefusedWith(want string) error {
	return w.expectPuback(want, "the PUBLISH refused with PUBACK")
}

// expectPuback checks that the last publish was answered with the PUBACK code want.
func (w *world) expectPuback(want, what string) error {
	code, err := parseCode(want)
	if err != nil {
		return err
	}
	if !w.pub.done {
		return errors.New("nothing was published")
	}
	if w.pub.err != nil || w.pub.code != code {
		return fmt.Errorf("want %s 0x%02x, got 0x%02x, error %v", what, code, w.pub.code, w.pub.err)
	}
	return nil
}

// publishRefused accepts any refusal: a PUBACK code ≥ 0x80 (MQTT 5), or the
// platform ending the session (the only refusal MQTT 3.1.1 has).
func (w *world) publishRefused(ctx context.Context) error {
	p := w.pub
	if !p.done {
		return errors.New("nothing was published")
	}
	if p.err == nil && p.code >= 0x80 {
		return nil
	}
	if p.err == nil {
		return fmt.Errorf("want the PUBLISH refused, got PUBACK 0x%02x", p.code)
	}
	select {
	case <-p.sess.s.Done():
		if errors.Is(p.sess.s.Err(), device.ErrClosed) {
			return fmt.Errorf("the session was closed by the client, not refused by the platform (%v)", p.err)
		}
		return nil
	case <-time.After(2 * time.Second):
		return fmt.Errorf("the PUBLISH failed (%v) but the platform kept the session open", p.err)
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (w *world) subscribe(ctx context.Context, name string, qos int, filter string) error {
	s, d, err := w.liveSession(name)
	if err != nil {
		return err
	}
	if filter, err = w.expand(filter, d); err != nil {
		return err
	}
	code, err := s.s.Subscribe(ctx, filter, byte(qos))
	w.sub = opResult{sess: s, code: code, err: err, done: true}
	if err != nil {
		return fmt.Errorf("subscribe %q: %w", filter, err)
	}
	return nil
}

func (w *world) subscriptionGranted() error {
	if !w.sub.done {
		return errors.New("nothing was subscribed")
	}
	if w.sub.code > 1 {
		return fmt.Errorf("want the subscription granted (QoS 0 or 1), got SUBACK 0x%02x", w.sub.code)
	}
	return nil
}

func (w *world) subscriptionRefused() error {
	if !w.sub.done {
		return errors.New("nothing was subscribed")
	}
	if w.sub.code < 0x80 {
		return fmt.Errorf("want the subscription refused (SUBACK ≥ 0x80), got 0x%02x", w.sub.code)
	}
	return nil
}

func (w *world) receivesExactly(ctx context.Context, name string, n int, topic string, secs int) error {
	s, d, err := w.liveSession(name)
	if err != nil {
		return err
	}
	if topic, err = w.expand(topic, d); err != nil {
		return err
	}
	deadline := time.Now().Add(time.Duration(secs) * time.Second)
	for time.Now().Before(deadline) {
		if got := len(s.messages(topic)); got > n {
			return fmt.Errorf("device %q received %d messages on %q, want %d", name, got, topic, n)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
	if got := len(s.messages(topic)); got != n {
		return fmt.Errorf("device %q received %d messages on %q within %ds, want %d", name, got, topic, secs, n)
	}
	return nil
}

func (w *world) receivesContaining(ctx context.Context, name, text, topic string, secs int) error {
	s, d, err := w.liveSession(name)
	if err != nil {
		return err
	}
	if topic, err = w.expand(topic, d); err != nil {
		return err
	}
	return eventually(ctx, time.Duration(secs)*time.Second, func() error {
		for _, m := range s.messages(topic) {
			if bytes.Contains(m.Payload, []byte(text)) {
				return nil
			}
		}
		return fmt.Errorf("device %q received no message containing %q on %q within %ds", name, text, topic, secs)
	})
}

// ---- raw MQTT 5 probe [MQTT-LIMITS] ----

func (w *world) probeLogin(ctx context.Context, name, willTopic string) error {
	d, err := w.registered(name)
	if err != nil {
		return err
	}
	var will *probeWill
	if willTopic != "" {
		t, err := w.expand(willTopic, d)
		if err != nil {
			return err
		}
		will = &probeWill{topic: t, payload: []byte(`{"content":"will"}`)}
	}
	tc := w.env.tlsBase.Clone()
	tc.Certificates = []tls.Certificate{d.cert.TLSCertificate()}
	if w.probe != nil {
		w.probe.close()
	}
	p, err := dialProbe(ctx, w.env.mqttAddr, tc, iotda.ClientIDFor(d.id, time.Now()), d.id, will)
	if err != nil {
		return err
	}
	w.probe, w.probeDev = p, d
	if will == nil && p.connack.ReasonCode != 0 {
		return fmt.Errorf("probe login of device %q refused with CONNACK 0x%02x", name, p.connack.ReasonCode)
	}
	return nil
}

func (w *world) connackMaxQoS(want int) error {
	if w.probe == nil {
		return errors.New("no probe connection")
	}
	if got := w.probe.maximumQoS(); int(got) != want {
		return fmt.Errorf("CONNACK Maximum QoS is %d (property present: %v), want %d", got, w.probe.connack.Properties.MaximumQosFlag, want)
	}
	return nil
}

func (w *world) connackRetain(want int) error {
	if w.probe == nil {
		return errors.New("no probe connection")
	}
	if got := w.probe.retainAvailable(); int(got) != want {
		return fmt.Errorf("CONNACK Retain Available is %d (property present: %v), want %d", got, w.probe.connack.Properties.RetainAvailableFlag, want)
	}
	return nil
}

func (w *world) probePublish(_ context.Context, qos byte, retain bool, topic string) error {
	if w.probe == nil {
		return errors.New("no probe connection")
	}
	t, err := w.expand(topic, w.probeDev)
	if err != nil {
		return err
	}
	w.probeAn = w.probe.publish(t, qos, retain, []byte(`{"content":"probe"}`))
	w.probe.disconnect() // whatever happened, this connection is done
	return nil
}

// platformRefusesProbePublish: a QoS 2 or retained PUBLISH must not be
// accepted: DISCONNECT (0x9B / 0x9A, spec §3.3.1), a closed connection, or a
// PUBREC/PUBACK refusal code all count; an acknowledgement does not.
func (w *world) platformRefusesProbePublish() error {
	a := w.probeAn
	switch {
	case a.kind == "disconnect", a.kind == "closed":
		return nil
	case (a.kind == "pubrec" || a.kind == "puback") && a.code >= 0x80:
		return nil
	}
	return fmt.Errorf("the platform accepted the PUBLISH: %s", a)
}

func (w *world) probeConnectRefused() error {
	if w.probe == nil {
		return errors.New("no probe connection")
	}
	if code := w.probe.connack.ReasonCode; code < 0x80 {
		return fmt.Errorf("the platform accepted the CONNECT (CONNACK 0x%02x)", code)
	}
	return nil
}
