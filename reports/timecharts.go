package reports

// timecharts.go: the charts over time — outcomes per second, login latency
// per second (percentiles, and per phase), and their overlays in a
// comparison — all on one axis: seconds since the start of the measured span.
//
// A per-second count is only a rate when the whole second was measured. The
// first and last seconds of a run are usually cut by the measured span (a run
// that ends 0.3 s into a second has 0.3 s of attempts in its last bucket), so
// such a second is scaled to a per-second rate and drawn as partial (hollow
// point, dashed segment) instead of as a false drop; a second covered for less
// than minCoverage, or not at all (attempts that ended after the span), is
// left out and counted in a note. Latency needs no scaling: a partial second's
// percentiles are those of fewer logins, not smaller.

import (
	"fmt"
	"html/template"
	"math"
	"time"

	"github.com/certlab/certlab/loadgen/result"
)

// minCoverage is the least part of a second (s) that is scaled to a rate;
// below it the scaled count would be mostly noise.
const minCoverage = 0.2

// Colours of percentiles and phases in the time charts.
const (
	colP50 = "#0072B2"
	colP90 = "#56B4E9"
	colP99 = "#D55E00"
	colMax = "#999999"
	colTCP = "#009E73"
	colTLS = "#0072B2"
	colMQ  = "#E69F00"
)

// timeAxis places a server's seconds (Unix) on "seconds since start".
type timeAxis struct {
	start, end time.Time // measured span; zero when unknown
	origin     int64     // Unix second of x = 0 when the span is unknown
}

func newTimeAxis(ss *result.ServerSummary) timeAxis {
	if !ss.Start.IsZero() && ss.End.After(ss.Start) {
		return timeAxis{start: ss.Start, end: ss.End}
	}
	a := timeAxis{}
	switch {
	case len(ss.Timeline) > 0:
		a.origin = ss.Timeline[0].Unix
	case len(ss.LatencyTimeline) > 0:
		a.origin = ss.LatencyTimeline[0].Unix
	}
	return a
}

// second returns where second unix sits (the middle of its measured part,
// or of the whole second when none of it was measured) and how much of it
// the measured span covers (s; 1 when the span is unknown).
func (a timeAxis) second(unix int64) (x, coverage float64) {
	if a.start.IsZero() {
		return float64(unix-a.origin) + 0.5, 1
	}
	lo, hi := time.Unix(unix, 0), time.Unix(unix+1, 0)
	mid := lo.Add(500 * time.Millisecond)
	if a.start.After(lo) {
		lo = a.start
	}
	if a.end.Before(hi) {
		hi = a.end
	}
	if !hi.After(lo) {
		return mid.Sub(a.start).Seconds(), 0
	}
	return (lo.Sub(a.start) + hi.Sub(lo)/2).Seconds(), hi.Sub(lo).Seconds()
}

// seconds is the length of the axis: the measured span, or the last second seen.
func (a timeAxis) seconds(ss *result.ServerSummary) float64 {
	if !a.start.IsZero() {
		return a.end.Sub(a.start).Seconds()
	}
	var last float64
	for _, b := range ss.Timeline {
		last = math.Max(last, float64(b.Unix-a.origin)+1)
	}
	return last
}

// rateSeries is a server's outcomes per second: success always, refused,
// errors and dropped when the run had any. omitted counts the attempts of
// seconds left out (see the file comment).
func rateSeries(ss *result.ServerSummary) (lines []series, omitted int64) {
	ax := newTimeAxis(ss)
	ok := series{Name: "success", Color: colSuccess}
	ref := series{Name: "refused", Color: colRefused}
	er := series{Name: "errors", Color: colError}
	dr := series{Name: "dropped", Color: colDropped}
	for _, b := range ss.Timeline {
		x, cov := ax.second(b.Unix)
		if cov < minCoverage {
			omitted += b.Success + b.Refused + b.Errors + b.Dropped
			continue
		}
		partial := cov < 0.999
		scale := 1 / math.Min(cov, 1)
		ok.Points = append(ok.Points, point{X: x, Y: float64(b.Success) * scale, Partial: partial})
		ref.Points = append(ref.Points, point{X: x, Y: float64(b.Refused) * scale, Partial: partial})
		er.Points = append(er.Points, point{X: x, Y: float64(b.Errors) * scale, Partial: partial})
		dr.Points = append(dr.Points, point{X: x, Y: float64(b.Dropped) * scale, Partial: partial})
	}
	lines = []series{ok}
	if ss.Refused > 0 {
		lines = append(lines, ref)
	}
	if ss.Errors > 0 {
		lines = append(lines, er)
	}
	if ss.Dropped > 0 {
		lines = append(lines, dr)
	}
	return lines, omitted
}

