package broker

import (
	"crypto/tls"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/certlab/certlab/iotda"
)

// counterValue reads one counter or gauge series from a registry.
func counterValue(t testing.TB, reg prometheus.Gatherer, name string, labels ...string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	metric:
		for _, m := range mf.GetMetric() {
			for i := 0; i+1 < len(labels); i += 2 {
				found := false
				for _, lp := range m.GetLabel() {
					if lp.GetName() == labels[i] && lp.GetValue() == labels[i+1] {
						found = true
					}
				}
				if !found {
					continue metric
				}
			}
			switch {
			case m.Counter != nil:
				return m.Counter.GetValue()
			case m.Gauge != nil:
				return m.Gauge.GetValue()
			case m.Histogram != nil:
				return float64(m.Histogram.GetSampleCount())
			}
		}
	}
	t.Fatalf("no series %s%v", name, labels)
	return 0
}

func TestMetrics(t *testing.T) {
	d := newDir(t)
	b := startBroker(t, d, nil)
	f := getFixture(t)
	dev := addDevice(t, d, f.caA, "prod-mqtt_metrics", nil)
	c := loginRaw(t, b.Addr(), dev, 4)
	unknown := addDevice(t, d, f.caA, "prod-mqtt_metrics-unknown", nil)
	d.mu.Lock()
	delete(d.devices, unknown.ID)
	d.mu.Unlock()
	c2 := dialRaw(t, b.Addr(), unknown.Leaf, tls.VersionTLS13, 4)
	c2.login(connectOpts{clientID: clientID(unknown.ID), username: unknown.ID, keepalive: 120})
	if refused, _ := probeRefused(t, b.Addr(), tlsConfig(t, nil, tls.VersionTLS13)); !refused {
		t.Fatal("no-certificate handshake accepted")
	}
	waitAttempt(t, b.Broker, "", iotda.ReasonNoClientCert)
	waitAttempt(t, b.Broker, unknown.ID, iotda.ReasonDeviceNotFound)

	problems, err := testutil.GatherAndLint(b.reg)
	if err != nil {
		t.Fatalf("lint: %v", err)
	}
	for _, p := range problems {
		t.Errorf("metric lint: %s: %s", p.Metric, p.Text)
	}
	for _, tc := range []struct {
		name   string
		labels []string
		want   float64
	}{
		{"certlab_platform_logins_total", []string{"stage", "connect", "result", "success", "reason", "ok"}, 1},
		{"certlab_platform_logins_total", []string{"stage", "connect", "result", "refused", "reason", "device_not_found"}, 1},
		{"certlab_platform_logins_total", []string{"stage", "tls", "result", "refused", "reason", "no_client_cert"}, 1},
		{"certlab_platform_logins_total", []string{"stage", "tls", "result", "refused", "reason", "unknown_ca"}, 0},
		{"certlab_platform_connected_devices", nil, 1},
		{"certlab_platform_connect_duration_seconds", nil, 1}, // sample count
		{"certlab_platform_tls_handshake_duration_seconds", nil, 2},
	} {
		if got := counterValue(t, b.reg, tc.name, tc.labels...); got != tc.want {
			t.Errorf("%s%v = %v, want %v", tc.name, tc.labels, got, tc.want)
		}
	}
	// Every login series exists from the start, with closed label values only.
	if n := testutil.CollectAndCount(b.reg, "certlab_platform_logins_total"); n != len(loginReasons) {
		t.Errorf("%d login series, want %d", n, len(loginReasons))
	}
	_ = c.conn.Close()
	eventually(t, "gauge back to 0", func() bool { return counterValue(t, b.reg, "certlab_platform_connected_devices") == 0 })
}
