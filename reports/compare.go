package reports

import (
	"fmt"
	"io"
	"math"
	"text/tabwriter"

	"github.com/certlab/certlab/loadgen/result"
)

// Comparison sets a new run against an old one, metric by metric.
type Comparison struct {
	MaxRegression float64         `json:"max_regression"` // e.g. 0.10: 10% worse fails
	Rows          []ComparisonRow `json:"rows"`
	// Differences lists settings that differ between the runs: a change
	// there explains a change in the figures.
	Differences []string `json:"differences,omitempty"`
}

// ComparisonRow is one metric of both runs. Change is new/old - 1;
// Regressed is set when the change goes the bad way by more than the limit.
type ComparisonRow struct {
	Server         string  `json:"server"`
	Metric         string  `json:"metric"`
	Unit           string  `json:"unit"`
	HigherIsBetter bool    `json:"higher_is_better"`
	Old            float64 `json:"old"`
	New            float64 `json:"new"`
	Change         float64 `json:"change"`
	Regressed      bool    `json:"regressed"`
}

// Compare compares each server present in both runs: login rate, p50 and
// p99 latency, and CPU per login of the generator and of the server.
// Metrics missing from either run are skipped.
func Compare(old, cur *result.Summary, maxRegression float64) *Comparison {
	c := &Comparison{MaxRegression: maxRegression, Differences: settingDifferences(old, cur)}
	for _, ns := range cur.Servers {
		was := old.Server(ns.Server)
		if was == nil {
			continue
		}
		add := func(metric, unit string, higher bool, o, n float64) {
			if o <= 0 || n <= 0 || math.IsNaN(o) || math.IsNaN(n) {
				return
			}
			r := ComparisonRow{Server: ns.Server, Metric: metric, Unit: unit, HigherIsBetter: higher, Old: o, New: n, Change: n/o - 1}
			if maxRegression > 0 {
				if higher {
					r.Regressed = r.Change < -maxRegression
				} else {
					r.Regressed = r.Change > maxRegression
				}
			}
			c.Rows = append(c.Rows, r)
		}
		add("login rate", "logins/s", true, was.SuccessRate, ns.SuccessRate)
		add("p50 latency", "ms", false, ms(was.Latency[result.MetricTotal].P50), ms(ns.Latency[result.MetricTotal].P50))
		add("p99 latency", "ms", false, ms(was.Latency[result.MetricTotal].P99), ms(ns.Latency[result.MetricTotal].P99))
		add("client CPU per login", "µs", false, was.ClientCPU.PerAttemptUs, ns.ClientCPU.PerAttemptUs)
		if was.ServerCPU != nil && ns.ServerCPU != nil {
			add("server CPU per login", "µs", false, was.ServerCPU.PerAttemptUs, ns.ServerCPU.PerAttemptUs)
		}
	}
	rows, diffs := compareStorm(old, cur, maxRegression) // storm.go
	c.Rows, c.Differences = append(c.Rows, rows...), append(c.Differences, diffs...)
	if old.BaselineRatio > 0 && cur.BaselineRatio > 0 {
		c.Rows = append(c.Rows, ComparisonRow{Server: "platform/baseline", Metric: "server CPU ratio", Unit: "×",
			Old: old.BaselineRatio, New: cur.BaselineRatio, Change: cur.BaselineRatio/old.BaselineRatio - 1,
			Regressed: maxRegression > 0 && cur.BaselineRatio/old.BaselineRatio-1 > maxRegression})
	}
	return c
}

// settingDifferences compares the first run header of each summary.
func settingDifferences(old, cur *result.Summary) []string {
	if len(old.Runs) == 0 || len(cur.Runs) == 0 {
		return nil
	}
	a, b := old.Runs[0], cur.Runs[0]
	var out []string
	diff := func(name string, x, y any) {
		if fmt.Sprint(x) != fmt.Sprint(y) {
			out = append(out, fmt.Sprintf("%s: %v -> %v", name, x, y))
		}
	}
	diff("mode", a.Mode, b.Mode)
	diff("loop", a.Loop, b.Loop)
	diff("rate", a.Rate, b.Rate)
	diff("workers", a.Workers, b.Workers)
	diff("TLS", a.TLSVersion, b.TLSVersion)
	diff("key exchange", a.KeyExchange, b.KeyExchange)
	diff("resumption", a.Resumption, b.Resumption)
	diff("MQTT", a.MQTTVersion, b.MQTTVersion)
	diff("bad share", a.BadShare, b.BadShare)
	diff("devices", a.Devices, b.Devices)
	diff("shards", len(old.Runs), len(cur.Runs))
	diff("generator host", a.Host, b.Host)
	return out
}

// Regressions counts the rows that regressed.
func (c *Comparison) Regressions() int {
	n := 0
	for _, r := range c.Rows {
		if r.Regressed {
			n++
		}
	}
	return n
}

func ms(us int64) float64 { return float64(us) / 1000 }

// ComparisonText renders the comparison as an aligned table.
func ComparisonText(c *Comparison) Reporter {
	return func(w io.Writer) error {
		for _, d := range c.Differences {
			fmt.Fprintf(w, "settings differ: %s\n", d)
		}
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintf(tw, "server\tmetric\told\tnew\tchange\t\n")
		for _, r := range c.Rows {
			flag := ""
			if r.Regressed {
				flag = fmt.Sprintf("REGRESSION (limit %.0f%%)", c.MaxRegression*100)
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%+.1f%%\t%s\n", r.Server, r.Metric, num(r.Old, r.Unit), num(r.New, r.Unit), r.Change*100, flag)
		}
		return tw.Flush()
	}
}

// num formats a value with its unit.
func num(v float64, unit string) string {
	switch unit {
	case "ms":
		return fmt.Sprintf("%.2f ms", v)
	case "µs":
		return fmt.Sprintf("%.0f µs", v)
	case "×":
		return fmt.Sprintf("%.2f×", v)
	case "%":
		return fmt.Sprintf("%.3f%%", v)
	default:
		return fmt.Sprintf("%.1f %s", v, unit)
	}
}
