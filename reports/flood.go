package reports

// flood.go: how a flood run (loadgen --flood, result.FloodSummary) is
// rendered. The devices appear twice, as ordinary server parts — before the
// flood and during it — and the flood gets a part of its own: its rate
// against the devices' unflooded login rate, how its handshakes ended, the
// share of their login rate the devices kept, and the platform's own login
// counters against the generator's.

import (
	"fmt"
	"html"
	"html/template"
	"io"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/certlab/certlab/loadgen/result"
)

// Labels of a flood run's populations in reports.
const (
	labelUnflooded = "devices before the flood"
	labelFlooded   = "devices during the flood"
	labelFlood     = "flood"
)

// displayServers are the server parts a report shows: the summary's
// servers, and for a flood run the devices before the flood first, each
// part labelled with its population.
func displayServers(s *result.Summary) []result.ServerSummary {
	if s.Flood == nil {
		return s.Servers
	}
	var out []result.ServerSummary
	if u := s.Flood.Unflooded; u != nil {
		c := *u
		c.Server = labelUnflooded
		out = append(out, c)
	}
	for _, ss := range s.Servers {
		ss.Server = labelFlooded
		out = append(out, ss)
	}
	return out
}

// floodFacts are the flood's figures as label/value pairs (text, HTML).
func floodFacts(s *result.Summary) [][2]string {
	f := s.Flood
	rate := fmt.Sprintf("%.0f handshakes/s", f.Rate)
	if f.Multiple > 0 {
		rate += fmt.Sprintf(" = %g× the devices' unflooded login rate (%.0f logins/s)", f.Multiple, f.Capacity)
	} else if f.Capacity > 0 {
		rate += fmt.Sprintf(" (%.1f× the devices' unflooded login rate, %.0f logins/s)", f.Rate/f.Capacity, f.Capacity)
	}
	out := [][2]string{
		{"flood", fmt.Sprintf("%s: %s; TLS 1.3 X25519, no CertificateVerify; at most %d in flight, %gs deadline each", floodKindText(f.Kind), rate, f.Conns, f.TimeoutS)},
	}
	if fl := f.Flood; fl != nil {
		out = append(out, [2]string{"flood attempts", fmt.Sprintf("%d (sent %.0f/s; refused %d, errors %d, dropped %d; let in %d)",
			fl.Attempts, f.SentRate, fl.Refused, fl.Errors, fl.Dropped, fl.Success)})
		if l, ok := fl.Latency[result.MetricRefusedTotal]; ok {
			out = append(out, [2]string{"flood verdict", fmt.Sprintf("p50 %.2f ms, p99 %.2f ms from the scheduled time to the platform's refusal", ms(l.P50), ms(l.P99))})
		}
	}
	if d, u := s.UnderTest(), f.Unflooded; d != nil && u != nil {
		ud, dd := u.Latency[result.MetricTotal], d.Latency[result.MetricTotal]
		kept := fmt.Sprintf("%.0f%% of their login rate: %.1f logins/s under the flood against %.1f without (success %.1f%% against %.1f%% of attempts); p99 %.2f ms against %.2f ms",
			f.KeptShare*100, d.SuccessRate, u.SuccessRate, pctOf(d.Success, d.Attempts), pctOf(u.Success, u.Attempts), ms(dd.P99), ms(ud.P99))
		if f.MinKept > 0 {
			verdict := "met"
			if f.KeptShare < f.MinKept {
				verdict = "NOT met"
			}
			kept += fmt.Sprintf(" (aim: at least %.0f%%, %s)", f.MinKept*100, verdict)
		}
		out = append(out, [2]string{"devices kept", kept})
	}
	if c := f.ServerLogins; c != nil {
		agree := "agree"
		if !c.Agree() {
			agree = "DISAGREE"
		}
		out = append(out, [2]string{"platform counters", fmt.Sprintf("%s with the generator's (%s)", agree, countsLine(c))})
	} else if f.Note != "" {
		out = append(out, [2]string{"platform counters", f.Note})
	}
	return out
}

func floodKindText(kind string) string {
	switch kind {
	case "unknown-ca":
		return "unknown-CA certificates"
	case "no-cert":
		return "no certificate"
	case "mixed":
		return "unknown-CA certificates and no certificate, in turn"
	}
	return kind
}

func pctOf(n, of int64) float64 {
	if of == 0 {
		return 0
	}
	return float64(n) * 100 / float64(of)
}

// countsLine lists the categories as platform/generator pairs.
func countsLine(c *result.FloodCounts) string {
	var parts []string
	for _, k := range result.FloodCategories {
		p, g := c.Platform[k], c.Generator[k]
		if p == 0 && g == 0 {
			continue
		}
		if k == result.CountErrors {
			parts = append(parts, fmt.Sprintf("errors without a verdict %d", g))
			continue
		}
		parts = append(parts, fmt.Sprintf("%s %d/%d", k, p, g))
	}
	return "platform/generator: " + strings.Join(parts, ", ")
}

