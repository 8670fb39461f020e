package main

import (
	"fmt"
	"io"
	"path/filepath"
	"regexp"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/certlab/certlab/iotda"
	"github.com/certlab/certlab/sim/pki"
)

func pkiCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "pki",
		Short: "Mint CAs, device certificates and verification certificates to files, for testing real devices",
		Long: `Mint the X.509 material a device needs to log in to IoTDA with a certificate:

  1. certlab pki ca --out ca/                      a device CA (ca/ca.pem, ca/ca.key)
  2. upload ca/ca.pem to the platform; it answers with a verify_code
  3. certlab pki verify-cert --ca ca/ca --verify-code CODE --out ca/
                                                   ca/verify.pem, proof that you hold the CA key
  4. certlab pki device --ca ca/ca --node-id ID --out dev/
                                                   dev/device.pem, dev/device.key and the
                                                   fingerprints to register the device with

"certlab pki variants" lists the deliberately bad certificates "device --variant"
can make, with the login outcome each must produce. "certlab pki fleet-ca" exports
a fleet's device CAs for the trust store of a broker that is not certlab's platform.`,
	}
	cmd.AddCommand(pkiCACmd(), pkiDeviceCmd(), pkiVerifyCertCmd(), pkiVariantsCmd(), pkiFleetCACmd())
	return cmd
}

var keyTypeHelp = strings.Join([]string{string(pki.ECDSAP256), string(pki.ECDSAP384), string(pki.ECDSAP521), string(pki.RSA2048),
	string(pki.RSA3072), string(pki.RSA4096), string(pki.Ed25519)}, ", ")

func pkiCACmd() *cobra.Command {
	var out, cn, org, keyType string
	cmd := &cobra.Command{
		Use:   "ca",
		Short: "Mint a self-signed device CA: OUT/ca.pem and OUT/ca.key",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			kt, err := parseKeyType(keyType)
			if err != nil {
				return err
			}
			ca, err := pki.NewRootCA(cn, pki.WithKeyType(kt), pki.WithOrganization(org))
			if err != nil {
				return err
			}
			if err := ca.WriteFiles(out, "ca"); err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			fmt.Fprintf(w, "CA %q (%s), valid until %s\n", ca.Cert.Subject.CommonName, pki.KeyDescription(ca.Key),
				ca.Cert.NotAfter.Format("2006-01-02"))
			printFiles(w, filepath.Join(out, "ca"))
			fmt.Fprintf(w, "  SHA-256  %s\n", pki.FingerprintSHA256(ca.Cert))
			fmt.Fprintln(w, "Upload ca.pem to the platform, then prove possession with: certlab pki verify-cert --ca", filepath.Join(out, "ca"), "--verify-code CODE --out", out)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&out, "out", "", "output directory (required)")
	f.StringVar(&cn, "cn", "certlab device CA", "subject common name")
	f.StringVar(&org, "org", "certlab", "subject organization (shown as the CA owner)")
	f.StringVar(&keyType, "key-type", string(pki.ECDSAP256), "key type: "+keyTypeHelp)
	_ = cmd.MarkFlagRequired("out")
	return cmd
}

// nodeIDRule is IoTDA's node_id: 1–64 of [A-Za-z0-9_-]. [DEV-NODEID]
var nodeIDRule = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

