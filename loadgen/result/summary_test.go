package result

import (
	"encoding/json"
	"math"
	"reflect"
	"testing"
	"time"
)

// synthetic returns n deterministic results of one server: 10% refused
// fingerprint mismatches, a few errors, latencies spread over 1..~50 ms.
func synthetic(server string, n int, t0 time.Time) []*Result {
	out := make([]*Result, n)
	for i := range n {
		due := t0.Add(time.Duration(i) * time.Millisecond)
		r := &Result{Seq: uint64(i), Server: server, Device: i, Identity: Good, Scheduled: due, Start: due,
			TCPUs: int64(50 + i%7), TLSUs: int64(800 + (i*37)%900), ConnackUs: int64(200 + (i*13)%300),
			Outcome: OutcomeSuccess, Expected: OutcomeSuccess, TLSVersion: "1.3"}
		switch {
		case i%10 == 3:
			r.Identity, r.Outcome, r.Phase, r.Reason, r.ConnackCode = BadFingerprint, OutcomeRefused, PhaseConnect, "connack:0x87", 0x87
			r.Expected, r.ExpectedReason = OutcomeRefused, "fingerprint_mismatch"
		case i%97 == 5:
			r.Outcome, r.Phase, r.Reason, r.Unexpected = OutcomeError, PhaseTLS, "timeout", true
		}
		r.TotalUs = r.TCPUs + r.TLSUs + r.ConnackUs + int64(i%50)*1000
		out[i] = r
	}
	return out
}

func TestShardSummariesMergeExactly(t *testing.T) {
	t0 := time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)
	all := synthetic(ServerPlatform, 3000, t0)
	win := func(shard int, cpuStart float64) Window {
		return Window{Server: ServerPlatform, Shard: Shard{shard, 2}, Start: t0, End: t0.Add(3 * time.Second),
			ClientCPUSeconds: 0.6, ClientPID: 100 + shard, ServerCPUSource: "metrics:http://platform/metrics",
			ServerCPUStart: cpuStart, ServerCPUEnd: cpuStart + 1.0}
	}
	// One aggregator sees everything (as `certlab report` given both files does).
	whole := NewAggregator()
	whole.AddWindow(win(0, 100))
	whole.AddWindow(win(1, 100.2))
	// Two shards summarise separately; their summaries go through JSON.
	var parts []*Summary
	for shard := range 2 {
		a := NewAggregator()
		a.AddRun(RunInfo{ID: "run", Shard: Shard{shard, 2}})
		a.AddWindow(win(shard, 100+0.2*float64(shard)))
		for _, r := range all {
			if (Shard{shard, 2}).Contains(r.Device) {
				_ = a.Record(r)
			}
		}
		s, err := a.Summary()
		if err != nil {
			t.Fatal(err)
		}
		b, err := json.Marshal(s)
		if err != nil {
			t.Fatal(err)
		}
		var back Summary
		if err := json.Unmarshal(b, &back); err != nil {
			t.Fatal(err)
		}
		parts = append(parts, &back)
	}
	for _, r := range all {
		_ = whole.Record(r)
	}
	want, err := whole.Summary()
	if err != nil {
		t.Fatal(err)
	}
	merged := NewAggregator()
	for _, p := range parts {
		if err := merged.AddSummary(p); err != nil {
			t.Fatal(err)
		}
	}
	got, err := merged.Summary()
	if err != nil {
		t.Fatal(err)
	}
	g, w := got.Server(ServerPlatform), want.Server(ServerPlatform)
	if g.Attempts != 3000 || g.Attempts != w.Attempts || g.Success != w.Success || g.Refused != w.Refused || g.Errors != w.Errors || g.Unexpected != w.Unexpected {
		t.Fatalf("merged counts %+v\nwant %+v", counts(g), counts(w))
	}
	for _, m := range Metrics {
		if g.Latency[m] != w.Latency[m] {
			t.Errorf("%s: merged %+v, want %+v", m, g.Latency[m], w.Latency[m])
		}
		gh, _ := g.Histogram(m)
		wh, _ := w.Histogram(m)
		if (gh == nil) != (wh == nil) || (gh != nil && !gh.Equals(wh)) {
			t.Errorf("%s: merged histogram differs", m)
		}
	}
	if len(g.Timeline) != len(w.Timeline) || len(g.Breakdown) != len(w.Breakdown) {
		t.Errorf("merged timeline/breakdown sizes %d/%d, want %d/%d", len(g.Timeline), len(g.Breakdown), len(w.Timeline), len(w.Breakdown))
	}
	// Latency per second merges exactly too, so a report of merged shard
	// summaries draws the same latency-over-time chart as one of all records.
	if len(w.LatencyTimeline) < 3 {
		t.Fatalf("%d seconds of latency, want the run's 3+", len(w.LatencyTimeline))
	}
	if !reflect.DeepEqual(g.LatencyTimeline, w.LatencyTimeline) {
		t.Errorf("merged latency timeline differs:\n got %+v\nwant %+v", g.LatencyTimeline, w.LatencyTimeline)
	}
	// Client CPU adds up (two processes); server CPU is the span of one
	// counter both shards watched, not the sum of their overlapping deltas.
	if math.Abs(g.ClientCPU.Seconds-1.2) > 1e-9 {
		t.Errorf("client CPU %.3f s, want 1.2", g.ClientCPU.Seconds)
	}
	if g.ServerCPU == nil || math.Abs(g.ServerCPU.Seconds-1.2) > 1e-9 {
		t.Errorf("server CPU %+v, want 1.2 s (span 100 .. 101.2)", g.ServerCPU)
	}
	if math.Abs(g.ServerCPU.PerAttemptUs-1.2e6/3000) > 1e-6 {
		t.Errorf("server CPU per attempt %.1f µs, want 400", g.ServerCPU.PerAttemptUs)
	}
}

