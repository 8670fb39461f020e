package result

import (
	"encoding/json"
	"testing"
	"time"
)

func TestLatencyBucket(t *testing.T) {
	for _, tc := range []struct {
		v, floor, width int64
	}{
		{0, 0, 1}, {1, 1, 1}, {63, 63, 1}, // exact below 64 µs
		{64, 64, 2}, {65, 64, 2}, {127, 126, 2},
		{128, 128, 4}, {1000, 992, 16}, {1_000_000, 999_424, 16384},
		{-5, 0, 1},
	} {
		floor, width := LatencyBucket(tc.v)
		if floor != tc.floor || width != tc.width {
			t.Errorf("LatencyBucket(%d) = %d, %d; want %d, %d", tc.v, floor, width, tc.floor, tc.width)
		}
	}
	// No bucket is wider than 1/32 of its floor, and every value lies in its bucket.
	for v := int64(64); v < 10_000_000; v = v*9/8 + 1 {
		floor, width := LatencyBucket(v)
		if v < floor || v >= floor+width || width*32 > floor {
			t.Fatalf("LatencyBucket(%d) = [%d, +%d)", v, floor, width)
		}
	}
}

func TestLatencyCountsPercentile(t *testing.T) {
	// 100 values 1..100 µs: buckets are exact below 64, 2 µs wide above.
	var lt latencyTimeline
	for v := int64(1); v <= 100; v++ {
		lt.add(7, MetricTotal, v, 1)
	}
	secs := lt.seconds()
	if len(secs) != 1 || secs[0].Unix != 7 {
		t.Fatalf("seconds %+v, want one at 7", secs)
	}
	lc := secs[0].Us[MetricTotal]
	for _, tc := range []struct {
		q    float64
		want int64
	}{{0, 1}, {50, 50}, {90, 91}, {99, 99}, {100, 101}} {
		if got := lc.Percentile(tc.q); got != tc.want {
			t.Errorf("p%g = %d, want %d", tc.q, got, tc.want)
		}
	}
	if lc.Count() != 100 || lc.Max() != 101 {
		t.Errorf("count %d max %d, want 100 and 101 (top of the 100..101 bucket)", lc.Count(), lc.Max())
	}
	if (LatencyCounts{}).Percentile(50) != 0 {
		t.Error("percentile of an empty histogram is not 0")
	}
}

// The aggregator keeps latency by the second an attempt ended, successes
// only (refusals, errors and warm-up attempts excluded), every phase.
func TestAggregatorLatencyTimeline(t *testing.T) {
	t0 := time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)
	a := NewAggregator()
	for i, r := range synthetic(ServerPlatform, 2500, t0) {
		r.Warmup = i < 100
		_ = a.Record(r)
	}
	s, err := a.Summary()
	if err != nil {
		t.Fatal(err)
	}
	p := s.Server(ServerPlatform)
	var total int64
	for i, sec := range p.LatencyTimeline {
		if i > 0 && sec.Unix <= p.LatencyTimeline[i-1].Unix {
			t.Fatalf("seconds out of order at %d", i)
		}
		n := sec.Us[MetricTotal].Count()
		for _, m := range TimedMetrics {
			if got := sec.Us[m].Count(); got != n {
				t.Errorf("second %d: %s has %d values, total has %d", sec.Unix, m, got, n)
			}
		}
		var bucket int64
		for _, b := range p.Timeline {
			if b.Unix == sec.Unix {
				bucket = b.Success
			}
		}
		if n != bucket {
			t.Errorf("second %d: %d latencies, %d successes in the timeline", sec.Unix, n, bucket)
		}
		total += n
	}
	if total != p.Success || total != p.Latency[MetricTotal].Count {
		t.Errorf("%d latencies over the seconds, %d successes", total, p.Success)
	}
	// The per-second percentiles agree with the run's HDR histogram within a bucket.
	whole := LatencyCounts{}
	var lt latencyTimeline
	lt.merge(p.LatencyTimeline)
	for _, sec := range lt.seconds() {
		whole = append(whole, sec.Us[MetricTotal]...)
	}
	// Re-bucket into one second to get the run's distribution.
	var one latencyTimeline
	for _, pr := range whole {
		one.add(0, MetricTotal, pr[0], pr[1])
	}
	p99 := one.seconds()[0].Us[MetricTotal].Percentile(99)
	if hdr := p.Latency[MetricTotal].P99; p99 < hdr*31/32 || p99 > hdr*33/32 {
		t.Errorf("p99 from the seconds %d µs, from the HDR histogram %d µs", p99, hdr)
	}
	// And they survive JSON.
	b, err := json.Marshal(p.LatencyTimeline)
	if err != nil {
		t.Fatal(err)
	}
	var back []LatencySecond
	if err := json.Unmarshal(b, &back); err != nil || len(back) != len(p.LatencyTimeline) {
		t.Fatalf("round trip: %v, %d seconds", err, len(back))
	}
}

func TestLatencyCountsJSON(t *testing.T) {
	in := LatencyCounts{{62, 1}, {992, 3}, {1008, 12}}
	b, err := json.Marshal(map[string]LatencyCounts{"total": in, "none": nil})
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"none":"","total":"62:1 992:3 1008:12"}`; string(b) != want {
		t.Fatalf("JSON %s, want %s", b, want)
	}
	var back map[string]LatencyCounts
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if len(back["total"]) != 3 || back["total"][2] != [2]int64{1008, 12} || len(back["none"]) != 0 {
		t.Fatalf("round trip: %v", back)
	}
	for _, bad := range []string{`"12"`, `"a:1"`, `"1:-2"`, `[[1,2]]`} {
		var lc LatencyCounts
		if err := json.Unmarshal([]byte(bad), &lc); err == nil {
			t.Errorf("%s accepted as %v", bad, lc)
		}
	}
}