// hasPartial reports whether any point of the series is partial.
func hasPartial(ss []series) bool {
	for _, s := range ss {
		for _, p := range s.Points {
			if p.Partial {
				return true
			}
		}
	}
	return false
}

// percentile of one metric of a second, in ms; ok is false when the second
// has no value of that metric.
func secondMs(sec result.LatencySecond, metric string, q float64) (float64, bool) {
	lc := sec.Us[metric]
	if lc.Count() == 0 {
		return 0, false
	}
	return float64(lc.Percentile(q)) / 1000, true
}

// latencySeries are per-second percentiles of one metric: one series per
// (name, percentile, colour).
func latencySeries(ss *result.ServerSummary, metric string, specs []latencySpec) []series {
	ax := newTimeAxis(ss)
	out := make([]series, len(specs))
	for i, sp := range specs {
		out[i] = series{Name: sp.name, Color: sp.color, Dash: sp.dash}
	}
	for _, sec := range ss.LatencyTimeline {
		x, _ := ax.second(sec.Unix)
		for i, sp := range specs {
			m := metric
			if sp.metric != "" {
				m = sp.metric
			}
			if v, ok := secondMs(sec, m, sp.q); ok {
				out[i].Points = append(out[i].Points, point{X: x, Y: v})
			}
		}
	}
	return out
}

type latencySpec struct {
	name   string
	metric string // "" = the metric given to latencySeries
	q      float64
	color  string
	dash   bool
}

var percentileSpecs = []latencySpec{
	{name: "p50", q: 50, color: colP50},
	{name: "p90", q: 90, color: colP90},
	{name: "p99", q: 99, color: colP99},
	{name: "max", q: 100, color: colMax},
}

// phaseSpecs are p50 (solid) and p99 (dashed) of each phase of a login.
func phaseSpecs(server string) []latencySpec {
	last := "CONNACK"
	if server == result.ServerBaseline {
		last = "echo"
	}
	return []latencySpec{
		{name: "TCP p50", metric: result.MetricTCP, q: 50, color: colTCP},
		{name: "TLS p50", metric: result.MetricTLS, q: 50, color: colTLS},
		{name: last + " p50", metric: result.MetricConnack, q: 50, color: colMQ},
		{name: "TCP p99", metric: result.MetricTCP, q: 99, color: colTCP, dash: true},
		{name: "TLS p99", metric: result.MetricTLS, q: 99, color: colTLS, dash: true},
		{name: last + " p99", metric: result.MetricConnack, q: 99, color: colMQ, dash: true},
	}
}

// serverTimeCharts are the time charts of one server's section.
type serverTimeCharts struct {
	Rate     template.HTML
	RateNote string
	Latency  template.HTML
	Phases   template.HTML
}

func timeCharts(ss *result.ServerSummary) serverTimeCharts {
	var out serverTimeCharts
	seconds := newTimeAxis(ss).seconds(ss)
	if len(ss.Timeline) > 0 {
		lines, omitted := rateSeries(ss)
		out.Rate = timelineChart(fmt.Sprintf("Attempts ending per second: %s", ss.Server), lines, seconds)
		var notes []string
		if hasPartial(lines) {
			notes = append(notes, "○ a second only partly inside the measured span, scaled to a per-second rate")
		}
		if omitted > 0 {
			notes = append(notes, fmt.Sprintf("%s not drawn: they ended in a second less than %.1f s of which lies in the measured span, or after it (they count everywhere else)",
				plural(int(omitted), "attempt"), minCoverage))
		}
		out.RateNote = joinNotes(notes)
	}
	if len(ss.LatencyTimeline) > 0 {
		out.Latency = latencyTimeChart(fmt.Sprintf("Login latency per second: %s (successes, by the second they ended)", ss.Server),
			latencySeries(ss, result.MetricTotal, percentileSpecs), seconds)
		out.Phases = latencyTimeChart(fmt.Sprintf("Phase latency per second: %s (p50 solid, p99 dashed)", ss.Server),
			latencySeries(ss, "", phaseSpecs(ss.Server)), seconds)
	}
	return out
}

func joinNotes(notes []string) string {
	out := ""
	for i, n := range notes {
		if i > 0 {
			out += "; "
		}
		out += n
	}
	return out
}

