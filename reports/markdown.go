package reports

import (
	"fmt"
	"io"
	"strings"

	"github.com/certlab/certlab/loadgen/result"
)

// Markdown writes a summary for a CI comment: settings, one table of key
// figures per server, the checks and the comparison when given.
func Markdown(s *result.Summary, checks []Check, cmp *Comparison) Reporter {
	return func(w io.Writer) error {
		var b strings.Builder
		b.WriteString("## certlab login load\n\n")
		if n := Failed(checks); len(checks) > 0 {
			if n == 0 {
				fmt.Fprintf(&b, "**All %d checks passed.**", len(checks))
			} else {
				fmt.Fprintf(&b, "**%d of %d checks failed.**", n, len(checks))
			}
			if cmp != nil && cmp.Regressions() > 0 {
				fmt.Fprintf(&b, " **%s.**", plural(cmp.Regressions(), "regression"))
			}
			b.WriteString("\n\n")
		}
		for _, kv := range settings(s) {
			fmt.Fprintf(&b, "- **%s**: %s\n", kv[0], mdEscape(kv[1]))
		}
		servers := displayServers(s) // flood.go
		b.WriteString("\n| | ")
		for _, ss := range servers {
			fmt.Fprintf(&b, "%s | ", ss.Server)
		}
		b.WriteString("\n|---|")
		for range servers {
			b.WriteString("---:|")
		}
		b.WriteString("\n")
		row := func(label string, f func(ss *result.ServerSummary) string) {
			fmt.Fprintf(&b, "| %s | ", label)
			for i := range servers {
				fmt.Fprintf(&b, "%s | ", f(&servers[i]))
			}
			b.WriteString("\n")
		}
		row("logins/s", func(ss *result.ServerSummary) string { return fmt.Sprintf("%.1f", ss.SuccessRate) })
		row("attempts", func(ss *result.ServerSummary) string { return fmt.Sprintf("%d", ss.Attempts) })
		row("success / refused / errors", func(ss *result.ServerSummary) string {
			return fmt.Sprintf("%d / %d / %d", ss.Success, ss.Refused, ss.Errors+ss.Dropped)
		})
		row("unexpected", func(ss *result.ServerSummary) string { return fmt.Sprintf("%d", ss.Unexpected) })
		row("p50 / p99 (ms)", func(ss *result.ServerSummary) string {
			l := ss.Latency[result.MetricTotal]
			return fmt.Sprintf("%.2f / %.2f", ms(l.P50), ms(l.P99))
		})
		row("TLS handshake p50 (ms)", func(ss *result.ServerSummary) string {
			return fmt.Sprintf("%.2f", ms(ss.Latency[result.MetricTLS].P50))
		})
		row("client CPU µs/login", func(ss *result.ServerSummary) string { return fmt.Sprintf("%.0f", ss.ClientCPU.PerAttemptUs) })
		row("client CPU / crypto floor", func(ss *result.ServerSummary) string {
			if ss.ClientFloor == nil {
				return "n/a"
			}
			return fmt.Sprintf("%.2f× (floor %.0f µs)", ss.ClientFloor.Ratio, ss.ClientFloor.Us)
		})
		row("server CPU µs/login", func(ss *result.ServerSummary) string {
			if ss.ServerCPU == nil {
				return "n/a"
			}
			return fmt.Sprintf("%.0f", ss.ServerCPU.PerAttemptUs)
		})
		if s.BaselineRatio > 0 {
			fmt.Fprintf(&b, "\nServer CPU per login, %s / baseline: **%.2f×**\n", s.UnderTest().Server, s.BaselineRatio)
		}
		if s.Storm != nil {
			stormMarkdown(&b, s.Storm) // storm.go
		}
		if s.Flood != nil {
			floodMarkdown(&b, s) // flood.go
		}
		benchMarkdown(&b, s.Bench)
		if len(checks) > 0 {
			b.WriteString("\n| check | server | value | limit | result |\n|---|---|---:|---:|---|\n")
			for _, c := range checks {
				res := "pass"
				if !c.Pass {
					res = "**FAIL**"
				}
				fmt.Fprintf(&b, "| %s | %s | %s | %s | %s |\n", c.Name, c.Server, num(c.Value, c.Unit), num(c.Limit, c.Unit), res)
			}
		}
		if cmp != nil && len(cmp.Differences) > 0 {
			fmt.Fprintf(&b, "\nSettings differ from the previous run: %s.\n", mdEscape(strings.Join(cmp.Differences, "; ")))
		}
		if cmp != nil && len(cmp.Rows) > 0 {
			b.WriteString("\n| metric | server | old | new | change |\n|---|---|---:|---:|---:|\n")
			for _, r := range cmp.Rows {
				ch := fmt.Sprintf("%+.1f%%", r.Change*100)
				if r.Regressed {
					ch = "**" + ch + " regression**"
				}
				fmt.Fprintf(&b, "| %s | %s | %s | %s | %s |\n", r.Metric, r.Server, num(r.Old, r.Unit), num(r.New, r.Unit), ch)
			}
		}
		if p := Primary(s); p != nil && (p.Refused > 0 || p.Errors > 0 || p.Dropped > 0) {
			fmt.Fprintf(&b, "\n<details><summary>Outcomes (%s)</summary>\n\n| outcome | count | unexpected | meaning |\n|---|---:|---:|---|\n", p.Server)
			for _, r := range p.Breakdown {
				fmt.Fprintf(&b, "| %s | %d | %d | %s |\n", mdEscape(breakdownWith(r, r.Reason)), r.Count, r.Unexpected, mdEscape(reasonMeaning(r.Reason)))
			}
			b.WriteString("\n</details>\n")
		}
		_, err := io.WriteString(w, b.String())
		return err
	}
}

func mdEscape(s string) string {
	return strings.NewReplacer("|", `\|`, "*", `\*`, "_", `\_`, "<", "&lt;").Replace(s)
}

// plural renders "1 regression", "2 regressions".
func plural(n int, noun string) string {
	if n == 1 {
		return fmt.Sprintf("%d %s", n, noun)
	}
	return fmt.Sprintf("%d %ss", n, noun)
}
