package loadgen

import (
	"testing"
	"testing/synctest"
	"time"

	"github.com/certlab/certlab/loadgen/result"
)

// Hold mode with a rate paces the ramp-up of the held logins: login i is
// due i/rate after the start, and its latency runs from that due time even
// when it had to wait for a worker (as in the open loop).
func TestHoldRatePacesTheRamp(t *testing.T) {
	for _, tc := range []struct {
		name    string
		workers int
		serve   time.Duration
		// wantWait is how long login n waited for a worker after it was due.
		wantWait func(n int64) time.Duration
	}{
		{"workers to spare", 4, 5 * time.Millisecond, func(int64) time.Duration { return 0 }},
		// One worker, 25 ms per login, due every 10 ms: login n starts at 25n ms.
		{"one slow worker", 1, 25 * time.Millisecond, func(n int64) time.Duration { return time.Duration(15*n) * time.Millisecond }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				var got collect
				cfg := AttackConfig{Addr: "x:1", Mode: result.ModeHold, Rate: 100, Workers: tc.workers,
					testAttempt: serve(tc.serve)}
				if _, err := Attack(t.Context(), cfg, fakeIdentities(6), &got); err != nil {
					t.Fatal(err)
				}
				if len(got.rs) != 6 {
					t.Fatalf("%d logins, want one per device (6)", len(got.rs))
				}
				first := got.rs[0].Scheduled
				for _, r := range got.rs {
					if r.Seq == 0 {
						first = r.Scheduled
					}
				}
				for _, r := range got.rs {
					n := int64(r.Seq)
					if due := r.Scheduled.Sub(first); due != time.Duration(n)*10*time.Millisecond {
						t.Errorf("login %d due %v after the first, want %v (rate 100/s)", n, due, time.Duration(n)*10*time.Millisecond)
					}
					wait := tc.wantWait(n)
					if got := r.Start.Sub(r.Scheduled); got != wait {
						t.Errorf("login %d started %v after it was due, want %v", n, got, wait)
					}
					if want := (wait + tc.serve).Microseconds(); r.TotalUs != want {
						t.Errorf("login %d total %d µs, want %d µs (from its due time)", n, r.TotalUs, want)
					}
				}
			})
		})
	}
}

// The run header of a paced hold says it was paced.
func TestHoldRateRecordedInRunInfo(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s, err := Run(t.Context(), Config{Attack: AttackConfig{Addr: "x:1", Mode: result.ModeHold, Rate: 400, Workers: 2,
			testAttempt: serve(time.Millisecond)}}, fakeIdentities(4))
		if err != nil {
			t.Fatal(err)
		}
		if r := s.Runs[0]; r.Loop != "open" || r.Rate != 400 {
			t.Errorf("run header loop %q rate %g, want open at 400/s", r.Loop, r.Rate)
		}
	})
}
