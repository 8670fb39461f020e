package reports

import (
	"fmt"
	"html"
	"html/template"
	"math"
	"strconv"
	"strings"
)

// The charts are inline SVG drawn here, so a report is one file that opens
// anywhere (no scripts, no fonts, no network). Output is deterministic:
// the same summary gives the same bytes (golden-file tests).

const (
	chartW   = 720
	chartH   = 260
	marginL  = 64
	marginR  = 32
	marginT  = 40
	marginB  = 44
	plotW    = chartW - marginL - marginR
	plotH    = chartH - marginT - marginB
	fontAttr = `font-family="system-ui,-apple-system,Segoe UI,Roboto,sans-serif" font-size="11"`
)

// Palette (colour-blind friendly, Okabe-Ito).
const (
	colSuccess  = "#009E73"
	colRefused  = "#E69F00"
	colError    = "#D55E00"
	colDropped  = "#999999"
	colPlatform = "#0072B2"
	colBaseline = "#CC79A7"
	colClient   = "#56B4E9"
)

// point is one data point. A Partial point stands for an incomplete
// interval (a second only partly inside the measured span): it is drawn
// hollow and joined to its neighbours by a dashed segment.
type point struct {
	X, Y    float64
	Partial bool
}

type series struct {
	Name   string
	Color  string
	Points []point
	Dash   bool // drawn dashed (e.g. the older run of a comparison, or a p99 beside its p50)
}

// f formats a coordinate compactly and deterministically.
func f(v float64) string { return strconv.FormatFloat(math.Round(v*10)/10, 'f', -1, 64) }

// label formats a tick value.
func label(v float64) string {
	switch {
	case v == 0:
		return "0"
	case math.Abs(v) >= 100:
		return strconv.FormatFloat(v, 'f', 0, 64)
	case math.Abs(v) >= 1:
		return strconv.FormatFloat(v, 'f', -1, 64)
	default:
		return strconv.FormatFloat(v, 'g', 3, 64)
	}
}

// niceTicks returns about n round ticks from 0 to at least hi.
func niceTicks(hi float64, n int) []float64 {
	if hi <= 0 || math.IsNaN(hi) || math.IsInf(hi, 0) {
		hi = 1
	}
	raw := hi / float64(n)
	mag := math.Pow(10, math.Floor(math.Log10(raw)))
	step := mag
	for _, m := range []float64{1, 2, 2.5, 5, 10} {
		if m*mag >= raw {
			step = m * mag
			break
		}
	}
	var out []float64
	for v := 0.0; ; v += step {
		v = math.Round(v/step) * step
		out = append(out, v)
		if v >= hi {
			break
		}
	}
	return out
}

type frame struct {
	b          strings.Builder
	xMin, xMax float64
	yMin, yMax float64
	logX, logY bool // logarithmic axes (values <= 0 sit on the axis minimum)
}

func newFrame(title string, xMin, xMax, yMax float64) *frame {
	fr := &frame{xMin: xMin, xMax: xMax, yMax: yMax}
	fmt.Fprintf(&fr.b, `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 %d %d" width="100%%" role="img" aria-label="%s" %s>`,
		chartW, chartH, html.EscapeString(title), fontAttr)
	fmt.Fprintf(&fr.b, `<text x="%d" y="16" font-size="13" font-weight="600" fill="#222">%s</text>`, marginL, html.EscapeString(title))
	return fr
}

func (fr *frame) x(v float64) float64 {
	lo, hi := fr.xMin, fr.xMax
	if fr.logX {
		v, lo, hi = logOf(v, lo), math.Log10(lo), math.Log10(hi)
	}
	if hi == lo {
		return marginL
	}
	return marginL + (v-lo)/(hi-lo)*plotW
}

func (fr *frame) y(v float64) float64 {
	lo, hi := fr.yMin, fr.yMax
	if fr.logY {
		v, lo, hi = logOf(v, lo), math.Log10(lo), math.Log10(hi)
	}
	if hi == lo {
		return marginT + plotH
	}
	return marginT + plotH - (v-lo)/(hi-lo)*plotH
}

// logOf is log10(v) on an axis starting at lo (> 0): values below lo sit on it.
func logOf(v, lo float64) float64 { return math.Log10(math.Max(v, lo)) }

