package broker

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/certlab/certlab/iotda"
)

// Message kinds counted in certlab_platform_messages_received_total.
const (
	kindMessageUp        = "message_up"
	kindPropertiesReport = "properties_report"
)

// Causes counted in certlab_platform_sessions_dropped_total.
const (
	causeTakeover         = "takeover"
	causeCADeleted        = "ca_deleted"
	causeDeviceFrozen     = "device_frozen"
	causeDeviceDeleted    = "device_deleted"
	causeFingerprintReset = "fingerprint_reset"
)

// loginReasons is the closed set of reason label values (never a device ID).
var loginReasons = iotda.LoginReasons()

// metrics are the broker's Prometheus series. Counters for every label
// combination are resolved at construction: no label lookup per login.
type metrics struct {
	logins         map[iotda.Reason]prometheus.Counter // certlab_platform_logins_total{stage,result,reason}
	tlsSeconds     prometheus.Histogram                // certlab_platform_tls_handshake_duration_seconds
	connectSeconds prometheus.Histogram                // certlab_platform_connect_duration_seconds
	connected      prometheus.Gauge                    // certlab_platform_connected_devices
	messages       map[string]prometheus.Counter       // certlab_platform_messages_received_total{kind}
	dropped        map[string]prometheus.Counter       // certlab_platform_sessions_dropped_total{cause}
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	const ns, sub = "certlab", "platform"
	logins := prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "logins_total",
		Help: "MQTTS login attempts by the stage where they ended, result and reason."}, []string{"stage", "result", "reason"})
	tlsSeconds := prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: ns, Subsystem: sub, Name: "tls_handshake_duration_seconds",
		Help:    "Server-side TLS handshake time of MQTTS connections that reached certificate verification.",
		Buckets: prometheus.ExponentialBucketsRange(0.0001, 10, 20)})
	connectSeconds := prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: ns, Subsystem: sub, Name: "connect_duration_seconds",
		Help:    "Time from the end of the TLS handshake to the CONNACK decision of successful logins (CONNECT wait + checks).",
		Buckets: prometheus.ExponentialBucketsRange(0.0001, 10, 20)})
	connected := prometheus.NewGauge(prometheus.GaugeOpts{Namespace: ns, Subsystem: sub, Name: "connected_devices",
		Help: "Live device sessions."})
	messages := prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "messages_received_total",
		Help: "Device messages received by kind."}, []string{"kind"})
	dropped := prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "sessions_dropped_total",
		Help: "Live sessions ended by the platform, by cause."}, []string{"cause"})
	for _, c := range []prometheus.Collector{logins, tlsSeconds, connectSeconds, connected, messages, dropped} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("register metrics: %w", err)
		}
	}
	m := &metrics{
		logins:         make(map[iotda.Reason]prometheus.Counter, len(loginReasons)),
		tlsSeconds:     tlsSeconds,
		connectSeconds: connectSeconds,
		connected:      connected,
		messages:       make(map[string]prometheus.Counter),
		dropped:        make(map[string]prometheus.Counter),
	}
	for _, r := range loginReasons {
		m.logins[r] = logins.WithLabelValues(string(r.Stage()), string(r.Outcome()), string(r))
	}
	for _, k := range []string{kindMessageUp, kindPropertiesReport} {
		m.messages[k] = messages.WithLabelValues(k)
	}
	for _, c := range []string{causeTakeover, causeCADeleted, causeDeviceFrozen, causeDeviceDeleted, causeFingerprintReset} {
		m.dropped[c] = dropped.WithLabelValues(c)
	}
	return m, nil
}

// login counts one attempt; the reason determines stage and result.
func (m *metrics) login(reason iotda.Reason) {
	if c, ok := m.logins[reason]; ok {
		c.Inc()
	}
}
