package reports

// storm.go: how a reconnect storm (loadgen's storm mode, result.StormSummary)
// is rendered: its figures in text and Markdown, an HTML section with its
// time series (devices connected, attempts per second by outcome, CPU,
// handshake and CONNACK latency) with the outage marked, the thresholds on
// time to 99% and devices that never came back, and the rows a comparison of
// two storms adds.

import (
	"fmt"
	"html"
	"html/template"
	"io"
	"math"
	"strings"

	"github.com/certlab/certlab/loadgen/result"
)

// stormServer is the Server label of the storm's checks and comparison rows.
const stormServer = "storm"

// Storm chart colours (Okabe-Ito, as the rest).
const (
	colOutage   = "#D55E00"
	colCapacity = "#555555"
	colStarted  = "#0072B2"
)

// secs formats an optional time in seconds.
func secs(v *float64) string {
	if v == nil {
		return "never"
	}
	return fmt.Sprintf("%.1f s", *v)
}

// stormFacts are the storm's figures as label/value pairs (text, HTML).
func stormFacts(st *result.StormSummary) [][2]string {
	outage := st.Outage
	switch st.Outage {
	case "kill", "restart":
		outage = fmt.Sprintf("%s of the platform at %s", st.Outage, st.OutageAt.UTC().Format("15:04:05.000Z"))
		if len(st.Shards) > 0 && st.Shards[0].DownS > 0 {
			outage += fmt.Sprintf(", kept down %gs", st.Shards[0].DownS)
		}
		if !st.ServerBackAt.IsZero() {
			outage += fmt.Sprintf(", ready again after %.2fs", st.ServerBackAt.Sub(st.OutageAt).Seconds())
		}
	default:
		outage = fmt.Sprintf("%s: every session reset at %s", st.Outage, st.OutageAt.UTC().Format("15:04:05.000Z"))
	}
	out := [][2]string{
		{"outage", outage},
		{"policy", fmt.Sprintf("%s (%s)", st.Policy, st.PolicyParams)},
		{"devices", fmt.Sprintf("%d held at the outage, %d back, %d never returned (of %d)", st.Held, st.Returned, st.NeverReturned, st.Devices)},
		{"time to", fmt.Sprintf("50%% %s · 90%% %s · 99%% %s · 100%% %s (from the outage, to the %d ms bucket)",
			secs(st.TimeTo50S), secs(st.TimeTo90S), secs(st.TimeTo99S), secs(st.TimeTo100S), st.BucketMs)},
	}
	herd := fmt.Sprintf("peak %.0f attempts/s (the busiest second began %.1fs after the outage)", st.PeakAttemptRate, st.PeakAtS)
	if st.Capacity > 0 {
		herd += fmt.Sprintf(" against a steady capacity of %.0f logins/s: herd factor %.1f×", st.Capacity, st.HerdFactor)
	} else {
		herd += "; capacity not measured, no herd factor"
	}
	out = append(out, [2]string{"herd", herd})
	out = append(out, [2]string{"attempts", fmt.Sprintf("%d after the outage: %d sessions%s%s", st.Attempts, st.Succeeded,
		countsText("; refused", st.Refused), countsText("; failed", st.Failed))})
	out = append(out, [2]string{"wasted", fmt.Sprintf("%d attempts ended without a session; %d of them were handshakes the server worked on (the rest never reached its TLS)",
		st.WastedAttempts, st.WastedHandshakes)})
	cpu := fmt.Sprintf("generator %.2f s", st.ClientCPUS)
	if st.ServerCPUOK {
		cpu += fmt.Sprintf(", server %.2f s", st.ServerCPUS)
		if st.Returned > 0 {
			cpu += fmt.Sprintf(" (%.0f µs of server CPU per returned device)", st.ServerCPUS*1e6/float64(st.Returned))
		}
	} else {
		cpu += ", server not measured"
	}
	out = append(out, [2]string{"CPU after outage", cpu})
	if len(st.Shards) == 1 && st.Shards[0].ServerLogins != nil {
		lc := st.Shards[0].ServerLogins
		verdict := "agree"
		if !lc.Agree() {
			verdict = "DIFFER"
		}
		if n := lc.Uncertain(); n > 0 {
			verdict += fmt.Sprintf(" (within %d attempts that met the platform stopping: resets of its queued connections, which no process counts, or logins a stopping process served after its counters were read)", n)
		}
		out = append(out, [2]string{"platform counted", fmt.Sprintf("%.0f sessions, %.0f server_busy, %.0f other refusals; the generator saw %d, %d, %d (and %d errors the platform may not see): %s",
			lc.PlatformSuccess, lc.PlatformBusy, lc.PlatformOtherRefused, lc.Success, lc.Busy, lc.OtherRefused, lc.Errors, verdict)})
	}
	for _, sh := range st.Shards {
		for _, n := range []string{sh.Note, sh.CapacityNote} {
			if n != "" {
				out = append(out, [2]string{"note", n})
			}
		}
	}
	return out
}

