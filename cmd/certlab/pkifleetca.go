package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/certlab/certlab/loadgen"
	"github.com/certlab/certlab/sim/fleet"
	"github.com/certlab/certlab/sim/pki"
)

// pkiFleetCACmd exports the fleet's device CAs for a broker that is not
// certlab's platform: nothing uploads them there, so its configuration must
// name them (mosquitto: cafile).
func pkiFleetCACmd() *cobra.Command {
	var fp loadgen.FleetPlan
	var keyType, out string
	cmd := &cobra.Command{
		Use:   "fleet-ca",
		Short: "Write a fleet's device CA certificates as one PEM bundle, for a broker's trust store (mosquitto: cafile)",
		Long: `Write the device CA certificates of the fleet in --fleet as one PEM bundle, for
an MQTT broker that logs the fleet's devices in by their certificates:
mosquitto's cafile, EMQX's cacertfile, a HiveMQ truststore. With --devices the
fleet is minted first unless it already holds that many devices of --key-type
(the rule certlab loadgen --fleet follows, so a later loadgen run with the
same --fleet, --devices and --key-type reuses it). Then run
certlab loadgen --target FILE --skip-prepare with a target file that has no
api_endpoint (see the README, "loadgen against your own broker").

Example:
  certlab pki fleet-ca --fleet fleet --devices 1000 --out fleet-ca.pem`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			fp.KeyType = pki.KeyType(keyType)
			var f *fleet.Fleet
			var err error
			if fp.Devices > 0 {
				f, err = loadgen.OpenFleet(cmd.Context(), fp, cmd.ErrOrStderr())
			} else {
				f, err = fleet.Load(fp.Dir)
			}
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
			fmt.Fprintf(cmd.OutOrStdout(), "%d device CA certificate(s) of fleet %s (%d %s devices in %s) written to %s\n",
				len(f.CAs()), f.ID, f.Len(), f.Spec.KeyType, fp.Dir, out)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&fp.Dir, "fleet", "", "fleet directory (required)")
	f.IntVar(&fp.Devices, "devices", 0, "mint the fleet with this many devices unless it holds them already (0: the fleet must exist)")
	f.IntVar(&fp.CAs, "cas", 1, "device CAs when minting (1..100)")
	f.StringVar(&keyType, "key-type", string(pki.ECDSAP256), "device key type when minting (as certlab loadgen --key-type)")
	f.StringVar(&out, "out", "", `output file ("-": stdout) (required)`)
	_ = cmd.MarkFlagRequired("fleet")
	_ = cmd.MarkFlagRequired("out")
	return cmd
}
