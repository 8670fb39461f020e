package main

import (
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/certlab/certlab/check"
	"github.com/certlab/certlab/iotda"
	"github.com/certlab/certlab/sim/pki"
)

// Exit codes of certlab check.
const (
	exitCheckIncompatible = 2 // the device did not log in; the report says why
)

func checkCmd() *cobra.Command {
	var (
		targetPath, certPath, keyPath, mqtt string
		cfg                                 check.Config
		asJSON                              bool
	)
	cmd := &cobra.Command{
		Use:   "check --target FILE --cert DEVICE.pem --key DEVICE.key",
		Short: "Check that a device certificate logs in, and explain why it does not",
		Long: `Check a device's compatibility with a platform: lint the device certificate
against what the platform demands (key, signature algorithm, validity, clientAuth,
chain to an uploaded and verified CA of the project, registered fingerprint), then
log the device in for real over MQTTS and print a report with the TLS version and
cipher negotiated, the outcome, the platform's reason and a remedy for each problem.

--cert holds the device certificate followed by any intermediates it presents;
--key its private key (PKCS#8, PKCS#1 or SEC 1 PEM). The device ID defaults to
the certificate's subject CN.

Exit status: 0 compatible, 2 incompatible (the report says why), 1 the check could
not run.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if targetPath == "" {
				return errors.New("check: --target FILE is required (certlab platform writes DIR/target.json)")
			}
			v, err := iotda.ParseMQTTVersion(mqtt)
			if err != nil {
				return fmt.Errorf("check: --mqtt: %w", err)
			}
			cfg.MQTTVersion = v
			if keyPath == "" {
				keyPath = certPath
			}
			if cfg.Leaf, err = pki.LeafFromFiles(certPath, keyPath); err != nil {
				return fmt.Errorf("check: %w", err)
			}
			t, _, cleanup, err := resolveTarget(cmd.Context(), targetPath, embeddedOptions{})
			if err != nil {
				return fmt.Errorf("check: %w", err)
			}
			defer cleanup()
			cfg.Target = t
			r, err := check.Run(cmd.Context(), cfg)
			if err != nil {
				return err
			}
			if asJSON {
				err = r.WriteJSON(cmd.OutOrStdout())
			} else {
				err = r.WriteText(cmd.OutOrStdout())
			}
			if err != nil {
				return err
			}
			if !r.Compatible {
				return exitError{exitCheckIncompatible}
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&targetPath, "target", "", "target file of the platform (required)")
	f.StringVar(&certPath, "cert", "", "device certificate PEM, followed by any intermediates it presents (required)")
	f.StringVar(&keyPath, "key", "", "device private key PEM (default: the --cert file)")
	f.StringVar(&cfg.DeviceID, "device-id", "", "device_id to log in as (default: the certificate's subject CN)")
	f.StringVar(&mqtt, "mqtt", iotda.MQTT311.String(), "MQTT version: 3.1.1 or 5")
	f.BoolVar(&asJSON, "json", false, "print the report as JSON")
	f.DurationVar(&cfg.ConnectTimeout, "connect-timeout", check.DefaultConnectTimeout, "deadline for TCP + TLS + CONNECT -> CONNACK")
	f.DurationVar(&cfg.AttemptWait, "attempt-wait", check.DefaultAttemptWait, "how long to wait for the platform's record of the login")
	f.DurationVar(&cfg.APITimeout, "api-timeout", 15*time.Second, "deadline of each API call")
	_ = cmd.MarkFlagRequired("cert")
	return cmd
}