// compareTimeCharts overlays a server's rate and latency over time in the old
// and the new run, each on seconds since its own start.
func compareTimeCharts(old, cur *result.ServerSummary) (rate, latency template.HTML) {
	seconds := math.Max(newTimeAxis(old).seconds(old), newTimeAxis(cur).seconds(cur))
	if len(old.Timeline) > 0 && len(cur.Timeline) > 0 {
		n, _ := rateSeries(cur)
		o, _ := rateSeries(old)
		newOK, oldOK := n[0], o[0]
		newOK.Name, oldOK.Name = "new: success", "old: success"
		oldOK.Color, oldOK.Dash = lighter(colSuccess), true
		rate = timelineChart(fmt.Sprintf("Successful logins per second, old and new run: %s", cur.Server), []series{newOK, oldOK}, seconds)
	}
	if len(old.LatencyTimeline) > 0 && len(cur.LatencyTimeline) > 0 {
		specs := []latencySpec{{name: "p50", q: 50, color: colP50}, {name: "p99", q: 99, color: colP99}}
		var lines []series
		for _, s := range latencySeries(cur, result.MetricTotal, specs) {
			s.Name = "new: " + s.Name
			lines = append(lines, s)
		}
		for _, s := range latencySeries(old, result.MetricTotal, specs) {
			s.Name, s.Color, s.Dash = "old: "+s.Name, lighter(s.Color), true
			lines = append(lines, s)
		}
		latency = latencyTimeChart(fmt.Sprintf("Login latency per second, old and new run: %s", cur.Server), lines, seconds)
	}
	return rate, latency
}

// latencyTimeChart draws latencies (ms) per second on a logarithmic axis,
// so that a max of seconds does not flatten a p50 of milliseconds.
func latencyTimeChart(title string, ss []series, seconds float64) template.HTML {
	lo, hi := math.Inf(1), 0.0
	for _, s := range ss {
		for _, p := range s.Points {
			if p.Y > 0 {
				lo = math.Min(lo, p.Y)
			}
			hi = math.Max(hi, p.Y)
		}
	}
	if hi <= 0 {
		lo, hi = 0.1, 1
	}
	yt := logTicks(lo, hi)
	xt := niceTicks(math.Max(seconds, 1), 6)
	fr := newFrame(title, 0, xt[len(xt)-1], yt[len(yt)-1])
	fr.yMin, fr.logY = yt[0], true
	pts := make([]point, len(xt))
	labels := make([]string, len(xt))
	for i, t := range xt {
		pts[i], labels[i] = point{X: t}, label(t)
	}
	fr.axes(yt, "ms (log scale)", pts, labels, "seconds since start")
	fr.lines(ss)
	return fr.html()
}

// logTicks returns the round values from the largest one <= lo to the
// smallest one >= hi (lo > 0): 1-2-5 steps, finer steps when that gives
// fewer than 4 ticks (a range narrower than a factor of ten), thinned to the
// ends and the powers of ten between them when there are more than 8.
func logTicks(lo, hi float64) []float64 {
	if lo <= 0 || math.IsInf(lo, 0) || math.IsNaN(lo) {
		lo = hi / 10
	}
	if hi <= lo {
		hi = lo * 2
	}
	ticks := roundTicks(lo, hi, []float64{1, 2, 5})
	if len(ticks) < 4 {
		ticks = roundTicks(lo, hi, []float64{1, 1.5, 2, 3, 4, 5, 6, 8})
	}
	if len(ticks) <= 8 {
		return ticks
	}
	out := []float64{ticks[0]}
	for _, v := range ticks[1 : len(ticks)-1] {
		if e := math.Log10(v); math.Abs(e-math.Round(e)) < 1e-9 {
			out = append(out, v)
		}
	}
	return append(out, ticks[len(ticks)-1])
}

// roundTicks returns the values m×10^e (m from mantissas) from the largest
// one <= lo to the smallest one >= hi.
func roundTicks(lo, hi float64, mantissas []float64) []float64 {
	var all []float64
	for e := math.Floor(math.Log10(lo)) - 1; e <= math.Ceil(math.Log10(hi)); e++ {
		for _, m := range mantissas {
			all = append(all, roundSig(m*math.Pow(10, e)))
		}
	}
	i := 0
	for i+1 < len(all) && all[i+1] <= lo*(1+1e-9) {
		i++
	}
	j := len(all) - 1
	for j > i && all[j-1] >= hi*(1-1e-9) {
		j--
	}
	return all[i : j+1]
}

// roundSig removes floating-point noise from a 1-2-5 value.
func roundSig(v float64) float64 {
	scale := math.Pow(10, math.Floor(math.Log10(v))-3)
	return math.Round(v/scale) * scale
}
