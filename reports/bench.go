package reports

// bench.go: the login benchmark's table (result.Bench): each server's CPU
// per server-confirmed login in every round, then the ratios taken inside
// each round, with their medians and spread.

import (
	"fmt"
	"io"
	"strings"

	"github.com/certlab/certlab/loadgen/result"
)

// benchText writes the benchmark table with tab-separated columns (for a
// tabwriter); nothing when b is nil.
func benchText(w io.Writer, b *result.Bench) {
	if b == nil {
		return
	}
	fmt.Fprintf(w, "\nlogin benchmark: %d interleaved rounds; server CPU per server-confirmed login (µs)\n", b.Rounds)
	head := []string{"  server"}
	for r := range b.Rounds {
		head = append(head, fmt.Sprintf("round %d", r+1))
	}
	fmt.Fprintln(w, strings.Join(append(head, "median", "spread", "logins/s (median)"), "\t"))
	for _, s := range b.Servers {
		row := []string{"  " + s.Server}
		for _, v := range s.CPUPerLoginUs {
			row = append(row, orDash(v, "%.0f"))
		}
		row = append(row, orDash(s.Median, "%.0f"), spreadText(s.Spread, "%.0f"), orDash(medianOf(s.LoginsPerS), "%.0f"))
		fmt.Fprintln(w, strings.Join(row, "\t"))
	}
	if len(b.Ratios) == 0 {
		return
	}
	fmt.Fprintln(w, strings.Join(append(append([]string{"  ratio (same round)"}, head[1:]...), "median", "spread"), "\t"))
	for _, r := range b.Ratios {
		row := []string{"  " + r.Name}
		for _, v := range r.PerRound {
			row = append(row, orDash(v, "%.2f×"))
		}
		row = append(row, orDash(r.Median, "%.2f×"), spreadText(r.Spread, "%.2f"))
		fmt.Fprintln(w, strings.Join(row, "\t"))
	}
}

// benchMarkdown writes the benchmark as Markdown tables; nothing when b is nil.
func benchMarkdown(w io.Writer, b *result.Bench) {
	if b == nil {
		return
	}
	var sb strings.Builder
	benchText(&sb, b)
	lines := strings.Split(strings.TrimSpace(sb.String()), "\n")
	fmt.Fprintf(w, "\n**%s**\n", lines[0])
	header := true
	for _, line := range lines[1:] {
		cells := strings.Split(strings.TrimSpace(line), "\t")
		if strings.HasPrefix(cells[0], "ratio") || strings.HasPrefix(cells[0], "server") {
			if !header {
				fmt.Fprintln(w)
			}
			fmt.Fprintf(w, "\n| %s |\n|%s\n", strings.Join(cells, " | "), strings.Repeat("---|", len(cells)))
			header = false
			continue
		}
		fmt.Fprintf(w, "| %s |\n", strings.Join(cells, " | "))
	}
}

func orDash(v float64, format string) string {
	if v <= 0 {
		return "-"
	}
	return fmt.Sprintf(format, v)
}

func spreadText(s result.Spread, format string) string {
	if s.N == 0 {
		return "-"
	}
	return fmt.Sprintf(format+"–"+format, s.Min, s.Max)
}

func medianOf(vs []float64) float64 { return result.SpreadOf(vs).Median }
