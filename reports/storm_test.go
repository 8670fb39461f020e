package reports

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/certlab/certlab/loadgen/result"
)

// stormSummary is a storm of n devices cut at t1 whose device i comes back
// i·step after the outage, after `fails` attempts refused before TLS (the
// last `lost` devices never come back); the platform was down for 500 ms.
func stormSummary(t *testing.T, policy string, n int, step time.Duration, fails, lost int) *result.Summary {
	t.Helper()
	t0 := time.UnixMilli(1_800_000_000_000).UTC()
	t1 := t0.Add(time.Second)
	a := result.NewAggregator()
	a.AddRun(result.RunInfo{ID: "storm-" + policy, Mode: result.ModeStorm, Devices: n, Started: t0})
	rec := func(r result.Result) {
		r.Server = result.ServerPlatform
		if err := a.Record(&r); err != nil {
			t.Fatal(err)
		}
	}
	end := t1
	for i := range n {
		rec(result.Result{Device: i, Scheduled: t0, Start: t0, TLSUs: 800, TotalUs: 1000, Outcome: result.OutcomeSuccess, Warmup: true})
		at := t1.Add(10 * time.Millisecond)
		for range fails {
			rec(result.Result{Device: i, Scheduled: at, Start: at, TotalUs: 200, Outcome: result.OutcomeRefused, Phase: result.PhaseTLS, Reason: result.ReasonClosedBeforeTLS})
		}
		if i >= n-lost {
			continue
		}
		back := t1.Add(time.Duration(i+1) * step)
		rec(result.Result{Device: i, Scheduled: back, Start: back, TLSUs: 1500, ConnackUs: 300, TotalUs: 2000, Outcome: result.OutcomeSuccess})
		end = back
	}
	end = end.Add(300 * time.Millisecond)
	si := result.StormInfo{Outage: "kill", DownS: 0.5, Policy: policy, PolicyParams: "base=1s cap=30s", DeadlineS: 60, BucketMs: 100,
		OutageAt: t1, ServerBackAt: t1.Add(500 * time.Millisecond), EndedAt: end, Devices: n, Held: n, Capacity: 40, CapacityS: 1,
		ServerLogins: &result.LoginCounts{Source: "http://x/metrics", PlatformSuccess: float64(2*n - lost), Success: int64(2*n - lost),
			PlatformBusy: float64(n * fails), Busy: int64(n * fails)}}
	for tt := t0.Add(100 * time.Millisecond); !tt.After(end); tt = tt.Add(100 * time.Millisecond) {
		conn := 0
		for i := range n {
			if tt.Before(t1) || (i < n-lost && !tt.Before(t1.Add(time.Duration(i+1)*step))) {
				conn++
			}
		}
		si.Samples = append(si.Samples, result.StormSample{T: tt, Connected: conn, ClientCPUS: 0.02, ServerCPUS: 0.05, ServerCPUOK: tt.Before(t1) || tt.After(t1.Add(500*time.Millisecond))})
	}
	a.AddStorm(si)
	a.AddWindow(result.Window{Server: result.ServerPlatform, Start: t1, End: end, ClientCPUSeconds: 1})
	s, err := a.Summary()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func renderText(t *testing.T, r Reporter) string {
	t.Helper()
	var b bytes.Buffer
	if err := r(&b); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// The HTML report draws the storm: its cards and the four time series,
// with the outage marked and the capacity as a reference line; the same
// summary renders to the same bytes.
func TestStormHTML(t *testing.T) {
	s := stormSummary(t, "full-jitter", 20, 100*time.Millisecond, 2, 0)
	out := renderText(t, HTML(s, HTMLOptions{}))
	for _, want := range []string{
		"<h2>Reconnect storm</h2>", "time to 99% reconnected", "herd factor (peak / capacity)",
		"Devices connected", "Login attempts per second, by outcome", "CPU (cores busy)", "Handshake and CONNACK latency",
		">outage</text>", "<title>platform down</title>", "steady capacity 40 logins/s", "20 held at the outage",
		"seconds from the outage", "kill of the platform",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("HTML lacks %q", want)
		}
	}
	if again := renderText(t, HTML(s, HTMLOptions{})); again != out {
		t.Error("the same summary rendered two different HTML reports")
	}
	// A run without a storm has no storm section.
	if plain := renderText(t, HTML(fixture(t), HTMLOptions{})); strings.Contains(plain, "Reconnect storm") {
		t.Error("a churn run's report shows a storm")
	}
}

// Text and Markdown state the storm's figures.
func TestStormTextAndMarkdown(t *testing.T) {
	s := stormSummary(t, "immediate", 20, 100*time.Millisecond, 3, 1)
	text := renderText(t, Text(s))
	for _, want := range []string{"RECONNECT STORM", "time to", "99% never", "19 back, 1 never returned",
		"herd factor", "refused: closed_before_tls 60", "60 attempts ended without a session", "agree", "until every device is back"} {
		if !strings.Contains(text, want) {
			t.Errorf("text lacks %q:\n%s", want, text)
		}
	}
	md := renderText(t, Markdown(s, nil, nil))
	if !strings.Contains(md, "### Reconnect storm") || !strings.Contains(md, "| never returned | **1** of 20 |") {
		t.Errorf("markdown:\n%s", md)
	}
}

// Thresholds on time to 99% and never-returned devices gate a storm, in
// the checks and in JUnit; on results without a storm they fail.
func TestStormThresholds(t *testing.T) {
	fast := stormSummary(t, "full-jitter", 100, 10*time.Millisecond, 1, 0) // 99 devices back by 1.0 s
	lossy := stormSummary(t, "immediate", 100, 10*time.Millisecond, 1, 2)
	zero, two := 0, 2
	for _, tc := range []struct {
		name string
		s    *result.Summary
		th   Thresholds
		want []bool
	}{
		{"fast enough", fast, Thresholds{MaxTimeTo99: 2 * time.Second, MaxNeverReturned: &zero}, []bool{true, true}},
		{"too slow", fast, Thresholds{MaxTimeTo99: 500 * time.Millisecond}, []bool{false}},
		{"devices lost", lossy, Thresholds{MaxTimeTo99: time.Minute, MaxNeverReturned: &zero}, []bool{false, false}},
		{"loss allowed", lossy, Thresholds{MaxNeverReturned: &two}, []bool{true}},
		{"no storm", fixture(t), Thresholds{MaxTimeTo99: time.Minute, MaxNeverReturned: &two}, []bool{false, false}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			checks := Evaluate(tc.s, tc.th)
			var storm []Check
			for _, c := range checks {
				if c.Server == stormServer {
					storm = append(storm, c)
				}
			}
			if len(storm) != len(tc.want) {
				t.Fatalf("checks %+v", checks)
			}
			for i, c := range storm {
				if c.Pass != tc.want[i] {
					t.Errorf("%s: pass %v, want %v (%s)", c.Name, c.Pass, tc.want[i], c.Message)
				}
			}
			junit := renderText(t, JUnit(checks, nil))
			if !strings.Contains(junit, `name="time to 99% (storm)"`) && tc.th.MaxTimeTo99 > 0 {
				t.Errorf("junit:\n%s", junit)
			}
			if Failed(checks) > 0 && !strings.Contains(junit, "<failure") {
				t.Errorf("junit without a failure:\n%s", junit)
			}
		})
	}
}

