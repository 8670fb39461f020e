package result

// latencytime.go: login latency second by second.
//
// The per-second latencies live in the summary (ServerSummary.LatencyTimeline),
// not only in the results file, for the same reasons as the per-second outcome
// counts (Timeline): a report rendered from summary.json alone — what a
// Kubernetes shard hands back, or an old run kept for --compare — still draws
// latency over time, and the summaries of several shards merge exactly, since
// a second's histogram is a list of bucket counts that add bucket by bucket.
// The buckets are coarser than the run's HDR histograms (32 per doubling
// instead of 3 significant digits) to keep a long run's summary small; a chart
// of per-second percentiles needs no finer resolution.

import (
	"encoding/json"
	"fmt"
	"math"
	"math/bits"
	"slices"
	"strconv"
	"strings"
)

// TimedMetrics are the latency metrics kept per second, all of successful
// logins: the whole login and each of its phases.
var TimedMetrics = []string{MetricTotal, MetricTCP, MetricTLS, MetricConnack}

// LatencySecond is the latency of the successful logins that ended within
// one second (Unix seconds, like Bucket.Unix).
type LatencySecond struct {
	Unix int64 `json:"t"`
	// Us holds one sparse histogram (µs) per metric of TimedMetrics.
	Us map[string]LatencyCounts `json:"us"`
}

// LatencyCounts is a sparse latency histogram: (bucket floor in µs, count)
// pairs in ascending order of floor. Buckets are those of LatencyBucket. In
// JSON it is one string of "floor:count" pairs separated by spaces
// ("992:3 1008:1"), so that an indented summary stays one line per histogram.
type LatencyCounts [][2]int64

// MarshalJSON writes the "floor:count ..." string.
func (lc LatencyCounts) MarshalJSON() ([]byte, error) {
	b := make([]byte, 0, 2+len(lc)*10)
	b = append(b, '"')
	for i, p := range lc {
		if i > 0 {
			b = append(b, ' ')
		}
		b = strconv.AppendInt(b, p[0], 10)
		b = append(b, ':')
		b = strconv.AppendInt(b, p[1], 10)
	}
	return append(b, '"'), nil
}

// UnmarshalJSON reads the "floor:count ..." string.
func (lc *LatencyCounts) UnmarshalJSON(data []byte) error {
	var s string
	if err := json.Unmarshal(data, &s); err != nil {
		return fmt.Errorf("latency counts: want a string of floor:count pairs: %w", err)
	}
	fields := strings.Fields(s)
	out := make(LatencyCounts, 0, len(fields))
	for _, f := range fields {
		fs, cs, ok := strings.Cut(f, ":")
		floor, err1 := strconv.ParseInt(fs, 10, 64)
		count, err2 := strconv.ParseInt(cs, 10, 64)
		if !ok || err1 != nil || err2 != nil || floor < 0 || count < 0 {
			return fmt.Errorf("latency counts: %q is not floor:count", f)
		}
		out = append(out, [2]int64{floor, count})
	}
	*lc = out
	return nil
}

// latencyExactBits: values below 1<<latencyExactBits µs are their own
// bucket; above, each doubling holds 1<<(latencyExactBits-1) = 32 buckets,
// none wider than 1/32 (3.1%) of its floor.
const latencyExactBits = 6

// LatencyBucket returns the floor and width of the bucket holding v µs.
func LatencyBucket(v int64) (floor, width int64) {
	v = max(v, 0)
	shift := bits.Len64(uint64(v)) - latencyExactBits
	if shift <= 0 {
		return v, 1
	}
	return v >> shift << shift, 1 << shift
}

// Count is the number of values in the histogram.
func (lc LatencyCounts) Count() int64 {
	var n int64
	for _, p := range lc {
		n += p[1]
	}
	return n
}

// Percentile returns the value at percentile q (0..100): the highest value
// of the bucket holding the q-th percentile, as HDR histograms report it
// (never understated by more than the bucket width). 0 when empty.
func (lc LatencyCounts) Percentile(q float64) int64 {
	total := lc.Count()
	if total == 0 {
		return 0
	}
	rank := int64(math.Round(q / 100 * float64(total)))
	rank = min(max(rank, 1), total)
	var seen int64
	for _, p := range lc {
		seen += p[1]
		if seen >= rank {
			floor, width := LatencyBucket(p[0])
			return floor + width - 1
		}
	}
	return 0 // unreachable: seen reaches total
}

// Max returns the highest value of the highest bucket (0 when empty).
func (lc LatencyCounts) Max() int64 { return lc.Percentile(100) }

// latencyTimeline accumulates LatencySeconds: second -> metric -> bucket floor -> count.
type latencyTimeline map[int64]map[string]map[int64]int64

func (lt *latencyTimeline) add(unix int64, metric string, us int64, n int64) {
	if *lt == nil {
		*lt = make(latencyTimeline)
	}
	sec := (*lt)[unix]
	if sec == nil {
		sec = make(map[string]map[int64]int64, len(TimedMetrics))
		(*lt)[unix] = sec
	}
	m := sec[metric]
	if m == nil {
		m = make(map[int64]int64)
		sec[metric] = m
	}
	floor, _ := LatencyBucket(us)
	m[floor] += n
}

// record adds the phases of one successful login that ended in second unix.
func (lt *latencyTimeline) record(unix int64, r *Result) {
	lt.add(unix, MetricTotal, r.TotalUs, 1)
	lt.add(unix, MetricTCP, r.TCPUs, 1)
	lt.add(unix, MetricTLS, r.TLSUs, 1)
	lt.add(unix, MetricConnack, r.ConnackUs, 1)
}

// merge adds another summary's seconds (exact: counts add bucket by bucket;
// a floor from another bucketing is re-bucketed, never lost).
func (lt *latencyTimeline) merge(in []LatencySecond) {
	for _, sec := range in {
		for metric, counts := range sec.Us {
			for _, p := range counts {
				lt.add(sec.Unix, metric, p[0], p[1])
			}
		}
	}
}

// seconds renders the timeline in ascending order of second, each
// histogram in ascending order of bucket (deterministic JSON).
func (lt latencyTimeline) seconds() []LatencySecond {
	if len(lt) == 0 {
		return nil
	}
	out := make([]LatencySecond, 0, len(lt))
	for unix, metrics := range lt {
		sec := LatencySecond{Unix: unix, Us: make(map[string]LatencyCounts, len(metrics))}
		for metric, buckets := range metrics {
			counts := make(LatencyCounts, 0, len(buckets))
			for floor, n := range buckets {
				counts = append(counts, [2]int64{floor, n})
			}
			slices.SortFunc(counts, func(a, b [2]int64) int { return int(a[0] - b[0]) })
			sec.Us[metric] = counts
		}
		out = append(out, sec)
	}
	slices.SortFunc(out, func(a, b LatencySecond) int { return int(a.Unix - b.Unix) })
	return out
}
