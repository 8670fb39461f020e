package reports

import (
	"testing"
	"time"

	"github.com/certlab/certlab/loadgen/result"
)

// TestLatencyGateNeedsData: a p99 threshold over a summary without latency
// data fails instead of passing silently.
func TestLatencyGateNeedsData(t *testing.T) {
	cases := []struct {
		name     string
		success  int64
		count    int64
		p99Us    int64
		wantPass bool
	}{
		{"within the limit", 100, 100, 5_000, true},
		{"over the limit", 100, 100, 50_000, false},
		{"no latency data", 100, 0, 0, false},
		{"no successful login", 0, 0, 0, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := &result.Summary{Servers: []result.ServerSummary{{
				Server:  result.ServerPlatform,
				Success: tc.success,
				Latency: map[string]result.LatencyStats{result.MetricTotal: {Count: tc.count, P99: tc.p99Us}},
			}}}
			checks := Evaluate(s, Thresholds{MaxP99: 20 * time.Millisecond})
			if len(checks) != 1 {
				t.Fatalf("got %d checks, want 1", len(checks))
			}
			if checks[0].Pass != tc.wantPass {
				t.Errorf("pass = %v (%s), want %v", checks[0].Pass, checks[0].Message, tc.wantPass)
			}
		})
	}
}
