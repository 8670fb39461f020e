package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/certlab/certlab/reports"
)

func reportCmd() *cobra.Command {
	var (
		htmlOut, junitOut, mdOut, jsonOut string
		bddPath, fleetPath                string
		compare                           []string
		th                                reports.Thresholds
		maxRegression                     float64
		maxNeverReturned                  int
	)
	cmd := &cobra.Command{
		Use:   "report RESULTS...",
		Short: "Render saved load results (HTML, Markdown, JUnit, JSON); gate on thresholds; compare two runs",
		Long: `Render the results of "certlab loadgen": results JSONL files (several shards merge
exactly) and/or summary JSON files. Prints a text summary; writes the formats asked for.

Thresholds (--max-p99, --min-rate, --max-error-rate) apply to the platform (or to the
baseline of a tls-only run); a storm's (--max-time-to-99, --max-never-returned) to the
reconnect storm; each is one JUnit test case. --compare OLD compares with a previous run
(login rate, p50/p99, CPU per login on both sides; for storms also the times to 50-100%,
herd factor, wasted handshakes and never-returned devices), and the HTML overlays the
two runs' rate and latency over time. The command exits 1 when a threshold is violated or a
metric regressed by more than --max-regression.

--bdd and --fleet add the other parts of a session to the HTML, so that one page shows the
whole run: the Gherkin suite (pass/fail/skip per requirement ID, from the cucumber JSON of
"certlab bdd --cucumber") and the device fleet (from "certlab sim --json"). make run does so.

Examples:
  certlab report out/results.jsonl --html report.html --md report.md --junit junit.xml \
      --max-p99 20ms --min-rate 1000 --max-error-rate 0.01 --compare old/summary.json
  certlab report out/demo/loadgen/results.jsonl --bdd out/demo/bdd-cucumber.json \
      --fleet out/demo/sim.json --html out/demo/report.html
  certlab report jitter/summary.json --compare immediate/summary.json --max-time-to-99 30s --max-never-returned 0`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if maxNeverReturned >= 0 {
				th.MaxNeverReturned = &maxNeverReturned
			}
			if (bddPath != "" || fleetPath != "") && htmlOut == "" {
				return fmt.Errorf("report: --bdd and --fleet add to the HTML report: give --html FILE too")
			}
			opts := reports.HTMLOptions{}
			var err error
			if bddPath != "" {
				if opts.BDD, err = readBDD(bddPath); err != nil {
					return fmt.Errorf("report: %w", err)
				}
			}
			if fleetPath != "" {
				if opts.Fleet, err = readFleet(fleetPath); err != nil {
					return fmt.Errorf("report: %w", err)
				}
			}
			s, err := reports.Load(args...)
			if err != nil {
				return err
			}
			var cmp *reports.Comparison
			if len(compare) > 0 {
				old, err := reports.Load(compare...)
				if err != nil {
					return err
				}
				cmp = reports.Compare(old, s, maxRegression)
				opts.Previous = old
			}
			checks := reports.Evaluate(s, th)
			opts.Checks, opts.Comparison = checks, cmp
			outputs := []struct {
				path string
				r    reports.Reporter
			}{
				{htmlOut, reports.HTML(s, opts)},
				{mdOut, reports.Markdown(s, checks, cmp)},
				{junitOut, reports.JUnit(checks, cmp)},
				{jsonOut, reports.JSON(s)},
			}
			for _, o := range outputs {
				if o.path == "" {
					continue
				}
				if err := reports.WriteFile(o.path, o.r); err != nil {
					return err
				}
			}
			out := cmd.OutOrStdout()
			if err := reports.Text(s)(out); err != nil {
				return err
			}
			if len(checks) > 0 {
				fmt.Fprintln(out)
				for _, c := range checks {
					verdict := "pass"
					if !c.Pass {
						verdict = "FAIL"
					}
					fmt.Fprintf(out, "check %-12s %-8s %s\n", c.Name, verdict, c.Message)
				}
			}
			if cmp != nil {
				fmt.Fprintln(out)
				if err := reports.ComparisonText(cmp)(out); err != nil {
					return err
				}
			}
			failed, regressed := reports.Failed(checks), 0
			if cmp != nil {
				regressed = cmp.Regressions()
			}
			if failed > 0 || regressed > 0 {
				fmt.Fprintf(cmd.ErrOrStderr(), "certlab report: %d of %d checks failed, %d regressions\n", failed, len(checks), regressed)
				return exitError{code: 1}
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&htmlOut, "html", "", "write a self-contained HTML report")
	f.StringVar(&mdOut, "md", "", "write Markdown (for a CI comment)")
	f.StringVar(&junitOut, "junit", "", "write JUnit XML (one test case per threshold and compared metric)")
	f.StringVar(&jsonOut, "json", "", "write the merged summary as JSON")
	f.StringSliceVar(&compare, "compare", nil, "results or summary file(s) of the previous run to compare with")
	f.StringVar(&bddPath, "bdd", "", "with --html: add the Gherkin suite's results from this cucumber JSON (certlab bdd --cucumber)")
	f.StringVar(&fleetPath, "fleet", "", "with --html: add the device fleet's results from this summary JSON (certlab sim --json)")
	f.DurationVar(&th.MaxP99, "max-p99", 0, "fail when p99 login latency exceeds this (e.g. 20ms)")
	f.Float64Var(&th.MinRate, "min-rate", 0, "fail below this many server-confirmed logins per second")
	f.Float64Var(&th.MaxErrorRate, "max-error-rate", 0, "fail when the share of unexpected outcomes exceeds this (e.g. 0.01)")
	f.Float64Var(&maxRegression, "max-regression", 0.10, "with --compare: fail when a metric is worse by more than this share")
	f.DurationVar(&th.MaxTimeTo99, "max-time-to-99", 0, "storm: fail when 99% of the devices took longer than this to come back after the outage (e.g. 30s)")
	f.IntVar(&maxNeverReturned, "max-never-returned", -1, "storm: fail when more devices than this never came back (0: every device must; default: not checked)")
	return cmd
}
