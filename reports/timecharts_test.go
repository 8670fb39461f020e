package reports

import (
	"math"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/certlab/certlab/loadgen/result"
)

// steadyRun is 200 logins/s for 5 s from t0+0.7 s, each taking 2 ms, plus
// one straggler that ends 1.5 s after the measured span.
func steadyRun(t *testing.T) *result.Summary {
	t.Helper()
	start := t0.Add(700 * time.Millisecond)
	end := start.Add(5 * time.Second)
	a := result.NewAggregator()
	a.AddRun(fixtureRun(result.Shard{Index: 0, Count: 1}))
	a.AddWindow(result.Window{Server: result.ServerPlatform, Start: start, End: end})
	i := 0
	for due := start; due.Before(end); due = due.Add(5 * time.Millisecond) {
		r := &result.Result{Seq: uint64(i), Server: result.ServerPlatform, Scheduled: due, Start: due,
			TCPUs: 100, TLSUs: 1500, ConnackUs: 400, TotalUs: 2000, Outcome: result.OutcomeSuccess, Expected: result.OutcomeSuccess}
		if !due.Add(5 * time.Millisecond).Before(end) { // the last one straggles
			r.TotalUs = 1_500_000
		}
		_ = a.Record(r)
		i++
	}
	s, err := a.Summary()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// The rate chart shows a steady run as steady: the partial first and last
// seconds are scaled to a rate and marked partial, not drawn as a drop; a
// second outside the measured span is left out and counted.
func TestRateSeriesPartialSeconds(t *testing.T) {
	s := steadyRun(t)
	ss := s.Server(result.ServerPlatform)
	lines, omitted := rateSeries(ss)
	ok := lines[0]
	if len(ok.Points) != 6 {
		t.Fatalf("%d points, want 6 (a partial second at each end, 4 whole ones): %+v", len(ok.Points), ok.Points)
	}
	for i, p := range ok.Points {
		if math.Abs(p.Y-200) > 6 {
			t.Errorf("point %d at x=%.2f s: %.1f logins/s, want about 200 (the run was steady)", i, p.X, p.Y)
		}
		wantPartial := i == 0 || i == len(ok.Points)-1
		if p.Partial != wantPartial {
			t.Errorf("point %d: partial=%v, want %v", i, p.Partial, wantPartial)
		}
		if p.X < 0 || p.X > 5 {
			t.Errorf("point %d at x=%.2f s, outside the 5 s span", i, p.X)
		}
	}
	if omitted != 1 {
		t.Errorf("omitted %d attempts, want the 1 that ended after the span", omitted)
	}
	charts := timeCharts(ss)
	if !strings.Contains(charts.RateNote, "partly inside the measured span") || !strings.Contains(charts.RateNote, "1 attempt ") {
		t.Errorf("rate note %q does not explain the partial seconds and the omitted attempt", charts.RateNote)
	}
	if !strings.Contains(string(charts.Rate), `stroke-dasharray="2 3"`) || !strings.Contains(string(charts.Rate), `fill="#fff"`) {
		t.Error("the rate chart draws no partial segment or hollow point")
	}
}

// Without a measured span (a summary of results without windows) every
// second counts whole.
func TestTimeAxisWithoutSpan(t *testing.T) {
	ss := &result.ServerSummary{Timeline: []result.Bucket{{Unix: 100, Success: 5}, {Unix: 101, Success: 7}}}
	lines, omitted := rateSeries(ss)
	if omitted != 0 || len(lines[0].Points) != 2 || lines[0].Points[1] != (point{X: 1.5, Y: 7}) {
		t.Fatalf("points %+v omitted %d", lines[0].Points, omitted)
	}
}

// Latency over time is drawn from the summary alone (a summary.json, or
// merged shards), one point per second for each percentile.
func TestLatencyOverTimeFromSummary(t *testing.T) {
	s := steadyRun(t)
	ss := s.Server(result.ServerPlatform)
	series := latencySeries(ss, result.MetricTotal, percentileSpecs)
	if len(series) != 4 {
		t.Fatalf("%d series, want p50, p90, p99, max", len(series))
	}
	p50 := series[0]
	if len(p50.Points) != 7 {
		t.Fatalf("%d p50 points, want 7 (6 seconds of the span and the straggler's)", len(p50.Points))
	}
	for _, p := range p50.Points[:6] {
		if p.Y < 1.95 || p.Y > 2.07 {
			t.Errorf("p50 at x=%.2f: %.3f ms, want 2 ms within a bucket", p.X, p.Y)
		}
	}
	if max := series[3].Points[len(series[3].Points)-1].Y; max < 1450 || max > 1550 {
		t.Errorf("max of the straggler's second %.1f ms, want about 1500", max)
	}
	html := string(timeCharts(ss).Latency)
	if n := len(regexp.MustCompile(`<polyline`).FindAllString(html, -1)); n != 4 {
		t.Errorf("%d lines in the latency chart, want 4", n)
	}
	if !strings.Contains(html, "ms (log scale)") {
		t.Error("latency chart is not on a log scale")
	}
}

func TestLogTicks(t *testing.T) {
	for _, tc := range []struct {
		lo, hi float64
		want   string
	}{
		{0.8, 31, "0.5 1 2 5 10 20 50"},
		{2.1, 2.9, "2 3"},
		{1.9, 2.9, "1.5 2 3"},
		{0.05, 1500, "0.05 0.1 1 10 100 1000 2000"},
		{1, 1, "1 1.5 2"},
	} {
		var got []string
		for _, v := range logTicks(tc.lo, tc.hi) {
			got = append(got, label(v))
		}
		if strings.Join(got, " ") != tc.want {
			t.Errorf("logTicks(%g, %g) = %v, want %s", tc.lo, tc.hi, got, tc.want)
		}
	}
}

// The comparison overlays both runs' rate and latency over time, each on
// seconds since its own start.
func TestCompareTimeCharts(t *testing.T) {
	cur, old := fixture(t), olderFixture(t)
	rate, lat := compareTimeCharts(old.Server(result.ServerPlatform), cur.Server(result.ServerPlatform))
	for name, chart := range map[string]string{"rate": string(rate), "latency": string(lat)} {
		if !strings.Contains(chart, "new: ") || !strings.Contains(chart, "old: ") || !strings.Contains(chart, `stroke-dasharray="6 4"`) {
			t.Errorf("%s overlay lacks a new run, an old run or the old run's dashes", name)
		}
	}
	// Aligned on start: the old run (a day earlier) starts at x = 0 too.
	lines, _ := rateSeries(old.Server(result.ServerPlatform))
	if x := lines[0].Points[0].X; x < 0 || x > 1 {
		t.Errorf("old run's first second at x=%.2f, want within the first second", x)
	}
}
