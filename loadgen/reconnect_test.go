package loadgen

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"
	"time"
)

// sampleDelays draws k delays of attempt n (prev given) from a seeded source.
func sampleDelays(p Policy, n int, prev time.Duration, k int, seed uint64) []time.Duration {
	rng := rand.New(rand.NewPCG(seed, 1))
	out := make([]time.Duration, k)
	for i := range out {
		out[i] = p.Delay(n, prev, rng)
	}
	return out
}

// requireUniform checks that delays lie in [lo, hi) and are spread evenly
// over it: the mean within 2% of the midpoint's position and each tenth of
// the range holding 10% ± 1.5% of the samples (k = 20,000: a deviation of
// 1.5 points is ~7 standard deviations).
func requireUniform(t *testing.T, what string, ds []time.Duration, lo, hi time.Duration) {
	t.Helper()
	var sum float64
	bins := make([]int, 10)
	for _, d := range ds {
		if d < lo || d >= hi {
			t.Fatalf("%s: delay %v outside [%v, %v)", what, d, lo, hi)
		}
		sum += float64(d)
		bins[min(int(float64(d-lo)/float64(hi-lo)*10), 9)]++
	}
	mean := sum / float64(len(ds))
	want := float64(lo+hi) / 2
	if math.Abs(mean-want) > 0.02*float64(hi-lo) {
		t.Errorf("%s: mean %v, want %v", what, time.Duration(mean), time.Duration(want))
	}
	for i, c := range bins {
		if share := float64(c) / float64(len(ds)); math.Abs(share-0.1) > 0.015 {
			t.Errorf("%s: tenth %d holds %.1f%% of the delays, want about 10%%", what, i, share*100)
		}
	}
}

func requireConstant(t *testing.T, what string, ds []time.Duration, want time.Duration) {
	t.Helper()
	for _, d := range ds {
		if d != want {
			t.Fatalf("%s: delay %v, want %v every time", what, d, want)
		}
	}
}

// The delay distributions of every policy, attempt by attempt, from a
// seeded source: their ranges and their uniformity within them.
func TestPolicyDelayDistributions(t *testing.T) {
	const k = 20000
	base, cap := 100*time.Millisecond, 2*time.Second
	ms := time.Millisecond
	for n := range 7 {
		requireConstant(t, "immediate", sampleDelays(Immediate{}, n, 0, 100, 1), 0)
		requireConstant(t, "fixed", sampleDelays(Fixed{Wait: 250 * ms}, n, 0, 100, 1), 250*ms)

		tn := min(base<<n, cap) // 100, 200, ... 1600 ms, then the cap
		requireUniform(t, "full jitter", sampleDelays(FullJitter{Base: base, Cap: cap}, n, 0, k, uint64(n)), 0, tn)
		requireUniform(t, "equal jitter", sampleDelays(EqualJitter{Base: base, Cap: cap}, n, 0, k, uint64(n)), tn/2, tn)

		// Huawei's C SDK: min(1 s + 2^n·(r + 0.8 s), 30 s), r uniform in 0.8..0.999 s.
		if lo := time.Second + (1<<n)*1600*ms; lo < 30*time.Second {
			requireUniform(t, "huawei C", sampleDelays(HuaweiC{}, n, 0, k, uint64(n)), lo, min(time.Second+(1<<n)*1800*ms, 30*time.Second+ms))
		} else {
			requireConstant(t, "huawei C", sampleDelays(HuaweiC{}, n, 0, 100, 1), 30*time.Second)
		}
		// Huawei's Python SDK: at once, then min(1 s + 2^(n-1)·(r + 0.8 s), 30 s), r in 0..0.199 s.
		switch hi := time.Second + (1<<max(n-1, 0))*1000*ms; {
		case n == 0:
			requireConstant(t, "huawei python", sampleDelays(HuaweiPython{}, n, 0, 100, 1), 0)
		case hi <= 30*time.Second: // below the cap throughout
			requireUniform(t, "huawei python", sampleDelays(HuaweiPython{}, n, 0, k, uint64(n)), time.Second+(1<<(n-1))*800*ms, hi)
		}
	}
	for _, prev := range []time.Duration{0, 50 * ms, 300 * ms, 1500 * ms} {
		p := Decorrelated{Base: base, Cap: cap}
		ds := sampleDelays(p, 3, prev, k, 7)
		hi := 3 * max(prev, base)
		if hi <= cap {
			requireUniform(t, "decorrelated prev="+prev.String(), ds, base, hi)
			continue
		}
		// Above the cap the draw is clipped: uniform below it, the rest at the cap.
		var atCap int
		for _, d := range ds {
			if d < base || d > cap {
				t.Fatalf("decorrelated: %v outside [%v, %v]", d, base, cap)
			}
			if d == cap {
				atCap++
			}
		}
		want := float64(hi-cap) / float64(hi-base)
		if got := float64(atCap) / k; math.Abs(got-want) > 0.02 {
			t.Errorf("decorrelated prev=%v: %.3f at the cap, want %.3f", prev, got, want)
		}
	}
	// The C SDK's waits in its own words: 2.6–2.8 s first, 30 s from the sixth attempt.
	for n, want := range map[int][2]time.Duration{0: {2600 * ms, 2800 * ms}, 1: {4200 * ms, 4600 * ms}, 4: {26600 * ms, 29800 * ms}} {
		for _, d := range sampleDelays(HuaweiC{}, n, 0, 1000, 3) {
			if d < want[0] || d >= want[1] {
				t.Fatalf("huawei C attempt %d: %v outside %v", n, d, want)
			}
		}
	}
	requireConstant(t, "huawei C, late", sampleDelays(HuaweiC{}, 40, 0, 10, 1), 30*time.Second)
	for _, d := range sampleDelays(FullJitter{Base: base, Cap: cap}, 200, 0, 1000, 1) {
		if d < 0 || d >= cap {
			t.Fatalf("full jitter at attempt 200: %v outside [0, cap)", d)
		}
	}
}

