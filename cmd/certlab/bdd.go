package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/certlab/certlab/features"
	"github.com/certlab/certlab/loadgen/host"
)

func bddCmd() *cobra.Command {
	var (
		targetPath string
		opts       features.Options
	)
	cmd := &cobra.Command{
		Use:   "bdd",
		Short: "Run the Gherkin conformance suite against a target; pretty output, JUnit and cucumber JSON",
		Long: `Run the Gherkin conformance suite (certificate upload and verification, device
registration, MQTT(S) certificate login, topic ACL, MQTT limits) against a
target, and print pass/fail per requirement ID.

Without --target an embedded reference platform is started in a temporary
directory. Scenarios tagged @reference (fresh projects through certlab's admin
API, the login-attempt log) run only when the target has an admin_token.
The exit status is 1 when any scenario fails.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			server, err := openServer(ctx, targetPath)
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
	f.StringVar(&opts.Tags, "tags", "", `tag expression, e.g. "@CA-QUOTA,@LOGIN-TLS" (or) or "@login && ~@quota" (and)`)
	f.StringVar(&opts.Format, "format", features.FormatPretty, "output format: pretty or progress")
	f.StringVar(&opts.JUnitPath, "junit", "", "write a JUnit XML report to FILE")
	f.StringVar(&opts.CucumberPath, "cucumber", "", "write a cucumber JSON report to FILE")
	f.IntVar(&opts.Concurrency, "concurrency", features.DefaultConcurrency, "scenarios run at once")
	f.Int64Var(&opts.Seed, "seed", 0, "scenario order seed (0 = random; the seed used is printed)")
	return cmd
}
