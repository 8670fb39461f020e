package main

import (
	"encoding/json"
	"fmt"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/certlab/certlab/iotda"
	"github.com/certlab/certlab/preflight"
)

func targetCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "target",
		Short: "Work with target files (how to reach a platform)",
		Args:  cobra.NoArgs,
	}
	cmd.AddCommand(targetCheckCmd())
	return cmd
}

func targetCheckCmd() *cobra.Command {
	var (
		opts   preflight.Options
		asJSON bool
	)
	cmd := &cobra.Command{
		Use:   "check FILE",
		Short: "Pre-flight a target file: API reachable, TLS trusted, credentials valid, MQTT endpoint speaks TLS",
		Long: `Check, in about a second, that a target file can be used: the API endpoint
accepts connections and answers over TLS with a certificate ca_file trusts;
each configured credential (access_key/secret_key, token) is accepted for
project_id; the MQTT endpoint accepts connections and speaks TLS with a trusted
certificate. Each failure is one line that names the field to fix.

Exit status: 0 every check passed, 1 a check failed or the file is invalid.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			t, err := iotda.LoadTarget(args[0])
			if err != nil {
				return fmt.Errorf("target check: %w", err)
			}
			opts.Source = filepath.Base(args[0])
			r := preflight.Run(cmd.Context(), t, opts)
			out := cmd.OutOrStdout()
			if asJSON {
				enc := json.NewEncoder(out)
				enc.SetIndent("", "  ")
				if err := enc.Encode(r); err != nil {
					return fmt.Errorf("target check: %w", err)
				}
			} else if err := r.WriteText(out); err != nil {
				return fmt.Errorf("target check: %w", err)
			}
			if !r.OK() {
				return exitError{code: 1}
			}
			return nil
		},
	}
	cmd.Flags().DurationVar(&opts.Timeout, "timeout", preflight.DefaultTimeout, "bound of each phase (dial, TLS handshake, API call)")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the checks as JSON")
	return cmd
}