// floodText writes the flood part of the text summary.
func floodText(w io.Writer, s *result.Summary) {
	fmt.Fprintf(w, "\nFLOOD\n")
	for _, kv := range floodFacts(s) {
		fmt.Fprintf(w, "  %-18s %s\n", kv[0], kv[1])
	}
	if fl := s.Flood.Flood; fl != nil && len(fl.Breakdown) > 0 {
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintf(tw, "  flood outcomes\tcount\tunexpected\n")
		for _, b := range fl.Breakdown {
			meaning := reasonMeaning(b.Reason)
			if meaning != "" {
				meaning = "\t" + meaning
			}
			fmt.Fprintf(tw, "    %s\t%d\t%d%s\n", breakdownWith(b, b.Reason), b.Count, b.Unexpected, meaning)
		}
		_ = tw.Flush()
	}
}

// floodMarkdown writes the flood part of the Markdown summary.
func floodMarkdown(b *strings.Builder, s *result.Summary) {
	b.WriteString("\n### Handshake flood\n\n")
	for _, kv := range floodFacts(s) {
		fmt.Fprintf(b, "- **%s**: %s\n", kv[0], mdEscape(kv[1]))
	}
}

// floodHTML is the flood's section of the HTML report.
func floodHTML(s *result.Summary) template.HTML {
	f := s.Flood
	if f == nil {
		return ""
	}
	var b strings.Builder
	b.WriteString(`<h2 data-part="flood">Handshake flood</h2>`)
	b.WriteString(`<p class="note">The devices logged in alone, then again while unauthenticated peers opened mutual-TLS handshakes at the flood's rate; both parts of the devices are shown above, the flood here.</p>`)
	b.WriteString(`<div class="cards">`)
	card := func(value, label string, bad bool) {
		cls := ""
		if bad {
			cls = ` class="bad"`
		}
		fmt.Fprintf(&b, `<div class="card"><b%s>%s</b><span>%s</span></div>`, cls, html.EscapeString(value), html.EscapeString(label))
	}
	card(fmt.Sprintf("%.0f%%", f.KeptShare*100), "of the unflooded login rate kept", f.MinKept > 0 && f.KeptShare < f.MinKept)
	if f.P99Ratio > 0 {
		card(fmt.Sprintf("%.1f×", f.P99Ratio), "login p99, flooded / unflooded", false)
	}
	card(fmt.Sprintf("%.0f/s", f.Rate), "flood handshakes scheduled", false)
	card(fmt.Sprintf("%.0f/s", f.SentRate), "flood handshakes sent", false)
	if fl := f.Flood; fl != nil {
		card(fmt.Sprintf("%d", fl.Success), "flood peers let in", fl.Success > 0)
	}
	b.WriteString(`</div><table data-table="flood">`)
	for _, kv := range floodFacts(s) {
		fmt.Fprintf(&b, "<tr><th>%s</th><td>%s</td></tr>", html.EscapeString(kv[0]), html.EscapeString(kv[1]))
	}
	b.WriteString(`</table>`)
	if fl := f.Flood; fl != nil {
		b.WriteString(`<table data-table="flood-outcomes"><tr><th>flood outcome</th><th>phase</th><th>reason</th><th>meaning</th><th class="n">count</th><th class="n">unexpected</th></tr>`)
		for _, r := range fl.Breakdown {
			fmt.Fprintf(&b, `<tr><td>%s</td><td>%s</td><td>%s</td><td>%s</td><td class="n">%d</td><td class="n">%d</td></tr>`,
				html.EscapeString(string(r.Outcome)), html.EscapeString(r.Phase), html.EscapeString(r.Reason), html.EscapeString(reasonMeaning(r.Reason)), r.Count, r.Unexpected)
		}
		b.WriteString(`</table>`)
		if len(fl.Identities) > 0 {
			b.WriteString(`<table><tr><th>flood peers presented</th><th>expected</th><th class="n">attempts</th><th class="n">as expected</th></tr>`)
			for _, r := range fl.Identities {
				fmt.Fprintf(&b, `<tr><td>%s</td><td>%s (%s)</td><td class="n">%d</td><td class="n">%d</td></tr>`,
					html.EscapeString(string(r.Identity)), html.EscapeString(string(r.Expected)), html.EscapeString(r.Reason), r.Attempts, r.AsExpected)
			}
			b.WriteString(`</table>`)
		}
		c := *fl
		c.Server = labelFlood
		if tc := timeCharts(&c); tc.Rate != "" {
			fmt.Fprintf(&b, `<div class="chart" data-chart="rate" data-server="%s">%s</div>`, labelFlood, tc.Rate)
		}
	}
	if c := f.ServerLogins; c != nil {
		b.WriteString(`<table data-table="flood-counters"><tr><th>login outcome</th><th class="n">platform counted</th><th class="n">generator saw</th></tr>`)
		keys := slices.Clone(result.FloodCategories)
		for _, k := range keys {
			p, g := c.Platform[k], c.Generator[k]
			if p == 0 && g == 0 {
				continue
			}
			pc := fmt.Sprintf("%d", p)
			if k == result.CountErrors {
				pc = "—"
			}
			fmt.Fprintf(&b, `<tr><td>%s</td><td class="n">%s</td><td class="n">%d</td></tr>`, html.EscapeString(k), pc, g)
		}
		fmt.Fprintf(&b, `</table><p class="note">From %s (certlab_platform_logins_total), read before and after the run; both phases, both populations, warm-up included.</p>`, html.EscapeString(c.Source))
	}
	return template.HTML(b.String()) //nolint:gosec // every value above is escaped
}
