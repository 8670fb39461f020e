package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/certlab/certlab/iotda"
)

func attemptsCmd() *cobra.Command {
	var (
		targetPath string
		filter     iotda.LoginAttemptFilter
		reason     string
		asJSON     bool
		verbose    bool
	)
	cmd := &cobra.Command{
		Use:   "attempts",
		Short: "Show the reference platform's login-attempt log: every login, its reason and what to do about it",
		Long: `Show the reference platform's login diagnostics (GET /certlab/v1/login-attempts),
newest first: outcome, stage, reason and, with -v, the explanation and remedy and
the TLS and certificate facts the platform saw.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			t, err := iotda.LoadTarget(targetPath)
			if err != nil {
				return fmt.Errorf("attempts: %w", err)
			}
			c, err := t.Client()
			if err != nil {
				return fmt.Errorf("attempts: %w", err)
			}
			filter.Reason = iotda.Reason(reason)
			res, err := c.LoginAttempts(cmd.Context(), filter)
			if err != nil {
				return fmt.Errorf("attempts: %w", err)
			}
			out := cmd.OutOrStdout()
			if asJSON {
				enc := json.NewEncoder(out)
				enc.SetIndent("", "  ")
				return enc.Encode(res)
			}
			if verbose {
				for _, a := range res.Attempts {
					writeAttemptVerbose(out, a)
				}
			} else {
				tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
				fmt.Fprintln(tw, "TIME\tOUTCOME\tSTAGE\tREASON\tDEVICE\tMQTT\tTLS\tCERT SHA-256")
				for _, a := range res.Attempts {
					fp := a.CertSHA256
					if len(fp) > 16 {
						fp = fp[:16] + "…"
					}
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", a.Time, a.Outcome, a.Stage, a.Reason,
						orDash(a.DeviceID), mqttVersion(a.MQTTVersion), orDash(a.TLSVersion), orDash(fp))
				}
				if err := tw.Flush(); err != nil {
					return err
				}
			}
			fmt.Fprintf(out, "%d attempt(s)\n", len(res.Attempts))
			if res.Truncated {
				fmt.Fprintln(out, "(the page stopped at the platform's byte bound: use --device-id, --reason or a smaller --limit)")
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&targetPath, "target", "certlab-data/target.json", "target file of a certlab reference platform")
	f.StringVar(&filter.DeviceID, "device-id", "", "only this device")
	f.StringVar(&reason, "reason", "", "only this reason (e.g. fingerprint_mismatch, ok)")
	f.IntVar(&filter.Limit, "limit", 20, "at most this many attempts")
	f.BoolVar(&asJSON, "json", false, "print JSON")
	f.BoolVarP(&verbose, "verbose", "v", false, "print each attempt whole: explanation and remedy, TLS and certificate facts, MQTT CONNECT fields")
	return cmd
}

// writeAttemptVerbose prints one attempt as a block: the verdict line, the
// platform's explanation and remedy, then every fact it recorded.
func writeAttemptVerbose(w io.Writer, a iotda.LoginAttempt) {
	fmt.Fprintf(w, "%s  %s  %s", a.Time, strings.ToUpper(string(a.Outcome)), a.Reason)
	if a.Stage != "" {
		fmt.Fprintf(w, " (%s stage", a.Stage)
		if a.ConnackCode != 0 {
			fmt.Fprintf(w, ", CONNACK 0x%02x", a.ConnackCode)
		}
		fmt.Fprint(w, ")")
	}
	fmt.Fprintln(w)
	if a.Detail != "" {
		fmt.Fprintf(w, "  %s\n", a.Detail)
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	row := func(k, v string) {
		if v != "" {
			fmt.Fprintf(tw, "    %s\t%s\n", k, v)
		}
	}
	row("peer", a.Peer)
	tlsFacts := a.TLSVersion
	if a.CipherSuite != "" {
		tlsFacts += ", " + a.CipherSuite
	}
	if a.DidResume {
		tlsFacts += ", resumed"
	}
	if a.HandshakeMs > 0 {
		tlsFacts += fmt.Sprintf(", handshake %.1f ms", a.HandshakeMs)
	}
	row("tls", strings.TrimPrefix(tlsFacts, ", "))
	row("sni", a.ServerName)
	row("cert subject", a.CertSubject)
	row("cert issuer", a.CertIssuer)
	row("cert sha-256", a.CertSHA256)
	if a.CertNotBefore != "" || a.CertNotAfter != "" {
		row("cert validity", a.CertNotBefore+" to "+a.CertNotAfter)
	}
	row("cert key", a.CertKeyType)
	row("anchoring CA", a.CAID)
	if a.MQTTVersion != 0 {
		row("mqtt", fmt.Sprintf("%s, keepalive %d s", mqttVersion(a.MQTTVersion), a.Keepalive))
	}
	row("client id", a.ClientID)
	row("username", a.Username)
	row("device", a.DeviceID)
	row("project", a.ProjectID)
	_ = tw.Flush()
	fmt.Fprintln(w)
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// mqttVersion is "-" for an attempt that never reached CONNECT.
func mqttVersion(v iotda.MQTTVersion) string {
	if v == 0 {
		return "-"
	}
	return v.String()
}
