package reports

import (
	"fmt"
	"html/template"
	"io"
	"math"

	"github.com/certlab/certlab/loadgen/result"
)

// HTMLOptions add optional parts to the HTML report.
type HTMLOptions struct {
	Title      string      // default "certlab login load report"
	Checks     []Check     // threshold results, shown with a verdict
	Comparison *Comparison // a comparison with an older run
}

type htmlServer struct {
	S         *result.ServerSummary
	Headline  [][2]string
	Latency   []htmlLatency
	Timeline  template.HTML
	Breakdown template.HTML
}

type htmlLatency struct {
	Metric string
	L      result.LatencyStats
}

type htmlData struct {
	Title      string
	Settings   [][2]string
	Servers    []htmlServer
	Ratio      float64
	RatioOf    string // the server under test of Ratio: platform or target
	Checks     []Check
	Failed     int
	Comparison *Comparison
	Spectrum   template.HTML
	Phases     template.HTML
	CPU        template.HTML
}

// HTML writes a self-contained HTML report: inline CSS and SVG charts
// (latency percentiles, phase latencies, throughput over time, outcome and
// refusal breakdown, CPU per login on both sides), the run settings and the
// platform (or target) / baseline ratio when the run had a baseline.
func HTML(s *result.Summary, o HTMLOptions) Reporter {
	return func(w io.Writer) error {
		d, err := htmlModel(s, o)
		if err != nil {
			return err
		}
		if err := htmlTemplate.Execute(w, d); err != nil {
			return fmt.Errorf("html report: %w", err)
		}
		return nil
	}
}

func htmlModel(s *result.Summary, o HTMLOptions) (*htmlData, error) {
	d := &htmlData{Title: o.Title, Settings: settings(s), Ratio: s.BaselineRatio, Checks: o.Checks,
		Failed: Failed(o.Checks), Comparison: o.Comparison}
	if d.Title == "" {
		d.Title = "certlab login load report"
	}
	if u := s.UnderTest(); u != nil {
		d.RatioOf = u.Server
	}
	var spectrum []series
	var phaseBars, cpuBars []bar
	for i := range s.Servers {
		ss := &s.Servers[i]
		hs := htmlServer{S: ss, Headline: headline(ss)}
		for _, m := range result.Metrics {
			if l, ok := ss.Latency[m]; ok {
				hs.Latency = append(hs.Latency, htmlLatency{m, l})
			}
		}
		color := serverColor(ss.Server)
		h, err := ss.Histogram(result.MetricTotal)
		if err != nil {
			return nil, fmt.Errorf("html report: %w", err)
		}
		if h != nil {
			sr := series{Name: ss.Server, Color: color}
			for _, q := range spectrumPercentiles {
				sr.Points = append(sr.Points, point{X: nines(q), Y: float64(h.ValueAtQuantile(q)) / 1000})
			}
			spectrum = append(spectrum, sr)
		}
		for _, m := range []string{result.MetricTCP, result.MetricTLS, result.MetricConnack} {
			if l, ok := ss.Latency[m]; ok {
				phaseBars = append(phaseBars,
					bar{Label: fmt.Sprintf("%s %s p50", ss.Server, phaseName(ss.Server, m)), Value: ms(l.P50), Color: color},
					bar{Label: fmt.Sprintf("%s %s p99", ss.Server, phaseName(ss.Server, m)), Value: ms(l.P99), Color: lighter(color)})
			}
		}
		if ss.ServerCPU != nil {
			cpuBars = append(cpuBars, bar{Label: ss.Server + " server", Value: ss.ServerCPU.PerAttemptUs, Color: color,
				Note: fmt.Sprintf("%.0f µs per success", ss.ServerCPU.PerSuccessUs)})
		}
		cpuBars = append(cpuBars, bar{Label: ss.Server + " run: load generator", Value: ss.ClientCPU.PerAttemptUs, Color: colClient,
			Note: fmt.Sprintf("%.0f µs per success", ss.ClientCPU.PerSuccessUs)})
		if f := ss.ClientFloor; f != nil {
			cpuBars = append(cpuBars, bar{Label: ss.Server + " run: client crypto floor", Value: f.Us, Color: lighter(colClient),
				Note: fmt.Sprintf("generator = %.2f× floor", f.Ratio)})
		}

		if len(ss.Timeline) > 0 {
			t0 := ss.Timeline[0].Unix
			if !ss.Start.IsZero() && ss.Start.Unix() < t0 {
				t0 = ss.Start.Unix()
			}
			var ok, ref, er, dr series
			ok = series{Name: "success", Color: colSuccess}
			ref = series{Name: "refused", Color: colRefused}
			er = series{Name: "errors", Color: colError}
			dr = series{Name: "dropped", Color: colDropped}
			for _, b := range ss.Timeline {
				x := float64(b.Unix - t0)
				ok.Points = append(ok.Points, point{x, float64(b.Success)})
				ref.Points = append(ref.Points, point{x, float64(b.Refused)})
				er.Points = append(er.Points, point{x, float64(b.Errors)})
				dr.Points = append(dr.Points, point{x, float64(b.Dropped)})
			}
			lines := []series{ok}
			if ss.Refused > 0 {
				lines = append(lines, ref)
			}
			if ss.Errors > 0 {
				lines = append(lines, er)
			}
			if ss.Dropped > 0 {
				lines = append(lines, dr)
			}
			last := float64(ss.Timeline[len(ss.Timeline)-1].Unix - t0)
			hs.Timeline = timelineChart(fmt.Sprintf("Attempts ending per second: %s", ss.Server), lines, math.Max(last, ss.DurationS))
		}
		var bb []bar
		for _, r := range ss.Breakdown {
			note := ""
			if r.Unexpected > 0 {
				note = fmt.Sprintf("%d unexpected", r.Unexpected)
			}
			bb = append(bb, bar{Label: breakdownLabel(r), Value: float64(r.Count), Color: outcomeColor(r.Outcome), Note: note})
		}
		if len(bb) > 0 {
			hs.Breakdown = barChart(fmt.Sprintf("Outcomes and refusal reasons: %s", ss.Server), "%.0f attempts", bb)
		}
		d.Servers = append(d.Servers, hs)
	}
	if len(spectrum) > 0 {
		d.Spectrum = percentileChart("Login latency by percentile (scheduled → server verdict, successes)", spectrum)
	}
	if len(phaseBars) > 0 {
		d.Phases = barChart("Phase latency (successes)", "%.2f ms", phaseBars)
	}
	if len(cpuBars) > 0 {
		d.CPU = barChart("CPU per login attempt", "%.0f µs", cpuBars)
	}
	return d, nil
}

