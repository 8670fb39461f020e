package result

import (
	"math"
	"testing"
	"time"
)

func TestBenchOf(t *testing.T) {
	t0 := time.Unix(1_700_000_000, 0)
	win := func(server string, round int, cpuS float64, logins int64) Window {
		return Window{Server: server, Round: round, Logins: logins, Start: t0, End: t0.Add(time.Second),
			ServerCPUSource: "pid:1@h", ServerCPUStart: 10, ServerCPUEnd: 10 + cpuS}
	}
	ws := []Window{
		win(ServerPlatform, 1, 0.40, 1000), win(ServerBaseline, 1, 0.32, 1000), win(ServerMosquitto, 1, 1.00, 1000),
		win(ServerPlatform, 2, 0.44, 1000), win(ServerBaseline, 2, 0.40, 1000), win(ServerMosquitto, 2, 0.88, 1000),
		win(ServerPlatform, 3, 0.42, 1000), win(ServerBaseline, 3, 0.35, 1000), win(ServerMosquitto, 3, 0, 1000), // mosquitto's CPU lost
	}
	b := BenchOf(ws)
	if b == nil || b.Rounds != 3 || len(b.Servers) != 3 {
		t.Fatalf("bench %+v", b)
	}
	near := func(got, want float64) bool { return math.Abs(got-want) < 1e-9 }
	p := b.Servers[0]
	if p.Server != ServerPlatform || !near(p.Median, 420) || !near(p.Min, 400) || !near(p.Max, 440) || p.N != 3 {
		t.Errorf("platform %+v, want median 420 µs over 400..440", p)
	}
	if m := b.Servers[2]; m.N != 2 || !near(m.Median, 940) {
		t.Errorf("mosquitto %+v, want the median of the 2 measured rounds, 940 µs", m)
	}
	if len(b.Ratios) != 2 {
		t.Fatalf("ratios %+v, want platform / baseline and mosquitto / platform", b.Ratios)
	}
	// Per round: 400/320=1.25, 440/400=1.10, 420/350=1.20: the median is a
	// ratio of one round, not a ratio of medians (420/350=1.20 happens to match).
	if r := b.Ratios[0]; r.Name != "platform / baseline" || !near(r.Median, 1.2) || !near(r.Min, 1.1) || !near(r.Max, 1.25) {
		t.Errorf("ratio %+v", r)
	}
	if r := b.Ratios[1]; r.Name != "mosquitto / platform" || r.N != 2 || !near(r.Median, (2.5+2.0)/2) {
		t.Errorf("ratio %+v, want the median of 2.5 and 2.0", r)
	}
	if BenchOf(ws[:3]) != nil {
		t.Error("one round is not a benchmark")
	}
}