// countsText renders "label: a 3, b 2" (nothing for an empty map).
func countsText(label string, m map[string]int64) string {
	if len(m) == 0 {
		return ""
	}
	var parts []string
	for _, k := range result.SortedCounts(m) {
		parts = append(parts, fmt.Sprintf("%s %d", k, m[k]))
	}
	return label + ": " + strings.Join(parts, ", ")
}

// stormText writes the storm's figures under the text summary.
func stormText(w io.Writer, st *result.StormSummary) {
	fmt.Fprintf(w, "\nRECONNECT STORM\n")
	for _, kv := range stormFacts(st) {
		fmt.Fprintf(w, "  %-17s %s\n", kv[0], kv[1])
	}
}

// stormMarkdown writes the storm's figures for a CI comment.
func stormMarkdown(b *strings.Builder, st *result.StormSummary) {
	b.WriteString("\n### Reconnect storm\n\n| | |\n|---|---|\n")
	fmt.Fprintf(b, "| time to 99%% | **%s** |\n| never returned | **%d** of %d |\n", secs(st.TimeTo99S), st.NeverReturned, st.Held)
	for _, kv := range stormFacts(st) {
		fmt.Fprintf(b, "| %s | %s |\n", kv[0], mdEscape(kv[1]))
	}
}

// ---- thresholds ----

// evaluateStorm applies the storm thresholds. A storm threshold on results
// without a storm fails: it has nothing to measure.
func evaluateStorm(s *result.Summary, th Thresholds) []Check {
	if th.MaxTimeTo99 <= 0 && th.MaxNeverReturned == nil {
		return nil
	}
	st := s.Storm
	var out []Check
	if th.MaxTimeTo99 > 0 {
		limit := th.MaxTimeTo99.Seconds()
		c := Check{Name: "time to 99%", Server: stormServer, Limit: limit, Unit: "s"}
		switch {
		case st == nil:
			c.Message = "no reconnect storm in these results"
		case st.TimeTo99S == nil:
			c.Message = fmt.Sprintf("99%% of the %d held devices never came back (%d did)", st.Held, st.Returned)
		default:
			c.Value, c.Pass = *st.TimeTo99S, *st.TimeTo99S <= limit
			c.Message = fmt.Sprintf("99%% of the devices back %.2f s after the outage, limit %.2f s", *st.TimeTo99S, limit)
		}
		out = append(out, c)
	}
	if th.MaxNeverReturned != nil {
		limit := *th.MaxNeverReturned
		c := Check{Name: "never returned", Server: stormServer, Limit: float64(limit), Unit: "devices"}
		if st == nil {
			c.Message = "no reconnect storm in these results"
		} else {
			c.Value, c.Pass = float64(st.NeverReturned), st.NeverReturned <= limit && st.Held > 0
			c.Message = fmt.Sprintf("%d of %d held devices never came back before the deadline, limit %d", st.NeverReturned, st.Held, limit)
		}
		out = append(out, c)
	}
	return out
}

// ---- comparison ----

