package loadgen

import (
	"strings"
	"testing"

	"github.com/certlab/certlab/loadgen/result"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"
)

func TestPromMetrics(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	m, err := NewPromMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range []*result.Result{
		{Server: result.ServerPlatform, Outcome: result.OutcomeSuccess, TotalUs: 1500},
		{Server: result.ServerPlatform, Outcome: result.OutcomeSuccess, TotalUs: 2500},
		{Server: result.ServerPlatform, Outcome: result.OutcomeRefused, Phase: result.PhaseConnect, TotalUs: 1800, Unexpected: true},
		{Server: result.ServerBaseline, Outcome: result.OutcomeRefused, Phase: result.PhaseTLS, TotalUs: 900},
		{Server: result.ServerPlatform, Outcome: result.OutcomeDropped, Phase: result.PhaseSchedule, Unexpected: true},
	} {
		if err := m.Record(r); err != nil {
			t.Fatal(err)
		}
	}
	m.inFlight(2)
	m.held(3)
	problems, err := testutil.GatherAndLint(reg)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("lint: %s: %s", p.Metric, p.Text)
	}
	want := `
# HELP certlab_loadgen_logins_total Login attempts by server, outcome and the phase where a failed attempt ended (warm-up included).
# TYPE certlab_loadgen_logins_total counter
certlab_loadgen_logins_total{outcome="dropped",phase="schedule",server="platform"} 1
certlab_loadgen_logins_total{outcome="refused",phase="connect",server="platform"} 1
certlab_loadgen_logins_total{outcome="refused",phase="tls",server="baseline"} 1
certlab_loadgen_logins_total{outcome="success",phase="",server="platform"} 2
# HELP certlab_loadgen_unexpected_outcomes_total Login attempts whose outcome differed from the expected one.
# TYPE certlab_loadgen_unexpected_outcomes_total counter
certlab_loadgen_unexpected_outcomes_total{server="platform"} 2
# HELP certlab_loadgen_logins_in_flight Login attempts sent and not yet answered.
# TYPE certlab_loadgen_logins_in_flight gauge
certlab_loadgen_logins_in_flight 2
# HELP certlab_loadgen_sessions_held Sessions held open (hold mode).
# TYPE certlab_loadgen_sessions_held gauge
certlab_loadgen_sessions_held 3
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want),
		"certlab_loadgen_logins_total", "certlab_loadgen_unexpected_outcomes_total",
		"certlab_loadgen_logins_in_flight", "certlab_loadgen_sessions_held"); err != nil {
		t.Error(err)
	}
	// Dropped attempts have no latency.
	if n := testutil.CollectAndCount(m.Duration); n != 3 {
		t.Errorf("duration series = %d, want 3 (platform success, platform refused, baseline refused)", n)
	}
	var pm dto.Metric
	if err := m.Duration.WithLabelValues(result.ServerPlatform, "success").(prometheus.Metric).Write(&pm); err != nil {
		t.Fatal(err)
	}
	if h := pm.GetHistogram(); h.GetSampleCount() != 2 || h.GetSampleSum() != 0.004 {
		t.Errorf("platform success latency: %d samples summing to %g s, want 2 summing to 0.004", h.GetSampleCount(), h.GetSampleSum())
	}
	if _, err := NewPromMetrics(reg); err == nil {
		t.Error("registering twice succeeded; want a duplicate-registration error")
	}
}
