package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/certlab/certlab/sim/fleet"
)

// pkiFleetCACmd exports the fleet's device CAs for a broker that is not
// certlab's platform: nothing uploads them there, so its configuration must
// name them (mosquitto: cafile).
func pkiFleetCACmd() *cobra.Command {
	var dir, out string
	cmd := &cobra.Command{
		Use:   "fleet-ca",
		Short: "Write a fleet's device CA certificates as one PEM bundle, for a broker's trust store (mosquitto: cafile)",
		Long: `Write the device CA certificates of the fleet in --fleet (minted by certlab
loadgen or sim) as one PEM bundle, for an MQTT broker that logs the fleet's
devices in by their certificates: mosquitto's cafile, EMQX's cacertfile, a
HiveMQ truststore. Then run certlab loadgen --target FILE --skip-prepare with
a target file that has no api_endpoint (see the README).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			f, err := fleet.Load(dir)
			if err != nil {
				return fmt.Errorf("pki fleet-ca: %w", err)
			}
			defer f.Close()
			bundle := f.CABundlePEM()
			if out == "-" {
				_, err = cmd.OutOrStdout().Write(bundle)
				return err
			}
			if err := os.WriteFile(out, bundle, 0o644); err != nil {
				return fmt.Errorf("pki fleet-ca: %w", err)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%d device CA certificate(s) of fleet %s (%d devices) written to %s\n", len(f.CAs()), f.ID, f.Len(), out)
			return nil
		},
	}
	cmd.Flags().StringVar(&dir, "fleet", "", "fleet directory (required)")
	cmd.Flags().StringVar(&out, "out", "", `output file ("-": stdout) (required)`)
	_ = cmd.MarkFlagRequired("fleet")
	_ = cmd.MarkFlagRequired("out")
	return cmd
}
