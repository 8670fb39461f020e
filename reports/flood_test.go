package reports

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/certlab/certlab/loadgen/result"
)

// floodFixture is a flood run: the devices before and during the flood,
// and the flood's handshakes, each in its population.
func floodFixture(t *testing.T) *result.Summary {
	t.Helper()
	agg := result.NewAggregator()
	agg.AddRun(result.RunInfo{ID: "flood", Mode: result.ModeChurn, Loop: "closed", Workers: 16, DurationS: 4})
	before := fixtureResultsFrom(t0, result.ServerPlatform, 1000, 1)
	during := fixtureResultsFrom(t0.Add(10*time.Second), result.ServerPlatform, 500, 3)
	for _, r := range before {
		r.Population = result.PopulationUnflooded
		_ = agg.Record(r)
	}
	for _, r := range during {
		_ = agg.Record(r)
	}
	for i := range 2000 {
		due := t0.Add(10*time.Second + time.Duration(i)*2*time.Millisecond)
		r := &result.Result{Seq: uint64(i), Server: result.ServerPlatform, Population: result.PopulationFlood, Device: -1,
			Identity: result.FloodUnknownCA, Scheduled: due, Start: due, TotalUs: 2000, Outcome: result.OutcomeRefused,
			Phase: result.PhaseTLS, Reason: result.AlertBadCertificate, Expected: result.OutcomeRefused, ExpectedReason: "unknown_ca"}
		if i%2 == 1 {
			r.Identity, r.Reason, r.ExpectedReason = result.FloodNoCert, result.AlertCertificateRequired, "no_client_cert"
		}
		if i%5 == 0 {
			r.Reason = result.ReasonClosedBeforeTLS
		}
		_ = agg.Record(r)
	}
	for _, w := range []result.Window{
		{Server: result.ServerPlatform, Population: result.PopulationUnflooded, Start: t0, End: t0.Add(4 * time.Second)},
		{Server: result.ServerPlatform, Start: t0.Add(10 * time.Second), End: t0.Add(14 * time.Second)},
		{Server: result.ServerPlatform, Population: result.PopulationFlood, Start: t0.Add(10 * time.Second), End: t0.Add(14 * time.Second)},
	} {
		agg.AddWindow(w)
	}
	agg.AddFlood(result.FloodInfo{Kind: "mixed", Multiple: 2, Rate: 500, Capacity: 250, Conns: 4096, TimeoutS: 10, MinKept: 0.9,
		ServerLogins: &result.FloodCounts{Source: "http://127.0.0.1:1/metrics",
			Platform:  map[string]int64{"success": 1300, "unknown_ca": 800, "no_client_cert": 800, "server_busy": 400},
			Generator: map[string]int64{"success": 1300, "unknown_ca": 800, "no_client_cert": 800, "server_busy": 400}}})
	s, err := agg.Summary()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// Every report of a flood run shows both populations of devices and the
// flood: its rate against the capacity, how its handshakes ended, the share
// of their login rate the devices kept and the counter comparison.
func TestFloodReports(t *testing.T) {
	s := floodFixture(t)
	if s.Flood == nil || s.Flood.Unflooded.Attempts != 1000 || s.Flood.Flood.Attempts != 2000 || s.UnderTest().Attempts != 500 {
		t.Fatalf("fixture populations: %+v", s.Flood)
	}
	if k := s.Flood.KeptShare; k < 0.49 || k > 0.51 {
		t.Fatalf("kept share %.3f, want 0.5 (500 of 1000 logins-worth in the same span)", k)
	}
	render := func(r Reporter) string {
		var b bytes.Buffer
		if err := r(&b); err != nil {
			t.Fatal(err)
		}
		return b.String()
	}
	for name, tc := range map[string]struct {
		out  string
		want []string
	}{
		"text": {render(Text(s)), []string{"DEVICES BEFORE THE FLOOD", "DEVICES DURING THE FLOOD", "FLOOD\n",
			"500 handshakes/s = 2× the devices' unflooded login rate (250 logins/s)", "aim: at least 90%, NOT met",
			"refused · tls · tls_alert:bad certificate", "agree with the generator's"}},
		"markdown": {render(Markdown(s, nil, nil)), []string{"devices before the flood", "devices during the flood", "### Handshake flood", "devices kept"}},
		"html": {render(HTML(s, HTMLOptions{})), []string{`data-part="flood"`, `data-table="flood-outcomes"`, `data-table="flood-counters"`,
			"<h2>devices before the flood</h2>", "<h2>devices during the flood</h2>", "of the unflooded login rate kept", `data-server="flood"`}},
	} {
		for _, w := range tc.want {
			if !strings.Contains(tc.out, w) {
				t.Errorf("%s report lacks %q", name, w)
			}
		}
	}
	// The same summary without its flood part renders as an ordinary run.
	s.Flood = nil
	if out := render(Text(s)); strings.Contains(out, "FLOOD") {
		t.Errorf("a run without a flood mentions one:\n%s", out)
	}
}