func phaseName(server, metric string) string {
	switch metric {
	case result.MetricTCP:
		return "TCP connect"
	case result.MetricTLS:
		return "TLS handshake"
	case result.MetricConnack:
		if server == result.ServerBaseline {
			return "echo"
		}
		return "CONNECT→CONNACK"
	}
	return metric
}

func serverColor(server string) string {
	if server == result.ServerBaseline {
		return colBaseline
	}
	return colPlatform
}

// lighter blends a #rrggbb colour halfway to white.
func lighter(c string) string {
	var r, g, b int
	if _, err := fmt.Sscanf(c, "#%02x%02x%02x", &r, &g, &b); err != nil {
		return c
	}
	return fmt.Sprintf("#%02x%02x%02x", (r+255)/2, (g+255)/2, (b+255)/2)
}

func outcomeColor(o result.Outcome) string {
	switch o {
	case result.OutcomeSuccess:
		return colSuccess
	case result.OutcomeRefused:
		return colRefused
	case result.OutcomeDropped:
		return colDropped
	}
	return colError
}

var htmlTemplate = template.Must(template.New("report").Funcs(template.FuncMap{
	"ms":     func(us int64) string { return fmt.Sprintf("%.2f", float64(us)/1000) },
	"num":    num,
	"plural": plural,
	"pct":    func(v float64) string { return fmt.Sprintf("%+.1f%%", v*100) },
}).Parse(`<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{.Title}}</title>
<style>
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;color:#222;background:#fafafa}
main{max-width:980px;margin:0 auto;padding:24px}
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 8px;border-bottom:1px solid #ddd;padding-bottom:4px}
h3{font-size:15px;margin:18px 0 6px}
table{border-collapse:collapse;margin:6px 0 12px;font-size:13px}
th,td{padding:4px 10px;border-bottom:1px solid #eee;text-align:left}
td.n,th.n{text-align:right;font-variant-numeric:tabular-nums}
.cards{display:flex;flex-wrap:wrap;gap:10px;margin:8px 0}
.card{background:#fff;border:1px solid #e3e3e3;border-radius:6px;padding:10px 14px;min-width:140px}
.card b{display:block;font-size:20px}.card span{font-size:12px;color:#666}
.verdict{padding:10px 14px;border-radius:6px;font-weight:600;margin:12px 0}
.pass{background:#e6f4ea;color:#1e6b34}.fail{background:#fdecea;color:#a12a1a}
.bad{color:#a12a1a;font-weight:600}
.chart{background:#fff;border:1px solid #e3e3e3;border-radius:6px;padding:8px;margin:10px 0}
.note{color:#666;font-size:12px}
</style>
</head>
<body>
<main>
<h1>{{.Title}}</h1>
<p class="note">Server-confirmed logins only (CONNACK 0x00, or the baseline's echoed byte). Latency runs from each attempt's scheduled time. Warm-up excluded.</p>
{{if .Checks}}<div class="verdict {{if .Failed}}fail{{else}}pass{{end}}">{{if .Failed}}{{.Failed}} of {{len .Checks}} checks failed{{else}}All {{len .Checks}} checks passed{{end}}{{with .Comparison}}{{if .Regressions}}; {{plural .Regressions "regression"}} against the previous run{{end}}{{end}}</div>{{end}}

<h2>Run</h2>
<table>{{range .Settings}}<tr><th>{{index . 0}}</th><td>{{index . 1}}</td></tr>{{end}}</table>

{{range .Servers}}<h2>{{.S.Server}}</h2>
<div class="cards">
<div class="card"><b>{{printf "%.1f" .S.SuccessRate}}</b><span>logins/s</span></div>
<div class="card"><b>{{ms (index .S.Latency "total").P50}} ms</b><span>p50 latency</span></div>
<div class="card"><b>{{ms (index .S.Latency "total").P99}} ms</b><span>p99 latency</span></div>
<div class="card"><b>{{.S.Success}} / {{.S.Attempts}}</b><span>success / attempts</span></div>
<div class="card"><b{{if .S.Unexpected}} class="bad"{{end}}>{{.S.Unexpected}}</b><span>unexpected outcomes</span></div>
<div class="card"><b>{{printf "%.0f" .S.ClientCPU.PerAttemptUs}} µs</b><span>generator CPU per login</span></div>
<div class="card"><b>{{with .S.ServerCPU}}{{printf "%.0f" .PerAttemptUs}} µs{{else}}n/a{{end}}</b><span>server CPU per login</span></div>
</div>
<table>{{range .Headline}}<tr><th>{{index . 0}}</th><td>{{index . 1}}</td></tr>{{end}}</table>
<table><tr><th>latency (ms)</th><th class="n">count</th><th class="n">p50</th><th class="n">p90</th><th class="n">p99</th><th class="n">p99.9</th><th class="n">max</th></tr>
{{range .Latency}}<tr><td>{{.Metric}}</td><td class="n">{{.L.Count}}</td><td class="n">{{ms .L.P50}}</td><td class="n">{{ms .L.P90}}</td><td class="n">{{ms .L.P99}}</td><td class="n">{{ms .L.P999}}</td><td class="n">{{ms .L.Max}}</td></tr>
{{end}}</table>
{{with .Timeline}}<div class="chart">{{.}}</div>{{end}}
{{with .Breakdown}}<div class="chart">{{.}}</div>{{end}}
{{if .S.Identities}}<table><tr><th>identity</th><th>expected</th><th class="n">attempts</th><th class="n">as expected</th></tr>
{{range .S.Identities}}<tr><td>{{.Identity}}</td><td>{{.Expected}}{{with .Reason}} ({{.}}){{end}}</td><td class="n">{{.Attempts}}</td><td class="n{{if ne .Attempts .AsExpected}} bad{{end}}">{{.AsExpected}}</td></tr>
{{end}}</table>{{end}}
{{end}}
<h2>Latency and CPU</h2>
{{with .Spectrum}}<div class="chart">{{.}}</div>{{end}}
{{with .Phases}}<div class="chart">{{.}}</div>{{end}}
{{with .CPU}}<div class="chart">{{.}}</div>{{end}}
{{if .Ratio}}<p>Server CPU per login, {{.RatioOf}} / bare crypto/tls baseline (same certificates, same client CA pool, same run): <b>{{printf "%.2f" .Ratio}}×</b></p>{{end}}

{{if .Checks}}<h2>Checks</h2>
<table><tr><th>check</th><th>server</th><th class="n">value</th><th class="n">limit</th><th>result</th></tr>
{{range .Checks}}<tr><td>{{.Name}}</td><td>{{.Server}}</td><td class="n">{{num .Value .Unit}}</td><td class="n">{{num .Limit .Unit}}</td><td{{if not .Pass}} class="bad"{{end}}>{{if .Pass}}pass{{else}}FAIL{{end}}</td></tr>
{{end}}</table>{{end}}

{{with .Comparison}}<h2>Against the previous run</h2>
{{with .Differences}}<p class="note">Settings differ: {{range $i, $d := .}}{{if $i}}; {{end}}{{$d}}{{end}}</p>{{end}}
<table><tr><th>server</th><th>metric</th><th class="n">old</th><th class="n">new</th><th class="n">change</th></tr>
{{range .Rows}}<tr><td>{{.Server}}</td><td>{{.Metric}}</td><td class="n">{{num .Old .Unit}}</td><td class="n">{{num .New .Unit}}</td><td class="n{{if .Regressed}} bad{{end}}">{{pct .Change}}{{if .Regressed}} regression{{end}}</td></tr>
{{end}}</table>{{end}}
<p class="note">Generated by certlab report from saved results.</p>
</main>
</body>
</html>
`))
