package fleet

// behaviour.go: what a connected device does. The runner (run.go) owns
// logins, reconnection and churn; a Behaviour drives one live session. A new
// behaviour is a type with a Run method, or a BehaviourFunc.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"sort"
	"strings"
	"sync/atomic"
	"time"

	"github.com/certlab/certlab/iotda"
	"github.com/certlab/certlab/sim/device"
)

// Behaviour drives one logged-in device. Run returns when ctx is done (the
// run is over, or the runner wants to churn the session), when the session
// ends (d.Done is closed: the runner reconnects with backoff), or with
// ErrReconnect to have the runner close the session and log in again at
// once. Any other error while the session is still up stops the device and
// is counted as a behaviour error. Run is called once per session, on the
// device's own goroutine; it must not keep goroutines of its own.
type Behaviour interface {
	Run(ctx context.Context, d *Device) error
}

// BehaviourFunc adapts a function to Behaviour.
type BehaviourFunc func(ctx context.Context, d *Device) error

// Run calls f.
func (f BehaviourFunc) Run(ctx context.Context, d *Device) error { return f(ctx, d) }

// ErrReconnect, returned by a Behaviour, makes the runner close the session
// and log the device in again without backoff.
var ErrReconnect = errors.New("reconnect requested")

var (
	_ Behaviour = Steady{}
	_ Behaviour = Misbehaving{}
	_ Behaviour = ReconnectStorm{}
	_ Behaviour = BehaviourFunc(nil)
)

// Behaviours names the built-in behaviours (for flags).
var Behaviours = map[string]func() Behaviour{
	"steady":      func() Behaviour { return Steady{} },
	"misbehaving": func() Behaviour { return Misbehaving{} },
	"storm":       func() Behaviour { return ReconnectStorm{} },
}

