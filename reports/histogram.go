package reports

// histogram.go: the latency histogram chart. The run's HDR histograms
// (3 significant digits, thousands of buckets) are folded into bins of equal
// width on a logarithmic scale — 10, 20, 40 or 80 to a factor of ten, the
// fewest that give the data about 20 bins — so that a run whose logins took 1
// to 100 ms shows its shape (a second mode, a tail) in a few dozen bars, and
// so does one whose logins all took 1.5 to 3 ms.

import (
	"fmt"
	"html"
	"html/template"
	"math"

	hdr "github.com/HdrHistogram/hdrhistogram-go"
)

// histSeries is one histogram to draw (µs values).
type histSeries struct {
	Name  string
	Color string
	H     *hdr.Histogram
}

// logBins are bins of equal width on a log scale, perDecade to a factor of
// ten: bin k holds [10^(k/perDecade), 10^((k+1)/perDecade)) µs.
type logBins struct{ perDecade int }

// binsFor picks the fewest bins per decade (10, 20, 40 or 80) that give the
// span of the histograms' values about 20 bins.
func binsFor(hs []histSeries) logBins {
	lo, hi := math.Inf(1), 0.0
	for _, s := range hs {
		if s.H.TotalCount() > 0 {
			lo = math.Min(lo, float64(max(s.H.Min(), 1)))
			hi = math.Max(hi, float64(s.H.Max()))
		}
	}
	decades := math.Log10(hi / lo)
	for _, n := range []int{10, 20, 40} {
		if decades*float64(n) >= 20 {
			return logBins{n}
		}
	}
	return logBins{80}
}

func (lb logBins) bin(us float64) int {
	return int(math.Floor(math.Log10(math.Max(us, 1))*float64(lb.perDecade) + 1e-9))
}

func (lb logBins) edge(k int) float64 { return math.Pow(10, float64(k)/float64(lb.perDecade)) }

// counts folds an HDR histogram into the bins: bin index -> count. Each HDR
// bucket (under 0.1% wide) goes to the bin of its middle.
func (lb logBins) counts(h *hdr.Histogram) map[int]int64 {
	out := map[int]int64{}
	for _, b := range h.Distribution() {
		if b.Count > 0 {
			out[lb.bin(float64(b.From+b.To)/2)] += b.Count
		}
	}
	return out
}

// histogramChart draws the histograms as bars (count per bin) over latency
// in ms on a logarithmic axis; several series overlap, half transparent.
func histogramChart(title string, hs []histSeries) template.HTML {
	lb := binsFor(hs)
	bins := make([]map[int]int64, len(hs))
	kMin, kMax := math.MaxInt, math.MinInt
	var top int64
	for i, s := range hs {
		bins[i] = lb.counts(s.H)
		for k, n := range bins[i] {
			kMin, kMax = min(kMin, k), max(kMax, k)
			top = max(top, n)
		}
	}
	if top == 0 {
		return ""
	}
	lo, hi := lb.edge(kMin)/1000, lb.edge(kMax+1)/1000 // ms
	xt := logTicks(lo, hi)
	yt := niceTicks(float64(top), 5)
	fr := newFrame(title, xt[0], xt[len(xt)-1], yt[len(yt)-1])
	fr.logX = true
	pts := make([]point, len(xt))
	labels := make([]string, len(xt))
	for i, t := range xt {
		pts[i], labels[i] = point{X: t}, label(t)
	}
	fr.axes(yt, "logins", pts, labels, fmt.Sprintf("ms (log scale, %d bins per factor of ten)", lb.perDecade))
	base := fr.y(0)
	opacity := "1"
	if len(hs) > 1 {
		opacity = "0.6"
	}
	for i, s := range hs {
		for k := kMin; k <= kMax; k++ {
			n := bins[i][k]
			if n == 0 {
				continue
			}
			x0, x1 := fr.x(lb.edge(k)/1000), fr.x(lb.edge(k+1)/1000)
			y := fr.y(float64(n))
			fmt.Fprintf(&fr.b, `<rect class="bar" x="%s" y="%s" width="%s" height="%s" fill="%s" fill-opacity="%s"><title>%s: %d logins took %s–%s ms</title></rect>`,
				f(x0), f(y), f(math.Max(x1-x0-1, 1)), f(math.Max(base-y, 0.5)), s.Color, opacity,
				html.EscapeString(s.Name), n, msText(lb.edge(k)), msText(lb.edge(k+1)))
		}
	}
	ls := make([]series, len(hs))
	for i, s := range hs {
		ls[i] = series{Name: s.Name, Color: s.Color}
	}
	fr.legend(ls)
	return fr.html()
}

// msText formats µs as ms with 3 significant digits.
func msText(us float64) string {
	return fmt.Sprintf("%.3g", us/1000)
}