func pkiDeviceCmd() *cobra.Command {
	var caBase, nodeID, out, variant, keyType string
	cmd := &cobra.Command{
		Use:   "device",
		Short: "Mint a device certificate signed by a CA: OUT/device.pem and OUT/device.key",
		Long: `Mint a device certificate with subject CN = the node ID, signed by the CA at
--ca (CA.pem and CA.key; "--ca dir/ca" reads dir/ca.pem and dir/ca.key).
--variant makes one of the catalogue's bad certificates instead ("certlab pki
variants" lists them); device.pem then holds whatever chain the device must present.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if !nodeIDRule.MatchString(nodeID) {
				return fmt.Errorf("--node-id %q: IoTDA node IDs are 1-64 of [A-Za-z0-9_-] (a MAC without colons, a serial number or an IMEI)", nodeID)
			}
			v, err := pki.ParseVariant(variant)
			if err != nil {
				return err
			}
			vc, _ := pki.Lookup(v)
			ca, err := readCA(caBase)
			if err != nil {
				return err
			}
			var leaf *pki.Leaf
			if cmd.Flags().Changed("key-type") {
				if v != pki.VariantValid {
					return fmt.Errorf("--key-type applies to the valid variant only; %s fixes its own key", v)
				}
				kt, err := parseKeyType(keyType)
				if err != nil {
					return err
				}
				leaf, err = ca.NewDeviceCert(nodeID, pki.WithKeyType(kt))
				if err != nil {
					return err
				}
			} else if leaf, err = ca.NewVariant(v, nodeID); err != nil {
				return err
			}
			if err := leaf.WriteFiles(out, "device"); err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			fmt.Fprintf(w, "device certificate %q (%s, variant %s), valid %s to %s\n", nodeID, pki.KeyDescription(leaf.Key), v,
				leaf.Cert.NotBefore.Format("2006-01-02"), leaf.Cert.NotAfter.Format("2006-01-02"))
			printFiles(w, filepath.Join(out, "device"))
			fmt.Fprintf(w, "  SHA-256  %s\n  SHA-1    %s\n", leaf.FingerprintSHA256(), leaf.FingerprintSHA1())
			fmt.Fprintf(w, "expected login outcome: %s\n", vc.WantReason)
			if vc.Remedy != "" {
				fmt.Fprintf(w, "note: %s\n", vc.Remedy)
			}
			fmt.Fprintf(w, "register it as auth_type %s with node_id %s and fingerprint %s;\n", iotda.AuthCertificates, nodeID, leaf.FingerprintSHA256())
			fmt.Fprintf(w, "log in with ClientId {device_id}_0_0_{YYYYMMDDHH} (UTC) and username {device_id}\n")
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&caBase, "ca", "", "CA files without extension: reads CA.pem and CA.key (required)")
	f.StringVar(&nodeID, "node-id", "", "node ID: the subject CN (required)")
	f.StringVar(&out, "out", "", "output directory (required)")
	f.StringVar(&variant, "variant", string(pki.VariantValid), "certificate variant (see: certlab pki variants)")
	f.StringVar(&keyType, "key-type", string(pki.ECDSAP256), "key type of a valid certificate: "+keyTypeHelp)
	for _, name := range []string{"ca", "node-id", "out"} {
		_ = cmd.MarkFlagRequired(name)
	}
	return cmd
}

func pkiVerifyCertCmd() *cobra.Command {
	var caBase, code, out string
	cmd := &cobra.Command{
		Use:   "verify-cert",
		Short: "Mint the proof-of-possession certificate for a CA's verify_code: OUT/verify.pem",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if strings.TrimSpace(code) == "" {
				return fmt.Errorf("--verify-code is empty: copy it from the uploaded CA (verify_code)")
			}
			ca, err := readCA(caBase)
			if err != nil {
				return err
			}
			// [CA-VERIFY] subject CN = verify_code, signed by the CA's key.
			leaf, err := ca.NewVerificationCert(code)
			if err != nil {
				return err
			}
			if err := leaf.WriteFiles(out, "verify"); err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			fmt.Fprintf(w, "verification certificate CN=%q signed by %q\n", code, ca.Cert.Subject.CommonName)
			printFiles(w, filepath.Join(out, "verify"))
			fmt.Fprintln(w, "Send verify.pem as verify_content to the CA's verify action (POST .../certificates/{id}/action?action_id=verify).")
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&caBase, "ca", "", "CA files without extension: reads CA.pem and CA.key (required)")
	f.StringVar(&code, "verify-code", "", "the CA's verify_code (required)")
	f.StringVar(&out, "out", "", "output directory (required)")
	for _, name := range []string{"ca", "verify-code", "out"} {
		_ = cmd.MarkFlagRequired(name)
	}
	return cmd
}

func pkiVariantsCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "variants",
		Short: "List the device-certificate variants with their expected login outcome",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return writeVariants(cmd.OutOrStdout())
		},
	}
}

func writeVariants(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "VARIANT\tEXPECTED\tDESCRIPTION")
	for _, c := range pki.Catalogue {
		fmt.Fprintf(tw, "%s\t%s\t%s\n", c.Name, c.WantReason, c.Desc)
		if c.Remedy != "" {
			fmt.Fprintf(tw, "\t\tremedy: %s\n", c.Remedy)
		}
	}
	return tw.Flush()
}

// readCA reads base.pem and base.key ("dir/ca" or "dir/ca.pem" both work).
func readCA(base string) (*pki.CA, error) {
	base = strings.TrimSuffix(strings.TrimSuffix(base, pki.CertSuffix), pki.KeySuffix)
	return pki.CAFromFiles(base+pki.CertSuffix, base+pki.KeySuffix)
}

func parseKeyType(s string) (pki.KeyType, error) {
	switch kt := pki.KeyType(s); kt {
	case pki.ECDSAP256, pki.ECDSAP384, pki.ECDSAP521, pki.RSA2048, pki.RSA3072, pki.RSA4096, pki.Ed25519:
		return kt, nil
	}
	return "", fmt.Errorf("key type %q: want one of %s", s, keyTypeHelp)
}

func printFiles(w io.Writer, base string) {
	fmt.Fprintf(w, "  wrote    %s, %s\n", base+pki.CertSuffix, base+pki.KeySuffix)
}