// axes draws the y grid with its ticks and the x ticks given as (value, label).
func (fr *frame) axes(yTicks []float64, yUnit string, xTicks []point, xLabels []string, xUnit string) {
	for _, t := range yTicks {
		y := f(fr.y(t))
		fmt.Fprintf(&fr.b, `<line x1="%d" y1="%s" x2="%d" y2="%s" stroke="#e5e5e5"/>`, marginL, y, marginL+plotW, y)
		fmt.Fprintf(&fr.b, `<text x="%d" y="%s" text-anchor="end" dominant-baseline="middle" fill="#555">%s</text>`, marginL-6, y, label(t))
	}
	fmt.Fprintf(&fr.b, `<text x="12" y="%d" transform="rotate(-90 12 %d)" text-anchor="middle" fill="#555">%s</text>`,
		marginT+plotH/2, marginT+plotH/2, html.EscapeString(yUnit))
	base := marginT + plotH
	fmt.Fprintf(&fr.b, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="#888"/>`, marginL, base, marginL+plotW, base)
	for i, t := range xTicks {
		x := f(fr.x(t.X))
		fmt.Fprintf(&fr.b, `<line x1="%s" y1="%d" x2="%s" y2="%d" stroke="#888"/>`, x, base, x, base+4)
		fmt.Fprintf(&fr.b, `<text x="%s" y="%d" text-anchor="middle" fill="#555">%s</text>`, x, base+16, html.EscapeString(xLabels[i]))
	}
	fmt.Fprintf(&fr.b, `<text x="%d" y="%d" text-anchor="middle" fill="#555">%s</text>`, marginL+plotW/2, chartH-6, html.EscapeString(xUnit))
}

// lines draws each series as a polyline through its whole points; a
// segment that touches a partial point is dashed and the partial point is a
// hollow circle. Points are marked when a series has few of them.
func (fr *frame) lines(ss []series) {
	for _, s := range ss {
		if len(s.Points) == 0 {
			continue
		}
		dash := ""
		if s.Dash {
			dash = ` stroke-dasharray="6 4"`
		}
		xy := func(p point) string { return f(fr.x(p.X)) + "," + f(fr.y(p.Y)) }
		var run []string // the current run of whole points
		flush := func() {
			if len(run) > 0 {
				fmt.Fprintf(&fr.b, `<polyline fill="none" stroke="%s" stroke-width="2"%s points="%s"><title>%s</title></polyline>`,
					s.Color, dash, strings.Join(run, " "), html.EscapeString(s.Name))
			}
			run = run[:0]
		}
		for i, p := range s.Points {
			if p.Partial {
				flush()
			} else {
				run = append(run, xy(p))
			}
			if i > 0 && (p.Partial || s.Points[i-1].Partial) {
				fmt.Fprintf(&fr.b, `<polyline fill="none" stroke="%s" stroke-width="1.5" stroke-dasharray="2 3" points="%s %s"><title>%s (partial second)</title></polyline>`,
					s.Color, xy(s.Points[i-1]), xy(p), html.EscapeString(s.Name))
			}
		}
		flush()
		for _, p := range s.Points {
			switch {
			case p.Partial:
				fmt.Fprintf(&fr.b, `<circle cx="%s" cy="%s" r="3.5" fill="#fff" stroke="%s" stroke-width="1.5"><title>%s: %s (partial second, scaled to a per-second rate)</title></circle>`,
					f(fr.x(p.X)), f(fr.y(p.Y)), s.Color, html.EscapeString(s.Name), label(math.Round(p.Y*10)/10))
			case len(s.Points) <= 16:
				fmt.Fprintf(&fr.b, `<circle cx="%s" cy="%s" r="2.5" fill="%s"/>`, f(fr.x(p.X)), f(fr.y(p.Y)), s.Color)
			}
		}
	}
	fr.legend(ss)
}

// legend names the series under the title; a dashed series gets a dashed key.
func (fr *frame) legend(ss []series) {
	x := marginL
	for _, s := range ss {
		if s.Dash {
			fmt.Fprintf(&fr.b, `<line x1="%d" y1="27" x2="%d" y2="27" stroke="%s" stroke-width="2" stroke-dasharray="3 2"/>`, x, x+10, s.Color)
		} else {
			fmt.Fprintf(&fr.b, `<rect x="%d" y="22" width="10" height="10" fill="%s"/>`, x, s.Color)
		}
		fmt.Fprintf(&fr.b, `<text x="%d" y="31" fill="#333">%s</text>`, x+14, html.EscapeString(s.Name))
		x += 24 + 7*len([]rune(s.Name))
	}
}

func (fr *frame) html() template.HTML {
	fr.b.WriteString(`</svg>`)
	return template.HTML(fr.b.String()) //nolint:gosec // built here with every text escaped
}

// nines maps a percentile to the x axis of a latency spectrum:
// log10(1/(1-q)), so 90, 99, 99.9 are evenly spaced.
func nines(q float64) float64 {
	if q >= 100 {
		return 5
	}
	return math.Log10(100 / (100 - q))
}

// spectrumPercentiles are the points of a latency spectrum.
var spectrumPercentiles = []float64{0, 25, 50, 75, 90, 95, 99, 99.5, 99.9, 99.95, 99.99}

// percentileChart draws latency (ms) against percentile on a nines scale.
func percentileChart(title string, ss []series) template.HTML {
	yMax := 0.0
	for _, s := range ss {
		for _, p := range s.Points {
			yMax = math.Max(yMax, p.Y)
		}
	}
	yt := niceTicks(yMax, 5)
	fr := newFrame(title, 0, nines(99.99), yt[len(yt)-1])
	var xt []point
	var xl []string
	for _, q := range []float64{0, 50, 90, 99, 99.9, 99.99} {
		xt = append(xt, point{X: nines(q)})
		xl = append(xl, label(q)+"%")
	}
	fr.axes(yt, "ms", xt, xl, "percentile")
	fr.lines(ss)
	return fr.html()
}

// timelineChart draws counts per second.
func timelineChart(title string, ss []series, seconds float64) template.HTML {
	yMax := 0.0
	for _, s := range ss {
		for _, p := range s.Points {
			yMax = math.Max(yMax, p.Y)
		}
	}
	yt := niceTicks(yMax, 5)
	xt := niceTicks(math.Max(seconds, 1), 6)
	fr := newFrame(title, 0, xt[len(xt)-1], yt[len(yt)-1])
	pts := make([]point, len(xt))
	labels := make([]string, len(xt))
	for i, t := range xt {
		pts[i], labels[i] = point{X: t}, label(t)
	}
	fr.axes(yt, "per second", pts, labels, "seconds since start")
	fr.lines(ss)
	return fr.html()
}

type bar struct {
	Label string
	Value float64
	Color string
	Note  string // after the value, e.g. "3 unexpected"
}

// barChart draws horizontal bars with their values, formatted with
// format (e.g. "%.2f ms").
func barChart(title, format string, bars []bar) template.HTML {
	const rowH, maxLabel = 22, 52
	longest := 0
	for _, br := range bars {
		longest = max(longest, min(len([]rune(br.Label)), maxLabel))
	}
	labelW := 20 + longest*7
	h := 28 + rowH*len(bars) + 8
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 %d %d" width="100%%" role="img" aria-label="%s" %s>`,
		chartW, h, html.EscapeString(title), fontAttr)
	fmt.Fprintf(&b, `<text x="4" y="16" font-size="13" font-weight="600" fill="#222">%s</text>`, html.EscapeString(title))
	maxV := 0.0
	for _, br := range bars {
		maxV = math.Max(maxV, br.Value)
	}
	if maxV == 0 {
		maxV = 1
	}
	width := float64(chartW - labelW - 230)
	for i, br := range bars {
		y := 28 + i*rowH
		w := br.Value / maxV * width
		short := br.Label
		if r := []rune(short); len(r) > maxLabel {
			short = string(r[:maxLabel-1]) + "…"
		}
		txt := fmt.Sprintf(format, br.Value)
		fmt.Fprintf(&b, `<text x="%d" y="%d" text-anchor="end" dominant-baseline="middle" fill="#333">%s</text>`,
			labelW-8, y+rowH/2-2, html.EscapeString(short))
		fmt.Fprintf(&b, `<rect x="%d" y="%d" width="%s" height="%d" fill="%s"><title>%s: %s</title></rect>`,
			labelW, y+2, f(math.Max(w, 1)), rowH-8, br.Color, html.EscapeString(br.Label), html.EscapeString(txt))
		if br.Note != "" {
			txt += " · " + br.Note
		}
		fmt.Fprintf(&b, `<text x="%s" y="%d" dominant-baseline="middle" fill="#333">%s</text>`,
			f(float64(labelW)+math.Max(w, 1)+6), y+rowH/2-2, html.EscapeString(txt))
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String()) //nolint:gosec // built here with every text escaped
}