// compareStorm compares two storms: how fast the devices came back, the
// herd, the waste and the server's CPU. Lower is better for all of them.
func compareStorm(old, cur *result.Summary, maxRegression float64) ([]ComparisonRow, []string) {
	a, b := old.Storm, cur.Storm
	if a == nil || b == nil {
		return nil, nil
	}
	var rows []ComparisonRow
	var diffs []string
	add := func(metric, unit string, o, n float64) {
		r := ComparisonRow{Server: stormServer, Metric: metric, Unit: unit, Old: o, New: n}
		switch {
		case o > 0:
			r.Change = n/o - 1
		case n > 0:
			r.Change = 1 // from none to some: shown as +100%
		}
		r.Regressed = maxRegression > 0 && r.Change > maxRegression
		rows = append(rows, r)
	}
	for _, tt := range []struct {
		name   string
		o, n   *float64
		always bool
	}{
		{"time to 50%", a.TimeTo50S, b.TimeTo50S, false},
		{"time to 90%", a.TimeTo90S, b.TimeTo90S, false},
		{"time to 99%", a.TimeTo99S, b.TimeTo99S, true},
		{"time to 100%", a.TimeTo100S, b.TimeTo100S, false},
	} {
		switch {
		case tt.o != nil && tt.n != nil:
			add(tt.name, "s", *tt.o, *tt.n)
		case tt.o != nil || tt.n != nil:
			d := fmt.Sprintf("%s: %s -> %s", tt.name, secs(tt.o), secs(tt.n))
			diffs = append(diffs, d)
			if tt.always && tt.n == nil { // reached before, never now: a regression whatever the limit
				rows = append(rows, ComparisonRow{Server: stormServer, Metric: tt.name + " (never reached)", Unit: "s",
					Old: *tt.o, New: 0, Change: 1, Regressed: true})
			}
		}
	}
	add("never returned", "devices", float64(a.NeverReturned), float64(b.NeverReturned))
	if b.NeverReturned > a.NeverReturned {
		rows[len(rows)-1].Regressed = true // any device more that never came back
	}
	add("peak attempt rate", "attempts/s", a.PeakAttemptRate, b.PeakAttemptRate)
	if a.HerdFactor > 0 && b.HerdFactor > 0 {
		add("herd factor", "×", a.HerdFactor, b.HerdFactor)
	}
	add("wasted handshakes", "handshakes", float64(a.WastedHandshakes), float64(b.WastedHandshakes))
	add("wasted attempts", "attempts", float64(a.WastedAttempts), float64(b.WastedAttempts))
	if a.ServerCPUOK && b.ServerCPUOK {
		add("server CPU after the outage", "s", a.ServerCPUS, b.ServerCPUS)
	}
	diff := func(name string, x, y any) {
		if fmt.Sprint(x) != fmt.Sprint(y) {
			diffs = append(diffs, fmt.Sprintf("%s: %v -> %v", name, x, y))
		}
	}
	diff("policy", a.Policy+" ("+a.PolicyParams+")", b.Policy+" ("+b.PolicyParams+")")
	diff("outage", a.Outage, b.Outage)
	diff("held devices", a.Held, b.Held)
	return rows, diffs
}

// ---- HTML ----

// stormHTML is the HTML section of a storm: its cards, facts and charts.
func stormHTML(st *result.StormSummary) template.HTML {
	if st == nil || len(st.Buckets) == 0 {
		return ""
	}
	var b strings.Builder
	b.WriteString(`<h2>Reconnect storm</h2>`)
	b.WriteString(`<div class="cards">`)
	card := func(value, label string, bad bool) {
		cls := ""
		if bad {
			cls = ` class="bad"`
		}
		fmt.Fprintf(&b, `<div class="card"><b%s>%s</b><span>%s</span></div>`, cls, html.EscapeString(value), html.EscapeString(label))
	}
	card(secs(st.TimeTo99S), "time to 99% reconnected", st.TimeTo99S == nil)
	card(secs(st.TimeTo100S), "time to 100%", st.TimeTo100S == nil)
	card(fmt.Sprintf("%d", st.NeverReturned), "never returned", st.NeverReturned > 0)
	if st.HerdFactor > 0 {
		card(fmt.Sprintf("%.1f×", st.HerdFactor), "herd factor (peak / capacity)", false)
	}
	card(fmt.Sprintf("%.0f/s", st.PeakAttemptRate), "peak attempt rate", false)
	card(fmt.Sprintf("%d", st.WastedHandshakes), "wasted handshakes", false)
	b.WriteString(`</div><table>`)
	for _, kv := range stormFacts(st) {
		fmt.Fprintf(&b, `<tr><th>%s</th><td>%s</td></tr>`, html.EscapeString(kv[0]), html.EscapeString(kv[1]))
	}
	b.WriteString(`</table>`)
	b.WriteString(`<p class="note">Time runs from the outage (0 s); the shaded band is the outage (until the platform was ready again). `)
	b.WriteString(`Counts are per 100 ms bucket, shown per second; attempts are counted when they started, outcomes when they ended.</p>`)
	for _, chart := range []template.HTML{stormConnected(st), stormAttempts(st), stormCPU(st), stormLatency(st)} {
		if chart != "" {
			fmt.Fprintf(&b, `<div class="chart">%s</div>`, chart)
		}
	}
	return template.HTML(b.String()) //nolint:gosec // built here with every text escaped
}

