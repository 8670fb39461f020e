package loadgen

import (
	"context"
	"testing"
	"testing/synctest"
	"time"

	"github.com/certlab/certlab/loadgen/result"
)

func TestConstantPacer(t *testing.T) {
	tests := []struct {
		name     string
		rate     float64
		n        uint64
		want     time.Duration
		wantStop bool
	}{
		{"first is due at once", 10, 0, 0, false},
		{"second after 1/rate", 10, 1, 100 * time.Millisecond, false},
		{"tenth after a second", 10, 10, time.Second, false},
		{"fractional rate", 0.5, 3, 6 * time.Second, false},
		{"zero rate stops", 0, 0, 0, true},
		{"negative rate stops", -1, 5, 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, stop := ConstantPacer{Rate: tt.rate}.Due(tt.n)
			if got != tt.want || stop != tt.wantStop {
				t.Fatalf("Due(%d) = %v, %v; want %v, %v", tt.n, got, stop, tt.want, tt.wantStop)
			}
		})
	}
}

func TestLinearPacer(t *testing.T) {
	// Rate 10/s rising by 10/s²: 15 attempts are due within the first second.
	p := LinearPacer{StartRate: 10, Slope: 10}
	if got, _ := p.Due(15); got != time.Second {
		t.Errorf("Due(15) = %v, want 1s", got)
	}
	// A falling rate that reaches zero stops: 10/s falling by 10/s² allows 5 attempts.
	if _, stop := (LinearPacer{StartRate: 10, Slope: -10}).Due(6); !stop {
		t.Error("Due(6) of a rate that dies after 5 attempts did not stop")
	}
}

// fakeIdentities are enough for the scheduler: tests replace the network.
func fakeIdentities(n int) []*Identity {
	ids := make([]*Identity, n)
	for i := range ids {
		ids[i] = &Identity{Index: i, Kind: result.Good, DeviceID: "d"}
	}
	return ids
}

// serve is a fake attempt that takes d and succeeds.
func serve(d time.Duration) func(context.Context, *result.Result) time.Time {
	return func(_ context.Context, r *result.Result) time.Time {
		r.Start = time.Now()
		time.Sleep(d)
		r.Outcome = result.OutcomeSuccess
		return time.Now()
	}
}

type collect struct{ rs []result.Result }

func (c *collect) Record(r *result.Result) error { c.rs = append(c.rs, *r); return nil }

// An open loop measures latency from the scheduled time: a server slower
// than the rate makes every attempt wait longer, and the records show it.
func TestOpenLoopMeasuresFromScheduledTime(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var got collect
		cfg := AttackConfig{Addr: "x:1", Rate: 100, Workers: 1, Backlog: 100, Count: 10,
			testAttempt: serve(25 * time.Millisecond)}
		if _, err := Attack(t.Context(), cfg, fakeIdentities(4), &got); err != nil {
			t.Fatal(err)
		}
		if len(got.rs) != 10 {
			t.Fatalf("%d results, want 10", len(got.rs))
		}
		for _, r := range got.rs {
			n := int64(r.Seq)
			// Due at 10n ms; the single worker starts it at 25n ms and ends at 25(n+1) ms.
			wantWait := time.Duration(15*n) * time.Millisecond
			wantTotal := (15*n + 25) * 1000
			if r.Start.Sub(r.Scheduled) != wantWait || r.TotalUs != wantTotal {
				t.Errorf("attempt %d: waited %v, total %d µs; want %v, %d µs", n, r.Start.Sub(r.Scheduled), r.TotalUs, wantWait, wantTotal)
			}
		}
	})
}

// The scheduler never waits for a worker: when the backlog is full the due
// attempt is recorded as dropped at its scheduled time.
func TestOpenLoopDropsInsteadOfBlocking(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var got collect
		cfg := AttackConfig{Addr: "x:1", Rate: 100, Workers: 1, Backlog: 1, Duration: 100 * time.Millisecond,
			testAttempt: serve(27 * time.Millisecond)}
		if _, err := Attack(t.Context(), cfg, fakeIdentities(4), &got); err != nil {
			t.Fatal(err)
		}
		if len(got.rs) != 10 {
			t.Fatalf("%d results, want one per due attempt (10)", len(got.rs))
		}
		var first time.Time
		for _, r := range got.rs {
			if r.Seq == 0 {
				first = r.Scheduled
			}
		}
		dropped := 0
		for _, r := range got.rs {
			if want := time.Duration(r.Seq) * 10 * time.Millisecond; r.Scheduled.Sub(first) != want {
				t.Errorf("attempt %d scheduled at +%v, want +%v", r.Seq, r.Scheduled.Sub(first), want)
			}
			if r.Outcome == result.OutcomeDropped {
				dropped++
				if !r.Start.Equal(r.Scheduled) || !r.Unexpected || r.Reason != "over_capacity" {
					t.Errorf("dropped attempt %d: start %v after due, unexpected=%v reason=%q; want recorded at its due time",
						r.Seq, r.Start.Sub(r.Scheduled), r.Unexpected, r.Reason)
				}
			}
		}
		if dropped == 0 || dropped == 10 {
			t.Fatalf("dropped %d of 10; want some (a 27 ms server at 100/s with one worker and a backlog of one)", dropped)
		}
	})
}

// A closed loop marks attempts started during the warm-up and stops after
// Count measured ones; the summary excludes the warm-up.
func TestClosedLoopWarmupAndCount(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var got collect
		agg := result.NewAggregator()
		cfg := AttackConfig{Addr: "x:1", Workers: 2, Warmup: 30 * time.Millisecond, Count: 5,
			testAttempt: serve(10 * time.Millisecond)}
		began := time.Now()
		win, err := Attack(t.Context(), cfg, fakeIdentities(8), result.Tee(&got, agg))
		if err != nil {
			t.Fatal(err)
		}
		warm := 0
		for _, r := range got.rs {
			if r.Warmup {
				warm++
			}
		}
		if warm != 6 || len(got.rs)-warm != 5 {
			t.Fatalf("%d warm-up and %d measured attempts; want 6 and 5", warm, len(got.rs)-warm)
		}
		if d := win.Start.Sub(began); d != 30*time.Millisecond {
			t.Errorf("window starts %v after the start, want at the end of the warm-up (30ms)", d)
		}
		agg.AddWindow(win)
		s, err := agg.Summary()
		if err != nil {
			t.Fatal(err)
		}
		ps := s.Server(result.ServerPlatform)
		if ps.Attempts != 5 || ps.Warmup != 6 || ps.Success != 5 {
			t.Errorf("summary attempts=%d warmup=%d success=%d; want 5, 6, 5", ps.Attempts, ps.Warmup, ps.Success)
		}
		if p50 := ps.Latency[result.MetricTotal].P50; p50 < 10000 || p50 > 10010 { // 3 significant digits
			t.Errorf("p50 = %d µs, want 10 ms", p50)
		}
	})
}