// BehaviourNames lists the keys of Behaviours, sorted.
func BehaviourNames() []string {
	names := make([]string, 0, len(Behaviours))
	for n := range Behaviours {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// ParseBehaviour returns the built-in behaviour called name.
func ParseBehaviour(name string) (Behaviour, error) {
	mk, ok := Behaviours[name]
	if !ok {
		return nil, fmt.Errorf("unknown behaviour %q (want one of %s)", name, strings.Join(BehaviourNames(), ", "))
	}
	return mk(), nil
}

// Steady is the well-behaved device: it reports its Sensor properties on
// $oc/devices/{device_id}/sys/properties/report right after login and then
// every ReportInterval, and receives what the platform sends on
// $oc/devices/{device_id}/sys/messages/down (the runner subscribes to it).
type Steady struct{}

// Run reports until ctx is done or the session ends.
func (Steady) Run(ctx context.Context, d *Device) error {
	if d.ReportInterval() <= 0 {
		return d.Every(ctx, 0, nil)
	}
	if err := d.ReportProperties(ctx, d.SensorProperties()); err != nil {
		return err
	}
	return d.Every(ctx, d.ReportInterval(), func() error {
		return d.ReportProperties(ctx, d.SensorProperties())
	})
}

// Misbehaving is a device that, every ReportInterval, publishes a property
// report on its neighbour's topic instead of its own. A conforming platform
// refuses it [ACL-OWN-TOPICS]: under MQTT 5 with PUBACK 0x87 (counted as a
// denied publish), under MQTT 3.1.1 by closing the connection (a drop, after
// which the runner reconnects).
type Misbehaving struct{}

// Run publishes on the neighbour's topic until ctx is done or the session ends.
func (Misbehaving) Run(ctx context.Context, d *Device) error {
	topic := iotda.DeviceTopic(d.PeerID(), iotda.TopicPropertiesReport)
	publish := func() error {
		payload, err := PropertiesPayload(SensorServiceID, d.SensorProperties(), time.Now())
		if err != nil {
			return err
		}
		_, err = d.Publish(ctx, topic, payload)
		return err
	}
	if d.ReportInterval() <= 0 {
		return d.Every(ctx, 0, nil)
	}
	if err := publish(); err != nil {
		return err
	}
	return d.Every(ctx, d.ReportInterval(), publish)
}

// ReconnectStorm is a device stuck in a connect loop: it holds each session
// for Hold (default 1 s) and reconnects at once, without backoff.
type ReconnectStorm struct {
	Hold time.Duration
}

// Run waits Hold, then asks for a reconnection.
func (b ReconnectStorm) Run(ctx context.Context, d *Device) error {
	hold := b.Hold
	if hold <= 0 {
		hold = time.Second
	}
	t := time.NewTimer(hold)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return nil
	case <-d.Done():
		return nil
	case <-t.C:
		return ErrReconnect
	}
}

// PropertiesPayload encodes a one-service properties report stamped with t.
func PropertiesPayload(serviceID string, props map[string]any, t time.Time) ([]byte, error) {
	b, err := json.Marshal(iotda.PropertiesReport{Services: []iotda.ServiceProperties{{
		ServiceID: serviceID, Properties: props, EventTime: t.UTC().Format(iotda.CompactTime),
	}}})
	if err != nil {
		return nil, fmt.Errorf("encode properties report: %w", err)
	}
	return b, nil
}

// Device is one simulated device of a run, handed to its Behaviour. It
// outlives sessions: the runner gives it a new one after each reconnection.
// Its methods are meant for the device's own goroutine, except the counters.
type Device struct {
	// Index is the device's index in the fleet.
	Index int
	// ID is its device_id.
	ID string
	// MQTTVersion is MQTT 3.1.1 or 5.
	MQTTVersion iotda.MQTTVersion

	r             *runner
	behave        Behaviour
	sess          *device.Session
	everConnected bool         // only the device's goroutine reads or writes it
	reports       atomic.Int64 // acknowledged property reports on its own topic
	received      atomic.Int64 // messages received
}

// Session is the current session.
func (d *Device) Session() *device.Session { return d.sess }

// Done is closed when the current session ends.
func (d *Device) Done() <-chan struct{} { return d.sess.Done() }

// ReportInterval is the run's property report interval (≤ 0: never).
func (d *Device) ReportInterval() time.Duration { return d.r.opts.ReportInterval }

// Reports is the number of property reports the platform acknowledged, over
// all sessions; it is also the "seq" of the last one.
func (d *Device) Reports() int64 { return d.reports.Load() }

// Received is the number of messages the device received, over all sessions.
func (d *Device) Received() int64 { return d.received.Load() }

// PeerID is the device_id of the next device of the run (its neighbour).
func (d *Device) PeerID() string {
	return d.r.f.DeviceID(d.r.opts.ProductID, (d.Index+1)%d.r.opts.Devices)
}

// SensorProperties returns the next Sensor reading: seq (Reports()+1),
// temperature, humidity and battery, varying with the device and seq.
func (d *Device) SensorProperties() map[string]any {
	seq := d.reports.Load() + 1
	return map[string]any{
		"seq":         seq,
		"temperature": float64(180+d.Index%100+int(seq%20)) / 10,
		"humidity":    30 + (d.Index+int(seq))%40,
		"battery":     100 - int(seq%100),
	}
}

// ReportProperties publishes props (service Sensor) on the device's own
// properties topic at QoS 1. An acknowledged report increments Reports; a
// refusal (PUBACK ≥ 0x80) is counted as denied and is not an error.
func (d *Device) ReportProperties(ctx context.Context, props map[string]any) error {
	payload, err := PropertiesPayload(SensorServiceID, props, time.Now())
	if err != nil {
		return err
	}
	code, err := d.Publish(ctx, iotda.DeviceTopic(d.ID, iotda.TopicPropertiesReport), payload)
	if err == nil && code < 0x80 {
		d.reports.Add(1)
	}
	return err
}

// Publish sends payload on topic at QoS 1 and counts the outcome: sent
// (PUBACK < 0x80), denied (PUBACK ≥ 0x80, a result: nil error) or failed.
// A publish under way when ctx ends is completed (within the session's
// acknowledgement timeout, ConnectTimeout), so that what the platform
// received is counted.
func (d *Device) Publish(ctx context.Context, topic string, payload []byte) (code byte, err error) {
	code, err = d.sess.Publish(context.WithoutCancel(ctx), topic, 1, payload)
	st := d.r.stats
	switch {
	case err != nil:
		st.publishErrors.Add(1)
	case code >= 0x80:
		st.denied.Add(1)
	default:
		st.sent.Add(1)
	}
	return code, err
}

// Every calls fn every interval (the first call one interval from now) until
// ctx is done or the session ends; it returns fn's first error. An interval
// ≤ 0 only waits.
func (d *Device) Every(ctx context.Context, interval time.Duration, fn func() error) error {
	if interval <= 0 {
		select {
		case <-ctx.Done():
		case <-d.Done():
		}
		return nil
	}
	t := time.NewTimer(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-d.Done():
			return nil
		case <-t.C:
			if err := fn(); err != nil {
				return err
			}
			t.Reset(interval)
		}
	}
}

// onMessage counts an inbound PUBLISH; it runs on the session's reader.
func (d *Device) onMessage(m device.Message) {
	d.received.Add(1)
	d.r.stats.received.Add(1)
	if d.r.opts.OnMessage != nil {
		d.r.opts.OnMessage(d, m)
	}
}

// jitter returns a duration in [d/2, d).
func jitter(d time.Duration) time.Duration {
	if d <= 1 {
		return d
	}
	return d/2 + rand.N(d/2)
}