// stormAxis is the time axis of the storm charts: seconds from the outage.
type stormAxis struct {
	outage   int64 // Unix ms
	lo, hi   float64
	back     float64 // the platform ready again (0: no band)
	perSec   float64 // buckets per second
	xt       []point
	xl       []string
	bucketMs int64
}

func newStormAxis(st *result.StormSummary) stormAxis {
	ax := stormAxis{outage: st.OutageAt.UnixMilli(), bucketMs: int64(st.BucketMs), perSec: 1000 / float64(st.BucketMs)}
	first, last := st.Buckets[0].T, st.Buckets[len(st.Buckets)-1].T+int64(st.BucketMs)
	ax.lo, ax.hi = float64(first-ax.outage)/1000, float64(last-ax.outage)/1000
	if !st.ServerBackAt.IsZero() {
		ax.back = st.ServerBackAt.Sub(st.OutageAt).Seconds()
	}
	for _, t := range rangeTicks(ax.lo, ax.hi, 8) {
		ax.xt = append(ax.xt, point{X: t})
		ax.xl = append(ax.xl, label(t))
	}
	return ax
}

// x is a bucket's position: its end, in seconds from the outage.
func (ax stormAxis) x(p result.StormPoint) float64 {
	return float64(p.T+ax.bucketMs-ax.outage) / 1000
}

// rangeTicks returns about n round ticks covering [lo, hi].
func rangeTicks(lo, hi float64, n int) []float64 {
	if hi <= lo {
		hi = lo + 1
	}
	raw := (hi - lo) / float64(n)
	mag := math.Pow(10, math.Floor(math.Log10(raw)))
	step := mag
	for _, m := range []float64{1, 2, 2.5, 5, 10} {
		if m*mag >= raw {
			step = m * mag
			break
		}
	}
	var out []float64
	for v := math.Ceil(lo/step) * step; v <= hi+step/1e6; v += step {
		out = append(out, math.Round(v/step)*step)
	}
	return out
}

// stormChart draws series over the storm's time axis with the outage marked.
func stormChart(title, yUnit string, ax stormAxis, ss []series, hlines []hline) template.HTML {
	yMax := 0.0
	for _, s := range ss {
		for _, p := range s.Points {
			yMax = math.Max(yMax, p.Y)
		}
	}
	for _, h := range hlines {
		yMax = math.Max(yMax, h.Y)
	}
	yt := niceTicks(yMax, 5)
	fr := newFrame(title, ax.lo, ax.hi, yt[len(yt)-1])
	fr.outageBand(ax)
	fr.axes(yt, yUnit, ax.xt, ax.xl, "seconds from the outage")
	for _, h := range hlines {
		y := f(fr.y(h.Y))
		fmt.Fprintf(&fr.b, `<line x1="%d" y1="%s" x2="%d" y2="%s" stroke="%s" stroke-dasharray="5 4"/>`, marginL, y, marginL+plotW, y, h.Color)
		fmt.Fprintf(&fr.b, `<text x="%d" y="%s" text-anchor="end" fill="%s">%s</text>`, marginL+plotW-4, f(fr.y(h.Y)-4), h.Color, html.EscapeString(h.Label))
	}
	fr.lines(ss)
	return fr.html()
}

// hline is a horizontal reference line (the steady capacity).
type hline struct {
	Y     float64
	Label string
	Color string
}