func counts(s *ServerSummary) [6]int64 {
	return [6]int64{s.Attempts, s.Success, s.Refused, s.Errors, s.Dropped, s.Unexpected}
}

func TestBaselineRatio(t *testing.T) {
	t0 := time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)
	a := NewAggregator()
	for _, server := range []string{ServerBaseline, ServerPlatform} {
		for _, r := range synthetic(server, 1000, t0) {
			_ = a.Record(r)
		}
	}
	a.AddWindow(Window{Server: ServerPlatform, Start: t0, End: t0.Add(time.Second), ServerCPUSource: "pid:1@h", ServerCPUStart: 1, ServerCPUEnd: 1.3})
	a.AddWindow(Window{Server: ServerBaseline, Start: t0, End: t0.Add(time.Second), ServerCPUSource: "pid:2@h", ServerCPUStart: 0, ServerCPUEnd: 0.25})
	s, err := a.Summary()
	if err != nil {
		t.Fatal(err)
	}
	if s.Servers[0].Server != ServerPlatform {
		t.Errorf("servers in order %s, %s; want the platform first", s.Servers[0].Server, s.Servers[1].Server)
	}
	if math.Abs(s.BaselineRatio-1.2) > 1e-9 {
		t.Errorf("baseline ratio %.4f, want 1.2 (300 µs vs 250 µs per attempt)", s.BaselineRatio)
	}
}

// TestClientFloor: the floor is the mean of a server's windows and the
// generator's CPU per attempt is stated over it; a window that could not
// measure it says why.
func TestClientFloor(t *testing.T) {
	t0 := time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)
	a := NewAggregator()
	for _, server := range []string{ServerBaseline, ServerPlatform} {
		for _, r := range synthetic(server, 1000, t0) {
			_ = a.Record(r)
		}
	}
	ops := "X25519 + ECDSA P-256 sign + 2× ECDSA P-256 verify"
	// Platform: two shards, floors 180 and 220 µs; 0.4 s of client CPU over 1,000 attempts.
	a.AddWindow(Window{Server: ServerPlatform, Shard: Shard{0, 2}, Start: t0, End: t0.Add(time.Second), ClientCPUSeconds: 0.2, ClientFloorUs: 180, ClientFloorOps: ops})
	a.AddWindow(Window{Server: ServerPlatform, Shard: Shard{1, 2}, Start: t0, End: t0.Add(time.Second), ClientCPUSeconds: 0.2, ClientFloorUs: 220, ClientFloorOps: ops})
	a.AddWindow(Window{Server: ServerBaseline, Start: t0, End: t0.Add(time.Second), ClientCPUSeconds: 0.3, ClientFloorError: "crypto floor: client key *foo.Key"})
	s, err := a.Summary()
	if err != nil {
		t.Fatal(err)
	}
	p := s.Server(ServerPlatform)
	if p.ClientFloor == nil || p.ClientFloor.Us != 200 || p.ClientFloor.Ops != ops || math.Abs(p.ClientFloor.Ratio-2) > 1e-9 || p.ClientFloorNote != "" {
		t.Errorf("platform floor %+v (note %q), want 200 µs and ratio 2 (400 µs per attempt)", p.ClientFloor, p.ClientFloorNote)
	}
	b := s.Server(ServerBaseline)
	if b.ClientFloor != nil || b.ClientFloorNote != "crypto floor: client key *foo.Key" {
		t.Errorf("baseline floor %+v, note %q: want none, with the window's reason", b.ClientFloor, b.ClientFloorNote)
	}
}

// TestRoundsCountOnlyTheirWindows: a server measured in interleaved rounds
// has windows apart in time; its duration and CPU are the sum over them.
// What happens between them (its next round's warm-up, the other servers'
// rounds) is not measured: taking the span of its CPU counter from the
// first window to the last would charge the warm-ups to the measured
// logins (as it did: 763 µs per login against 664 µs in the rounds).
func TestRoundsCountOnlyTheirWindows(t *testing.T) {
	t0 := time.Date(2026, 12, 5, 10, 0, 0, 0, time.UTC)
	a := NewAggregator()
	for _, r := range synthetic(ServerPlatform, 2000, t0) {
		_ = a.Record(r)
	}
	// Round 1 over [0 s, 10 s), round 2 over [30 s, 40 s); the platform
	// burns 4 s of CPU in between (warm-up of round 2).
	a.AddWindow(Window{Server: ServerPlatform, Round: 1, Start: t0, End: t0.Add(10 * time.Second),
		ServerCPUSource: "pid:1@h", ServerCPUStart: 100, ServerCPUEnd: 106})
	a.AddWindow(Window{Server: ServerPlatform, Round: 2, Start: t0.Add(30 * time.Second), End: t0.Add(40 * time.Second),
		ServerCPUSource: "pid:1@h", ServerCPUStart: 110, ServerCPUEnd: 116})
	s, err := a.Summary()
	if err != nil {
		t.Fatal(err)
	}
	p := s.Servers[0]
	if p.DurationS != 20 {
		t.Errorf("duration %.2f s, want 20 (two 10 s rounds, not the 40 s from first to last)", p.DurationS)
	}
	if p.ServerCPU == nil || math.Abs(p.ServerCPU.Seconds-12) > 1e-9 {
		t.Fatalf("server CPU %+v, want 12 s (6 + 6, not the 16 s span of the counter)", p.ServerCPU)
	}
	if want := float64(p.Success) / 20; math.Abs(p.SuccessRate-want) > 1e-9 {
		t.Errorf("rate %.1f logins/s, want %.1f", p.SuccessRate, want)
	}
}