// A policy's draws depend only on the device's seed: a run is repeatable.
func TestPolicySeeded(t *testing.T) {
	p := FullJitter{Base: time.Second, Cap: 30 * time.Second}
	a, b := sampleDelays(p, 2, 0, 50, 42), sampleDelays(p, 2, 0, 50, 42)
	c := sampleDelays(p, 2, 0, 50, 43)
	same, differ := true, false
	for i := range a {
		same = same && a[i] == b[i]
		differ = differ || a[i] != c[i]
	}
	if !same || !differ {
		t.Errorf("same seed same delays: %v; another seed other delays: %v", same, differ)
	}
}

func TestParsePolicy(t *testing.T) {
	for _, tc := range []struct {
		name            string
		base, cap       time.Duration
		baseSet, capSet bool
		want            string // Params, or the error's text
		err             bool
	}{
		{"immediate", 0, 0, false, false, "no wait", false},
		{"fixed", 500 * time.Millisecond, 0, true, false, "delay=500ms", false},
		{"fixed", 0, time.Second, false, true, "no --backoff-cap", true},
		{"full-jitter", 0, 0, false, false, "base=1s cap=30s", false},
		{"equal-jitter", 200 * time.Millisecond, 5 * time.Second, true, true, "base=200ms cap=5s", false},
		{"decorrelated", 0, 0, false, false, "base=1s cap=30s", false},
		{"decorrelated", 2 * time.Second, time.Second, true, true, "cap 1s below base 2s", true},
		{"huawei", 0, 0, false, false, "C SDK", false},
		{"huawei", time.Second, 0, true, false, "takes no --backoff-base", true},
		{"huawei-python", 0, 0, false, false, "Python SDK", false},
		{"expo", 0, 0, false, false, "want one of immediate, fixed", true},
	} {
		p, err := ParsePolicy(tc.name, tc.base, tc.cap, tc.baseSet, tc.capSet)
		switch {
		case tc.err && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%s: err %v, want one saying %q", tc.name, err, tc.want)
		case !tc.err && err != nil:
			t.Errorf("%s: %v", tc.name, err)
		case !tc.err && (p.Name() != tc.name || !strings.Contains(p.Params(), tc.want)):
			t.Errorf("%s: %s %q, want params with %q", tc.name, p.Name(), p.Params(), tc.want)
		}
	}
}