// outageBand shades the outage (to the platform's return) and marks its start.
func (fr *frame) outageBand(ax stormAxis) {
	x0 := fr.x(0)
	if ax.back > 0 {
		fmt.Fprintf(&fr.b, `<rect x="%s" y="%d" width="%s" height="%d" fill="%s" fill-opacity="0.12"><title>platform down</title></rect>`,
			f(x0), marginT, f(math.Max(fr.x(ax.back)-x0, 1)), plotH, colOutage)
	}
	fmt.Fprintf(&fr.b, `<line x1="%s" y1="%d" x2="%s" y2="%d" stroke="%s" stroke-width="1.5"/>`, f(x0), marginT, f(x0), marginT+plotH, colOutage)
	fmt.Fprintf(&fr.b, `<text x="%s" y="%d" fill="%s">outage</text>`, f(x0+4), marginT+12, colOutage)
}

func stormConnected(st *result.StormSummary) template.HTML {
	ax := newStormAxis(st)
	s := series{Name: "devices connected", Color: colPlatform}
	for _, p := range st.Buckets {
		s.Points = append(s.Points, point{X: ax.x(p), Y: float64(p.Connected)})
	}
	return stormChart("Devices connected", "devices", ax, []series{s}, []hline{{float64(st.Held), fmt.Sprintf("%d held at the outage", st.Held), colCapacity}})
}

func stormAttempts(st *result.StormSummary) template.HTML {
	ax := newStormAxis(st)
	started := series{Name: "attempts started", Color: colStarted}
	ok := series{Name: "sessions", Color: colSuccess}
	ref := series{Name: "refused", Color: colRefused}
	fail := series{Name: "failed", Color: colError}
	for _, p := range st.Buckets {
		x := ax.x(p)
		started.Points = append(started.Points, point{X: x, Y: float64(p.Started) * ax.perSec})
		ok.Points = append(ok.Points, point{X: x, Y: float64(p.Succeeded) * ax.perSec})
		ref.Points = append(ref.Points, point{X: x, Y: float64(p.RefusedTotal()) * ax.perSec})
		fail.Points = append(fail.Points, point{X: x, Y: float64(p.FailedTotal()) * ax.perSec})
	}
	var hl []hline
	if st.Capacity > 0 {
		hl = append(hl, hline{st.Capacity, fmt.Sprintf("steady capacity %.0f logins/s", st.Capacity), colCapacity})
	}
	return stormChart("Login attempts per second, by outcome", "per second", ax, []series{started, ok, ref, fail}, hl)
}

func stormCPU(st *result.StormSummary) template.HTML {
	ax := newStormAxis(st)
	gen := series{Name: "generator", Color: colClient}
	srv := series{Name: "server", Color: colPlatform}
	for _, p := range st.Buckets {
		x := ax.x(p)
		gen.Points = append(gen.Points, point{X: x, Y: p.ClientCPUS * ax.perSec})
		if p.ServerCPUOK {
			srv.Points = append(srv.Points, point{X: x, Y: p.ServerCPUS * ax.perSec})
		}
	}
	ss := []series{gen}
	if len(srv.Points) > 0 {
		ss = append([]series{srv}, ss...)
	}
	return stormChart("CPU (cores busy)", "cores", ax, ss, nil)
}

func stormLatency(st *result.StormSummary) template.HTML {
	ax := newStormAxis(st)
	mk := func(name, color string, v func(result.StormPoint) int64) series {
		s := series{Name: name, Color: color}
		for _, p := range st.Buckets {
			if p.Succeeded > 0 {
				s.Points = append(s.Points, point{X: ax.x(p), Y: float64(v(p)) / 1000})
			}
		}
		return s
	}
	ss := []series{
		mk("TLS p50", colPlatform, func(p result.StormPoint) int64 { return p.TLSP50Us }),
		mk("TLS p99", lighter(colPlatform), func(p result.StormPoint) int64 { return p.TLSP99Us }),
		mk("CONNACK p50", colSuccess, func(p result.StormPoint) int64 { return p.ConnackP50Us }),
		mk("CONNACK p99", lighter(colSuccess), func(p result.StormPoint) int64 { return p.ConnackP99Us }),
	}
	if len(ss[0].Points) == 0 {
		return ""
	}
	return stormChart("Handshake and CONNACK latency of the logins that succeeded", "ms", ax, ss, nil)
}
