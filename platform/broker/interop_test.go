package broker

import (
	"crypto/tls"
	"fmt"
	"testing"
	"time"

	"github.com/certlab/certlab/iotda"
	"github.com/certlab/certlab/platform/registry"
	"github.com/certlab/certlab/sim/device"
)

// The device simulator and the broker agree on the login-refusal table:
// what sim/device reports is what the broker recorded.
func TestInteropSimDevice(t *testing.T) {
	d := newDir(t)
	b := startBroker(t, d, nil)
	f := getFixture(t)
	foreign, err := f.foreign.NewDeviceCert("prod-mqtt_interop-foreign")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name    string
		reason  iotda.Reason
		version iotda.MQTTVersion
		mod     func(*registry.Device)
		foreign bool
	}{
		{"success", iotda.ReasonOK, 4, nil, false},
		{"success", iotda.ReasonOK, 5, nil, false},
		{"frozen", iotda.ReasonDeviceFrozen, 4, func(dv *registry.Device) { dv.Frozen = true }, false},
		{"frozen", iotda.ReasonDeviceFrozen, 5, func(dv *registry.Device) { dv.Frozen = true }, false},
		{"wrong product", iotda.ReasonNotMQTTProduct, 5, func(dv *registry.Device) { dv.ProductID = productCoAP }, false},
		{"unknown CA", iotda.ReasonUnknownCA, 4, nil, true},
	} {
		t.Run(fmt.Sprintf("%s/MQTT %d", tc.name, tc.version), func(t *testing.T) {
			dev := addDevice(t, d, f.caA, fmt.Sprintf("prod-mqtt_interop-%s-%d", tc.name, tc.version), tc.mod)
			leaf := dev.Leaf
			if tc.foreign {
				leaf = foreign
			}
			s, res := device.Login(ctxT(t), device.Config{
				Addr: b.Addr(), TLS: tlsConfig(t, leaf, tls.VersionTLS13), MQTTVersion: tc.version,
				ClientID: iotda.ClientIDFor(dev.ID, time.Now()), Username: dev.ID,
				ProbeTLSRejection: 300 * time.Millisecond, ConnectTimeout: 3 * time.Second,
			})
			if s != nil {
				defer func() { _ = s.Close() }()
			}
			row, refused := iotda.RefusalFor(tc.reason)
			switch {
			case !refused:
				if !res.OK() {
					t.Fatalf("login: %+v", res)
				}
			case row.Stage == iotda.StageTLS:
				if res.Outcome != iotda.OutcomeRefused || res.Phase != device.PhaseTLS {
					t.Fatalf("sim/device saw %s/%s (%s), want a TLS refusal", res.Outcome, res.Phase, res.Reason)
				}
			default:
				want := row.MQTT3
				if tc.version == 5 {
					want = row.MQTT5
				}
				if res.Outcome != iotda.OutcomeRefused || res.Phase != device.PhaseConnect || res.ConnackCode != want {
					t.Fatalf("sim/device saw %s/%s CONNACK 0x%02x, want refused/connect 0x%02x", res.Outcome, res.Phase, res.ConnackCode, want)
				}
			}
			id := dev.ID
			if row.Stage == iotda.StageTLS {
				id = "" // no ClientId reached the broker
			}
			waitAttempt(t, b.Broker, id, tc.reason)
		})
	}
}
