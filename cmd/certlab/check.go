package main

import (
	"crypto/tls"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/certlab/certlab/check"
	"github.com/certlab/certlab/iotda"
	"github.com/certlab/certlab/loadgen/host"
	"github.com/certlab/certlab/sim/pki"
)

// Exit codes of certlab check.
const (
	exitCheckIncompatible = 2 // the device did not log in; the report says why
)

func checkCmd() *cobra.Command {
	var (
		targetPath, certPath, keyPath, mqtt string
		p12Path, p12Password, tlsVersion    string
		cfg                                 check.Config
		asJSON, noPreflight                 bool
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
--key its private key (PKCS#8, PKCS#1 or SEC 1); both PEM or DER. A PKCS#12
file (.p12, .pfx) goes in --p12 instead, with --p12-password (or the
CERTLAB_P12_PASSWORD environment variable).

Without --device-id the device is looked up in the project: a device whose
registered fingerprint (SHA-256 or SHA-1) matches the certificate, else the
device whose node_id or device_id is the certificate's subject CN. The report
says which matched.

The target is pre-flighted first (as "certlab target check" does): an API or MQTT
endpoint that cannot be reached, an untrusted server certificate or refused
credentials end the check with exit status 1.

Exit status: 0 compatible, 2 incompatible (the report says why), 1 the check could
not run (bad flags or files, target unreachable, credentials refused).`,
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
			switch tlsVersion {
			case "auto":
			case "1.2":
				cfg.TLSVersion = tls.VersionTLS12
			case "1.3":
				cfg.TLSVersion = tls.VersionTLS13
			default:
				return fmt.Errorf("check: --tls %q: want 1.2, 1.3 or auto", tlsVersion)
			}
			switch {
			case p12Path != "" && (certPath != "" || keyPath != ""):
				return errors.New("check: give either --p12 or --cert/--key, not both")
			case p12Path != "":
				if p12Password == "" {
					p12Password = os.Getenv("CERTLAB_P12_PASSWORD")
				}
				cfg.Leaf, err = pki.LeafFromPKCS12(p12Path, p12Password)
			case certPath == "":
				return errors.New("check: --cert (or --p12) is required")
			default:
				if keyPath == "" {
					keyPath = certPath
				}
				cfg.Leaf, err = pki.LeafFromFiles(certPath, keyPath)
			}
			if err != nil {
				return fmt.Errorf("check: %w", err)
			}
			// A target file only: a platform started here, in a fresh
			// directory, would hold neither the device's CA nor the device,
			// so the check could only ever fail.
			server, err := host.OpenServer(cmd.Context(), host.ServerSpec{TargetFile: targetPath, NoPreflight: noPreflight})
			if err != nil {
				return fmt.Errorf("check: %w", err)
			}
			defer server.Close()
			if err := server.Target.RequireAPI("certlab check (it reads the device's registration and login attempts)"); err != nil {
				return fmt.Errorf("check: %w", err)
			}
			cfg.Target = server.Target
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
			switch {
			case r.Inconclusive != "":
				return exitError{1}
			case !r.Compatible:
				return exitError{exitCheckIncompatible}
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&targetPath, "target", "", "target file of the platform (required)")
	f.StringVar(&certPath, "cert", "", "device certificate (PEM or DER), followed by any intermediates it presents")
	f.StringVar(&keyPath, "key", "", "device private key, PEM or DER (default: the --cert file)")
	f.StringVar(&cfg.DeviceID, "device-id", "", "device_id to log in as (default: found by the certificate's fingerprint, else node_id or device_id = its CN)")
	f.StringVar(&p12Path, "p12", "", "device certificate, chain and key as one PKCS#12 file (instead of --cert and --key)")
	f.StringVar(&p12Password, "p12-password", "", "password of --p12 (default: $CERTLAB_P12_PASSWORD)")
	f.StringVar(&tlsVersion, "tls", "auto", "TLS version of the login: 1.2, 1.3 or auto")
	f.BoolVar(&noPreflight, "no-preflight", false, "skip the target pre-flight")
	f.StringVar(&mqtt, "mqtt", iotda.MQTT311.String(), "MQTT version: 3.1.1 or 5")
	f.BoolVar(&asJSON, "json", false, "print the report as JSON")
	f.DurationVar(&cfg.ConnectTimeout, "connect-timeout", check.DefaultConnectTimeout, "deadline for TCP + TLS + CONNECT -> CONNACK")
	f.DurationVar(&cfg.AttemptWait, "attempt-wait", check.DefaultAttemptWait, "how long to wait for the platform's record of the login")
	f.DurationVar(&cfg.APITimeout, "api-timeout", 15*time.Second, "deadline of each API call")
	return cmd
}