// report --compare sets two storms side by side: immediate retry against
// exponential jitter.
func TestStormCompare(t *testing.T) {
	jitter := stormSummary(t, "full-jitter", 50, 20*time.Millisecond, 0, 0)
	herd := stormSummary(t, "immediate", 50, 60*time.Millisecond, 5, 1)
	c := Compare(jitter, herd, 0.10)
	rows := map[string]ComparisonRow{}
	for _, r := range c.Rows {
		if r.Server == stormServer {
			rows[r.Metric] = r
		}
	}
	for _, m := range []string{"time to 50%", "time to 90%", "peak attempt rate", "herd factor", "wasted attempts", "never returned", "time to 99% (never reached)"} {
		if _, ok := rows[m]; !ok {
			t.Errorf("no %q row in %+v", m, c.Rows)
		}
	}
	if r := rows["time to 90%"]; !r.Regressed || r.New <= r.Old {
		t.Errorf("time to 90%%: %+v, want a regression", r)
	}
	if r := rows["never returned"]; !r.Regressed || r.Old != 0 || r.New != 1 {
		t.Errorf("never returned: %+v", r)
	}
	diffs := strings.Join(c.Differences, "; ")
	if !strings.Contains(diffs, "policy: full-jitter (base=1s cap=30s) -> immediate") || !strings.Contains(diffs, "time to 99%: ") {
		t.Errorf("differences %q", diffs)
	}
	// Better the other way round: no storm row regressed.
	for _, r := range Compare(herd, jitter, 0.10).Rows {
		if r.Server == stormServer && r.Regressed {
			t.Errorf("regressed the other way: %+v", r)
		}
	}
	text := renderText(t, ComparisonText(c))
	if !strings.Contains(text, "storm") || !strings.Contains(text, "time to 50%") {
		t.Errorf("comparison text:\n%s", text)
	}
	// And through summary.json, as `certlab report --compare` reads it.
	b, err := json.Marshal(jitter)
	if err != nil {
		t.Fatal(err)
	}
	var back result.Summary
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if c2 := Compare(&back, herd, 0.10); len(c2.Rows) != len(c.Rows) {
		t.Errorf("from JSON: %d rows, want %d", len(c2.Rows), len(c.Rows))
	}
}
