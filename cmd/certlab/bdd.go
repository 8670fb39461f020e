package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/certlab/certlab/features"
	"github.com/certlab/certlab/loadgen/host"
)

func bddCmd() *cobra.Command {
	var (
		targetPath  string
		opts        features.Options
		noPreflight bool
	)
	cmd := &cobra.Command{
		Use:   "bdd",
		Short: "Run the Gherkin conformance suite against a target; pretty output, JUnit and cucumber JSON",
		Long: `Run the Gherkin conformance suite (certificate upload and verification, device
registration, MQTT(S) certificate login, topic ACL, MQTT limits) against a
target, and print pass/fail per requirement ID.

Without --target an embedded reference platform is started in a temporary
directory; a target file is pre-flighted first (as "certlab target check" does),
so a wrong port or credential is one line, not hundreds of failed steps.
Scenarios tagged @reference (fresh projects through certlab's admin
API, the login-attempt log) run only when the target has an admin_token.

--tags takes a Cucumber tag expression: tags combined with not, and, or and
parentheses, e.g. "@LOGIN-TLS or @CA-QUOTA", "@login and not @reference"
(godog's "~", "&&" and "," work too). An expression that selects no scenario
is an error that names the unknown tags.

The pretty output prints each scenario whole, grouped under its feature in
file order even when scenarios run concurrently, with PASS/FAIL on every
scenario and a mark on every step (✓ passed, ✗ failed, - skipped,
? undefined); --verbose adds the Go step definition of each step.

The exit status is 1 when any scenario fails or the tag expression selects
nothing.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			// A typo in --tags fails here, before a platform is started.
			if _, err := features.CheckTags(opts.Tags, true); err != nil {
				return fmt.Errorf("bdd: --tags: %w", err)
			}
			server, err := openServer(ctx, targetPath, noPreflight, "certlab bdd")
			if err != nil {
				return fmt.Errorf("bdd: %w", err)
			}
			defer server.Close()
			opts.Target = server.Target
			opts.Output = cmd.OutOrStdout()
			opts.Reference = server.Kind == host.ServerInProcess // the embedded platform is the reference platform
			sum, err := features.Run(ctx, opts)
			if err != nil {
				return fmt.Errorf("bdd: %w", err)
			}
			out := cmd.OutOrStdout()
			fmt.Fprintln(out)
			if err := sum.WriteTable(out); err != nil {
				return fmt.Errorf("bdd: %w", err)
			}
			if opts.JUnitPath != "" {
				fmt.Fprintf(out, "JUnit report:    %s\n", opts.JUnitPath)
			}
			if opts.CucumberPath != "" {
				fmt.Fprintf(out, "cucumber report: %s\n", opts.CucumberPath)
			}
			if !sum.OK() {
				return exitError{code: 1}
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&targetPath, "target", "", "target file (default: start an embedded reference platform)")
	f.BoolVar(&noPreflight, "no-preflight", false, "skip the target pre-flight (certlab target check) before the suite")
	f.StringVar(&opts.Tags, "tags", "", `Cucumber tag expression, e.g. "@CA-QUOTA or @LOGIN-TLS", "@login and not (@quota or @reference)"`)
	f.StringVar(&opts.Format, "format", features.FormatPretty, "output format: pretty or progress")
	f.StringVar(&opts.JUnitPath, "junit", "", "write a JUnit XML report to FILE")
	f.StringVar(&opts.CucumberPath, "cucumber", "", "write a cucumber JSON report to FILE")
	f.IntVar(&opts.Concurrency, "concurrency", features.DefaultConcurrency, "scenarios run at once")
	f.BoolVar(&opts.Verbose, "verbose", false, "pretty: show the Go step definition (file:line) of each step")
	f.Int64Var(&opts.Seed, "seed", 0, "scenario order seed (0 = random; the seed used is printed)")
	return cmd
}
