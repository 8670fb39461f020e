package reports

import (
	"fmt"
	"html/template"
	"io"
	"strings"
	"time"

	"github.com/certlab/certlab/loadgen/result"
)

// HTMLOptions add optional parts to the HTML report.
type HTMLOptions struct {
	Title      string      // default "certlab login load report" ("certlab run report" with BDD or Fleet)
	Checks     []Check     // threshold results, shown with a verdict
	Comparison *Comparison // a comparison with an older run
	// Previous is the older run of Comparison: its rate and latency over
	// time are overlaid on this run's, both aligned on their start.
	Previous *result.Summary
	BDD      *BDD   // the Gherkin suite run of the same session, shown first
	Fleet    *Fleet // the device fleet run of the same session
}

type htmlServer struct {
	S         *result.ServerSummary
	Headline  [][2]string
	Latency   []htmlLatency
	Time      serverTimeCharts
	Histogram template.HTML
	Breakdown template.HTML
	Outcomes  []htmlOutcome
}

// htmlOutcome is one row of a server's outcome table.
type htmlOutcome struct {
	R       result.BreakdownRow
	Meaning string
}

// glance is one card of the page's summary of every part of the run.
type glance struct {
	Part, Value, Detail string
	Bad                 bool
}

// htmlCompareCharts are one server's time charts overlaid with the older run's.
type htmlCompareCharts struct {
	Rate, Latency template.HTML
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

	Glance        []glance
	BDD           *BDD
	Fleet         *Fleet
	FleetReasons  []reasonCount
	CompareCharts []htmlCompareCharts
	Storm         template.HTML // storm.go
	Flood         template.HTML // flood.go
	Bench         *result.Bench
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
	d := &htmlData{Title: o.Title, Settings: settings(s), Ratio: s.BaselineRatio, Checks: o.Checks, Bench: s.Bench,
		Failed: Failed(o.Checks), Comparison: o.Comparison}
	if d.Title == "" {
		d.Title = "certlab login load report"
		if o.BDD != nil || o.Fleet != nil {
			d.Title = "certlab run report"
		}
	}
	d.BDD, d.Fleet = o.BDD, o.Fleet
	if o.Fleet != nil {
		d.FleetReasons = o.Fleet.reasons()
	}
	if o.BDD != nil || o.Fleet != nil {
		d.Glance = glances(s, o.BDD, o.Fleet)
	}
	if o.Previous != nil {
		for i := range s.Servers {
			if old := o.Previous.Server(s.Servers[i].Server); old != nil {
				rate, lat := compareTimeCharts(old, &s.Servers[i])
				if rate != "" || lat != "" {
					d.CompareCharts = append(d.CompareCharts, htmlCompareCharts{Rate: rate, Latency: lat})
				}
			}
		}
	}
	if u := s.UnderTest(); u != nil {
		d.RatioOf = u.Server
	}
	d.Storm = stormHTML(s.Storm)
	d.Flood = floodHTML(s)
	var spectrum []series
	var phaseBars, cpuBars []bar
	servers := displayServers(s) // flood.go: the devices before and during a flood
	for i := range servers {
		ss := &servers[i]
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

		hs.Time = timeCharts(ss)
		var hists []histSeries
		if h != nil {
			hists = append(hists, histSeries{Name: "successes", Color: color, H: h})
		}
		if rh, err := ss.Histogram(result.MetricRefusedTotal); err != nil {
			return nil, fmt.Errorf("html report: %w", err)
		} else if rh != nil {
			hists = append(hists, histSeries{Name: "refusals", Color: colRefused, H: rh})
		}
		if len(hists) > 0 {
			hs.Histogram = histogramChart(fmt.Sprintf("Login latency histogram: %s (scheduled → server verdict)", ss.Server), hists)
		}
		var bb []bar
		for _, r := range ss.Breakdown {
			note := ""
			if r.Unexpected > 0 {
				note = fmt.Sprintf("%d unexpected", r.Unexpected)
			}
			bb = append(bb, bar{Label: breakdownShort(r), Value: float64(r.Count), Color: outcomeColor(r.Outcome), Note: note})
			hs.Outcomes = append(hs.Outcomes, htmlOutcome{R: r, Meaning: reasonMeaning(r.Reason)})
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
	"dur":    func(d time.Duration) string { return roundDuration(d).String() },
	"num":    num,
	"plural": plural,
	"pct":    func(v float64) string { return fmt.Sprintf("%+.1f%%", v*100) },
	"cls":    func(status string) string { return strings.ReplaceAll(strings.ToLower(status), " ", "") },
	"inc":    func(i int) int { return i + 1 },
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
th,td{padding:4px 10px;border-bottom:1px solid #eee;text-align:left;vertical-align:top}
td.n,th.n{text-align:right;font-variant-numeric:tabular-nums}
.cards{display:flex;flex-wrap:wrap;gap:10px;margin:8px 0}
.card{background:#fff;border:1px solid #e3e3e3;border-radius:6px;padding:10px 14px;min-width:140px}
.card b{display:block;font-size:20px}.card span{font-size:12px;color:#666}
.card.part{flex:1 1 260px}.card.part i{display:block;font-style:normal;font-size:12px;color:#666;text-transform:uppercase;letter-spacing:.04em}
.card.part.badcard{border-color:#e8a49b;background:#fff7f6}.card.part.badcard b{color:#a12a1a}
.verdict{padding:10px 14px;border-radius:6px;font-weight:600;margin:12px 0}
.pass{background:#e6f4ea;color:#1e6b34}.fail{background:#fdecea;color:#a12a1a}
.bad{color:#a12a1a;font-weight:600}
.st{display:inline-block;padding:1px 6px;border-radius:4px;font-size:11px;font-weight:600}
.st-pass{background:#e6f4ea;color:#1e6b34}.st-fail{background:#fdecea;color:#a12a1a}.st-skip{background:#fff4e0;color:#8a5a00}.st-notrun{background:#eee;color:#666}
.chart{background:#fff;border:1px solid #e3e3e3;border-radius:6px;padding:8px;margin:10px 0}
.chart .note{margin:2px 8px 4px}
.note{color:#666;font-size:12px}
.err{font-family:ui-monospace,monospace;font-size:12px;white-space:pre-wrap;word-break:break-word}
</style>
</head>
<body>
<main>
<h1>{{.Title}}</h1>
{{if .Checks}}<div class="verdict {{if .Failed}}fail{{else}}pass{{end}}">{{if .Failed}}{{.Failed}} of {{len .Checks}} checks failed{{else}}All {{len .Checks}} checks passed{{end}}{{with .Comparison}}{{if .Regressions}}; {{plural .Regressions "regression"}} against the previous run{{end}}{{end}}</div>{{end}}
{{with .Glance}}<div class="cards">{{range .}}<div class="card part{{if .Bad}} badcard{{end}}" data-part="{{.Part}}"><i>{{.Part}}</i><b>{{.Value}}</b><span>{{.Detail}}</span></div>{{end}}</div>{{end}}

{{with .BDD}}<h2>Conformance: Gherkin suite</h2>
<div class="verdict {{if or .Failed (not .Scenarios)}}fail{{else}}pass{{end}}">{{.Scenarios}} scenarios: {{.Passed}} passed, {{.Failed}} failed, {{.Skipped}} skipped. Requirements: {{.StatusCounts}}.</div>
<table data-table="requirements"><tr><th>requirement</th><th>status</th><th class="n">passed</th><th class="n">failed</th><th class="n">skipped</th><th>behaviour</th></tr>
{{range .Requirements}}<tr data-requirement="{{.ID}}"><td>{{.ID}}</td><td><span class="st st-{{cls .Status}}">{{.Status}}</span></td><td class="n">{{.Passed}}</td><td class="n{{if .Failed}} bad{{end}}">{{.Failed}}</td><td class="n">{{.Skipped}}</td><td>{{.Behaviour}}</td></tr>
{{end}}</table>
{{with .Failures}}<h3>Failed scenarios</h3>
<table><tr><th>scenario</th><th>failing step</th></tr>
{{range .}}<tr><td>{{.Feature}}:{{.Line}}<br>{{.Scenario}}{{with .Tags}}<br><span class="note">{{range $i, $t := .}}{{if $i}} {{end}}@{{$t}}{{end}}</span>{{end}}</td><td>{{.Step}}<div class="err">{{.Error}}</div></td></tr>
{{end}}</table>{{end}}
<p class="note">From the cucumber report {{.Source}} (certlab bdd --cucumber).</p>
{{end}}
{{with .Fleet}}<h2>Device fleet</h2>
<div class="cards">
<div class="card"><b{{if lt .Connected .Devices}} class="bad"{{end}}>{{.Connected}} / {{.Devices}}</b><span>devices connected</span></div>
<div class="card"><b>{{.PeakOnline}}</b><span>peak online ({{.OnlineAtEnd}} at the end)</span></div>
<div class="card"><b>{{.LoginSucceeded}} / {{.LoginAttempts}}</b><span>logins succeeded / attempted</span></div>
<div class="card"><b{{if .LoginFailed}} class="bad"{{end}}>{{.LoginRefused}} / {{.LoginFailed}}</b><span>logins refused / failed</span></div>
{{if .Connect.Count}}<div class="card"><b>{{dur .Connect.P50}}</b><span>login p50 (p99 {{dur .Connect.P99}})</span></div>{{end}}
<div class="card"><b>{{.MessagesSent}}</b><span>messages sent ({{.PublishesDenied}} denied)</span></div>
</div>
<table>
<tr><th>MQTT</th><td>{{.MQTT}}</td></tr>
{{if .EnrolDevices}}<tr><th>enrolment</th><td>{{.Enrolled}} of {{.EnrolDevices}} devices registered; {{.VerifiedCAs}} of {{.CAs}} device CAs verified; {{dur .EnrolElapsed}}</td></tr>{{end}}
<tr><th>sessions</th><td>{{.Drops}} dropped, {{.Reconnects}} reconnected, {{.Churns}} churned, {{.GaveUp}} gave up</td></tr>
<tr><th>messages</th><td>{{.MessagesSent}} sent, {{.PublishesDenied}} denied, {{.PublishErrors}} publish errors, {{.MessagesReceived}} received, {{.SubscribesRefused}} subscriptions refused</td></tr>
{{if .BehaviourErrors}}<tr><th>behaviour</th><td class="bad">{{.BehaviourErrors}} errors, first: {{.BehaviourErrorSample}}</td></tr>{{end}}
{{if .Connect.Count}}<tr><th>login latency</th><td>p50 {{dur .Connect.P50}}, p90 {{dur .Connect.P90}}, p99 {{dur .Connect.P99}}, max {{dur .Connect.Max}} ({{.Connect.Count}} logins)</td></tr>{{end}}
<tr><th>time</th><td>{{dur .Elapsed}}</td></tr>
</table>
{{with $.FleetReasons}}<table><tr><th>outcome</th><th>reason</th><th>meaning</th><th class="n">count</th></tr>
{{range .}}<tr><td>{{.Kind}}</td><td>{{.Reason}}</td><td>{{.Meaning}}</td><td class="n">{{.Count}}</td></tr>
{{end}}</table>{{end}}
<p class="note">From the fleet summary {{.Source}} (certlab sim --json).</p>
{{end}}
<h2>Login load</h2>
<p class="note">Server-confirmed logins only (CONNACK 0x00, or the baseline's echoed byte). Latency runs from each attempt's scheduled time. Warm-up excluded.</p>
<table>{{range .Settings}}<tr><th>{{index . 0}}</th><td>{{index . 1}}</td></tr>{{end}}</table>{{with .Storm}}
{{.}}{{end}}{{with .Flood}}
{{.}}{{end}}

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
{{if .Time.Rate}}<div class="chart" data-chart="rate" data-server="{{.S.Server}}">{{.Time.Rate}}{{with .Time.RateNote}}<p class="note">{{.}}</p>{{end}}</div>{{end}}
{{if .Time.Latency}}<div class="chart" data-chart="latency-time" data-server="{{.S.Server}}">{{.Time.Latency}}</div>{{end}}
{{if .Time.Phases}}<div class="chart" data-chart="phase-time" data-server="{{.S.Server}}">{{.Time.Phases}}</div>{{end}}
{{if .Histogram}}<div class="chart" data-chart="histogram" data-server="{{.S.Server}}">{{.Histogram}}</div>{{end}}
{{if .Breakdown}}<div class="chart" data-chart="outcomes" data-server="{{.S.Server}}">{{.Breakdown}}</div>{{end}}
{{with .Outcomes}}<table><tr><th>outcome</th><th>phase</th><th>reason</th><th>meaning</th><th class="n">count</th><th class="n">unexpected</th></tr>
{{range .}}<tr><td>{{.R.Outcome}}</td><td>{{.R.Phase}}</td><td>{{.R.Reason}}</td><td>{{.Meaning}}</td><td class="n">{{.R.Count}}</td><td class="n{{if .R.Unexpected}} bad{{end}}">{{.R.Unexpected}}</td></tr>
{{end}}</table>{{end}}
{{if .S.Identities}}<table><tr><th>identity</th><th>expected</th><th class="n">attempts</th><th class="n">as expected</th></tr>
{{range .S.Identities}}<tr><td>{{.Identity}}</td><td>{{.Expected}}{{with .Reason}} ({{.}}){{end}}</td><td class="n">{{.Attempts}}</td><td class="n{{if ne .Attempts .AsExpected}} bad{{end}}">{{.AsExpected}}</td></tr>
{{end}}</table>{{end}}
{{end}}
<h2>Latency and CPU</h2>
{{with .Spectrum}}<div class="chart" data-chart="spectrum">{{.}}</div>{{end}}
{{with .Phases}}<div class="chart" data-chart="phases">{{.}}</div>{{end}}
{{with .CPU}}<div class="chart" data-chart="cpu">{{.}}</div>{{end}}
{{if .Ratio}}<p>Server CPU per login, {{.RatioOf}} / bare crypto/tls baseline (same certificates, same client CA pool, same run): <b>{{printf "%.2f" .Ratio}}×</b></p>{{end}}
{{- with .Bench}}<h3>Login benchmark: {{.Rounds}} interleaved rounds</h3>
<p>Server CPU per server-confirmed login (µs), each server pinned like the platform; ratios are taken inside a round.</p>
<table><tr><th>server</th>{{range $i, $_ := (index .Servers 0).CPUPerLoginUs}}<th>round {{inc $i}}</th>{{end}}<th>median</th><th>min–max</th></tr>
{{range .Servers}}<tr><td>{{.Server}}</td>{{range .CPUPerLoginUs}}<td>{{printf "%.0f" .}}</td>{{end}}<td><b>{{printf "%.0f" .Median}}</b></td><td>{{printf "%.0f" .Min}}–{{printf "%.0f" .Max}}</td></tr>
{{end}}</table>
{{if .Ratios}}<table><tr><th>ratio (same round)</th>{{range $i, $_ := (index .Ratios 0).PerRound}}<th>round {{inc $i}}</th>{{end}}<th>median</th><th>min–max</th></tr>
{{range .Ratios}}<tr><td>{{.Name}}</td>{{range .PerRound}}<td>{{printf "%.2f" .}}×</td>{{end}}<td><b>{{printf "%.2f" .Median}}×</b></td><td>{{printf "%.2f" .Min}}–{{printf "%.2f" .Max}}</td></tr>
{{end}}</table>{{end}}{{end}}

{{if .Checks}}<h2>Checks</h2>
<table><tr><th>check</th><th>server</th><th class="n">value</th><th class="n">limit</th><th>result</th></tr>
{{range .Checks}}<tr><td>{{.Name}}</td><td>{{.Server}}</td><td class="n">{{num .Value .Unit}}</td><td class="n">{{num .Limit .Unit}}</td><td{{if not .Pass}} class="bad"{{end}}>{{if .Pass}}pass{{else}}FAIL{{end}}</td></tr>
{{end}}</table>{{end}}

{{with .Comparison}}<h2>Against the previous run</h2>
{{with .Differences}}<p class="note">Settings differ: {{range $i, $d := .}}{{if $i}}; {{end}}{{$d}}{{end}}</p>{{end}}
<table><tr><th>server</th><th>metric</th><th class="n">old</th><th class="n">new</th><th class="n">change</th></tr>
{{range .Rows}}<tr><td>{{.Server}}</td><td>{{.Metric}}</td><td class="n">{{num .Old .Unit}}</td><td class="n">{{num .New .Unit}}</td><td class="n{{if .Regressed}} bad{{end}}">{{pct .Change}}{{if .Regressed}} regression{{end}}</td></tr>
{{end}}</table>{{end}}
{{with .CompareCharts}}<p class="note">Both runs on seconds since their own start; the previous run dashed.</p>
{{range .}}{{with .Rate}}<div class="chart" data-chart="compare-rate">{{.}}</div>{{end}}
{{with .Latency}}<div class="chart" data-chart="compare-latency">{{.}}</div>{{end}}
{{end}}{{end}}
<p class="note">Generated by certlab report from saved results.</p>
</main>
</body>
</html>
`))

// roundDuration keeps three significant digits or so of a duration.
func roundDuration(d time.Duration) time.Duration {
	switch {
	case d >= 10*time.Second:
		return d.Round(100 * time.Millisecond)
	case d >= time.Second:
		return d.Round(10 * time.Millisecond)
	case d >= time.Millisecond:
		return d.Round(10 * time.Microsecond)
	default:
		return d.Round(time.Microsecond)
	}
}
