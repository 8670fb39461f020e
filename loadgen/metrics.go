package loadgen

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/certlab/certlab/loadgen/result"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// PromMetrics are the live metrics of a run, for watching it (Prometheus
// scrapes each shard's pod). They are not the source of truth for reports:
// the result stream is. Label sets are closed: server (platform, baseline),
// outcome (success, refused, error, dropped) and phase ("", schedule, tcp,
// tls, connect); never a device ID.
type PromMetrics struct {
	Logins     *prometheus.CounterVec   // certlab_loadgen_logins_total{server,outcome,phase}
	Duration   *prometheus.HistogramVec // certlab_loadgen_login_duration_seconds{server,outcome}
	Unexpected *prometheus.CounterVec   // certlab_loadgen_unexpected_outcomes_total{server}
	InFlight   prometheus.Gauge         // certlab_loadgen_logins_in_flight
	Held       prometheus.Gauge         // certlab_loadgen_sessions_held
}

// NewPromMetrics creates the metrics and registers them with reg (the
// caller's registry; never the global one in library code).
func NewPromMetrics(reg prometheus.Registerer) (*PromMetrics, error) {
	m := &PromMetrics{
		Logins: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "certlab", Subsystem: "loadgen", Name: "logins_total",
			Help: "Login attempts by server, outcome and the phase where a failed attempt ended (warm-up included).",
		}, []string{"server", "outcome", "phase"}),
		Duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: "certlab", Subsystem: "loadgen", Name: "login_duration_seconds",
			Help:    "Login latency from the scheduled time to the server's verdict.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14), // 0.5 ms .. ~4 s
		}, []string{"server", "outcome"}),
		Unexpected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "certlab", Subsystem: "loadgen", Name: "unexpected_outcomes_total",
			Help: "Login attempts whose outcome differed from the expected one.",
		}, []string{"server"}),
		InFlight: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: "certlab", Subsystem: "loadgen", Name: "logins_in_flight",
			Help: "Login attempts sent and not yet answered.",
		}),
		Held: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: "certlab", Subsystem: "loadgen", Name: "sessions_held",
			Help: "Sessions held open (hold mode).",
		}),
	}
	for _, c := range []prometheus.Collector{m.Logins, m.Duration, m.Unexpected, m.InFlight, m.Held} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("register loadgen metrics: %w", err)
		}
	}
	return m, nil
}

var _ result.Sink = (*PromMetrics)(nil)

// Record observes one result; it makes PromMetrics a Sink. A nil
// *PromMetrics records nothing.
func (m *PromMetrics) Record(r *result.Result) error {
	if m == nil {
		return nil
	}
	m.Logins.WithLabelValues(r.Server, string(r.Outcome), r.Phase).Inc()
	if r.Outcome != result.OutcomeDropped {
		m.Duration.WithLabelValues(r.Server, string(r.Outcome)).Observe(float64(r.TotalUs) / 1e6)
	}
	if r.Unexpected {
		m.Unexpected.WithLabelValues(r.Server).Inc()
	}
	return nil
}

func (m *PromMetrics) inFlight(d float64) {
	if m != nil {
		m.InFlight.Add(d)
	}
}

func (m *PromMetrics) held(d float64) {
	if m != nil {
		m.Held.Add(d)
	}
}

// ServeMetrics serves reg, plus the Go and process collectors, at
// http://addr/metrics for Prometheus to scrape while a run lasts. stop shuts
// the server down (within 2 s).
func ServeMetrics(ctx context.Context, addr string, reg *prometheus.Registry) (stop func(), err error) {
	if err := reg.Register(collectors.NewGoCollector()); err != nil {
		return nil, fmt.Errorf("metrics: %w", err)
	}
	if err := reg.Register(collectors.NewProcessCollector(collectors.ProcessCollectorOpts{})); err != nil {
		return nil, fmt.Errorf("metrics: %w", err)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("metrics: %w", err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	return func() {
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}, nil
}
