package reports

import (
	"regexp"
	"strconv"
	"testing"

	hdr "github.com/HdrHistogram/hdrhistogram-go"
)

// The histogram's bars hold every recorded login, in bins of equal width on
// a log scale, about 20 of them or more across the data.
func TestHistogramChart(t *testing.T) {
	for _, tc := range []struct {
		name      string
		lo, hi    int64 // µs
		perDecade int
	}{
		{"wide: 100 µs to 1 s", 100, 1_000_000, 10},
		{"narrow: 1.5 to 3 ms", 1500, 3000, 80},
		{"one decade", 1000, 10_000, 20},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := hdr.New(1, 600_000_000, 3)
			var n int64
			for v := tc.lo; v <= tc.hi; v += max(1, (tc.hi-tc.lo)/5000) {
				_ = h.RecordValue(v)
				n++
			}
			hs := []histSeries{{Name: "successes", Color: colPlatform, H: h}}
			if got := binsFor(hs).perDecade; got != tc.perDecade {
				t.Errorf("%d bins per decade, want %d", got, tc.perDecade)
			}
			chart := string(histogramChart("h", hs))
			bars := regexp.MustCompile(`<title>successes: (\d+) logins took`).FindAllStringSubmatch(chart, -1)
			var sum int64
			for _, b := range bars {
				c, _ := strconv.ParseInt(b[1], 10, 64)
				sum += c
			}
			if sum != n {
				t.Errorf("bars hold %d logins, want %d", sum, n)
			}
			if len(bars) < 15 {
				t.Errorf("%d bars, want about 20 across the data", len(bars))
			}
		})
	}
	if histogramChart("empty", []histSeries{{Name: "x", H: hdr.New(1, 1000, 3)}}) != "" {
		t.Error("an empty histogram drew a chart")
	}
}
