package main

// main_test.go runs the certlab command tree in-process (newRootCmd) against
// files in temporary directories and reference platforms started with
// platformtest: what each command writes, prints and returns (exitError
// carries the exit status).

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/certlab/certlab/iotda"
	"github.com/certlab/certlab/platform"
	"github.com/certlab/certlab/platform/platformtest"
	"github.com/certlab/certlab/sim/pki"
)

// cliTimeout bounds one command run.
const cliTimeout = 60 * time.Second

// runCLI runs `certlab args...` in-process and returns what it wrote to
// stdout and stderr and the error Execute returned.
func runCLI(t *testing.T, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	root := newRootCmd()
	var out, errOut bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&errOut)
	root.SetArgs(args)
	ctx, cancel := context.WithTimeout(t.Context(), cliTimeout)
	defer cancel()
	err = root.ExecuteContext(ctx)
	return out.String(), errOut.String(), err
}

// mustRunCLI runs `certlab args...` and fails the test unless it returns nil.
func mustRunCLI(t *testing.T, args ...string) string {
	t.Helper()
	out, errOut, err := runCLI(t, args...)
	if err != nil {
		t.Fatalf("certlab %s: %v\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), err, out, errOut)
	}
	return out
}

// requireExit checks that err is the exit status code (exitError).
func requireExit(t *testing.T, err error, code int) {
	t.Helper()
	var ee exitError
	if !errors.As(err, &ee) || ee.code != code {
		t.Fatalf("error = %v, want exitError{%d}", err, code)
	}
}

func TestHelpListsEveryCommand(t *testing.T) {
	out := mustRunCLI(t, "--help")
	want := []string{"platform", "bdd", "sim", "pki", "loadgen", "report", "attempts", "check"}
	for _, c := range newRootCmd().Commands() {
		if c.IsAvailableCommand() && !strings.Contains(strings.Join(want, " "), c.Name()) {
			want = append(want, c.Name()) // a command added later must be listed too
		}
	}
	for _, name := range want {
		if !strings.Contains(out, "\n  "+name+" ") {
			t.Errorf("certlab --help does not list %q:\n%s", name, out)
		}
	}
}

// TestPKI mints a CA, a device certificate and a verification certificate
// to files and reads them back as the device (and the platform) would.
// [CA-VERIFY]
func TestPKI(t *testing.T) {
	dir := t.TempDir()
	caDir, devDir := filepath.Join(dir, "ca"), filepath.Join(dir, "dev")
	mustRunCLI(t, "pki", "ca", "--out", caDir, "--cn", "cli test CA")
	ca, err := pki.CAFromFiles(filepath.Join(caDir, "ca.pem"), filepath.Join(caDir, "ca.key"))
	if err != nil {
		t.Fatalf("CA files: %v", err)
	}
	if ca.Cert.Subject.CommonName != "cli test CA" || !ca.Cert.IsCA {
		t.Errorf("CA = %q IsCA %v, want \"cli test CA\", a CA", ca.Cert.Subject.CommonName, ca.Cert.IsCA)
	}

	out := mustRunCLI(t, "pki", "device", "--ca", filepath.Join(caDir, "ca"), "--node-id", "a4c138000001", "--out", devDir)
	dev := requireLeafFiles(t, filepath.Join(devDir, "device"), "a4c138000001", ca)
	if !strings.Contains(out, dev.FingerprintSHA256()) {
		t.Errorf("output does not give the fingerprint %s to register:\n%s", dev.FingerprintSHA256(), out)
	}

	mustRunCLI(t, "pki", "verify-cert", "--ca", filepath.Join(caDir, "ca.pem"), "--verify-code", "7A1F2C", "--out", caDir)
	requireLeafFiles(t, filepath.Join(caDir, "verify"), "7A1F2C", ca)

	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"bad node ID", []string{"pki", "device", "--ca", filepath.Join(caDir, "ca"), "--node-id", "a4:c1:38", "--out", devDir}, "node IDs are 1-64"},
		{"empty verify code", []string{"pki", "verify-cert", "--ca", filepath.Join(caDir, "ca"), "--verify-code", " ", "--out", caDir}, "--verify-code is empty"},
		{"no CA", []string{"pki", "device", "--ca", filepath.Join(dir, "nothing"), "--node-id", "n1", "--out", devDir}, "read CA"},
		{"unknown key type", []string{"pki", "ca", "--out", caDir, "--key-type", "dsa"}, `key type "dsa"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := runCLI(t, tc.args...)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error = %v, want one mentioning %q", err, tc.want)
			}
		})
	}
}

// requireLeafFiles reads base.pem and base.key as a device would and checks
// the certificate's subject CN and that ca signed it.
func requireLeafFiles(t *testing.T, base, cn string, ca *pki.CA) *pki.Leaf {
	t.Helper()
	leaf, err := pki.LeafFromFiles(base+".pem", base+".key")
	if err != nil {
		t.Fatalf("read %s files: %v", base, err)
	}
	if leaf.Cert.Subject.CommonName != cn {
		t.Errorf("%s: CN = %q, want %q", base, leaf.Cert.Subject.CommonName, cn)
	}
	if err := leaf.Cert.CheckSignatureFrom(ca.Cert); err != nil {
		t.Errorf("%s: not signed by the CA: %v", base, err)
	}
	return leaf
}

// TestPlatformProjectAdd adds a project to a running platform through its
// admin token: the target file it writes works, and its credentials reach
// none of the first project's resources. [CA-QUOTA is per project]
func TestPlatformProjectAdd(t *testing.T) {
	p := platformtest.Start(t)
	first := platformtest.Client(t, p)
	ca, err := pki.NewRootCA("first project's CA")
	if err != nil {
		t.Fatal(err)
	}
	up, err := first.AddCertificate(t.Context(), iotda.CreateCertificateDto{Content: string(pki.CertPEM(ca.Cert))})
	if err != nil {
		t.Fatal(err)
	}

	out := mustRunCLI(t, "platform", "project", "add", "second", "--target", p.TargetPath())
	path := filepath.Join(filepath.Dir(p.TargetPath()), "target-second.json")
	if !strings.Contains(out, path) {
		t.Errorf("output does not name %s:\n%s", path, out)
	}
	tg, err := iotda.LoadTarget(path)
	if err != nil {
		t.Fatalf("target-second.json: %v", err)
	}
	if tg.ProjectID == p.Target().ProjectID || tg.AccessKey == p.Target().AccessKey || tg.AdminToken != "" {
		t.Errorf("second target: project %s key %s admin token set %v; want its own project and key, no admin token",
			tg.ProjectID, tg.AccessKey, tg.AdminToken != "")
	}
	second, err := tg.Client()
	if err != nil {
		t.Fatal(err)
	}
	list, err := second.ListCertificates(t.Context(), iotda.ListOptions{Limit: 10})
	if err != nil || list.Page.Count != 0 || len(list.Certificates) != 0 {
		t.Fatalf("second project's certificates = %+v, %v; want none", list, err)
	}
	if _, err := second.ShowCertificate(t.Context(), up.CertificateID); !iotda.IsCode(err, iotda.CodeNotFound) {
		t.Errorf("second project shows the first's CA: %v, want %s", err, iotda.CodeNotFound)
	}
	if err := second.DeleteCertificate(t.Context(), up.CertificateID); err == nil {
		t.Error("second project deleted the first's CA")
	}
	// The second project's keys on the first project's path: refused.
	cross := *tg
	cross.ProjectID = p.Target().ProjectID
	crossClient, err := cross.Client()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := crossClient.ListCertificates(t.Context(), iotda.ListOptions{}); !iotda.IsCode(err, iotda.CodeForbidden) {
		t.Errorf("second project's keys on the first project: %v, want %s", err, iotda.CodeForbidden)
	}
	if _, err := first.ShowCertificate(t.Context(), up.CertificateID); err != nil {
		t.Errorf("first project's CA after the second project's attempts: %v", err)
	}

	// Without an admin token the platform refuses to add a project.
	if _, _, err := runCLI(t, "platform", "project", "add", "third", "--target", path); err == nil {
		t.Error("project add with a target that has no admin token succeeded")
	}
}

func TestBDD(t *testing.T) {
	t.Run("passes on the reference platform", func(t *testing.T) {
		p := platformtest.Start(t)
		junit := filepath.Join(t.TempDir(), "junit.xml")
		out := mustRunCLI(t, "bdd", "--target", p.TargetPath(), "--tags", "@CA-UPLOAD", "--format", "progress", "--junit", junit)
		if !strings.Contains(out, "CA-UPLOAD") {
			t.Errorf("output has no CA-UPLOAD row:\n%s", out)
		}
		if data, err := os.ReadFile(junit); err != nil || !bytes.Contains(data, []byte("<testsuites")) {
			t.Errorf("JUnit report: %v\n%s", err, data)
		}
	})
	t.Run("a tag expression that selects nothing fails and names the typo", func(t *testing.T) {
		_, _, err := runCLI(t, "bdd", "--tags", "@CA-QUOTE or @NOPE")
		if err == nil || !strings.Contains(err.Error(), "@CA-QUOTE is not a tag of any scenario (did you mean @CA-QUOTA?)") ||
			!strings.Contains(err.Error(), "@NOPE is not a tag") {
			t.Fatalf("bdd --tags with typos: %v", err)
		}
	})
	t.Run("a wrong secret key is one pre-flight line, not a suite of failures", func(t *testing.T) {
		p := platformtest.Start(t)
		bad := *p.Target()
		bad.SecretKey += "x"
		path := filepath.Join(t.TempDir(), "target.json")
		if err := bad.Save(path); err != nil {
			t.Fatal(err)
		}
		out, _, err := runCLI(t, "bdd", "--target", path, "--format", "progress")
		if err == nil || !strings.Contains(err.Error(), "check secret_key in target.json") || strings.Contains(out, "scenarios") {
			t.Fatalf("bdd with a wrong secret key: %v\n%s", err, out)
		}
	})
	t.Run("exits 1 on a platform that breaks CA-QUOTA", func(t *testing.T) {
		p := platformtest.Start(t, func(c *platform.Config) { c.MaxCAsPerProject = 101 })
		out, _, err := runCLI(t, "bdd", "--target", p.TargetPath(), "--tags", "@CA-QUOTA", "--format", "progress")
		requireExit(t, err, 1)
		if !strings.Contains(out, "IOTDA.014302") {
			t.Errorf("output does not say which code was missing:\n%s", out)
		}
	})
}

// TestCheckAndAttempts walks the procedure a vendor follows with the CLI:
// mint a CA and prove possession (certlab pki), register a device, check
// it (compatible: nil; an unregistered one: exit 2), then read the
// platform's login-attempt log (certlab attempts).
func TestCheckAndAttempts(t *testing.T) {
	p := platformtest.Start(t)
	c := platformtest.Client(t, p)
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	dir := t.TempDir()
	caBase := filepath.Join(dir, "ca", "ca")
	mustRunCLI(t, "pki", "ca", "--out", filepath.Dir(caBase), "--cn", "cli check CA")
	caPEM, err := os.ReadFile(caBase + ".pem")
	if err != nil {
		t.Fatal(err)
	}
	up, err := c.AddCertificate(ctx, iotda.CreateCertificateDto{Content: string(caPEM)})
	if err != nil {
		t.Fatalf("upload CA: %v", err)
	}
	mustRunCLI(t, "pki", "verify-cert", "--ca", caBase, "--verify-code", up.VerifyCode, "--out", dir)
	verifyPEM, err := os.ReadFile(filepath.Join(dir, "verify.pem"))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.CheckCertificate(ctx, up.CertificateID, iotda.VerifyCertificateDto{VerifyContent: string(verifyPEM)}); err != nil {
		t.Fatalf("verify CA with certlab's verify.pem: %v", err)
	}
	const product = "cliprod"
	pid := product
	if _, err := c.CreateProduct(ctx, iotda.AddProduct{ProductID: &pid, Name: product, DeviceType: "sensor", ProtocolType: iotda.ProtocolMQTT, DataFormat: "json"}); err != nil {
		t.Fatalf("create product: %v", err)
	}
	good, bad := filepath.Join(dir, "good"), filepath.Join(dir, "bad")
	mustRunCLI(t, "pki", "device", "--ca", caBase, "--node-id", "SN0001", "--out", good)
	mustRunCLI(t, "pki", "device", "--ca", caBase, "--node-id", "SN0002", "--out", bad)
	leaf, err := pki.LeafFromFiles(filepath.Join(good, "device.pem"), filepath.Join(good, "device.key"))
	if err != nil {
		t.Fatal(err)
	}
	auth, fp := iotda.AuthCertificates, leaf.FingerprintSHA256()
	if _, err := c.AddDevice(ctx, iotda.AddDevice{NodeID: "SN0001", ProductID: product, AuthInfo: &iotda.AuthInfo{AuthType: &auth, Fingerprint: &fp}}); err != nil {
		t.Fatalf("add device: %v", err)
	}

	out, errOut, err := runCLI(t, "check", "--target", p.TargetPath(), "--cert", filepath.Join(good, "device.pem"),
		"--key", filepath.Join(good, "device.key"), "--device-id", product+"_SN0001")
	if err != nil {
		t.Fatalf("check of a registered device: %v\nstdout:\n%s\nstderr:\n%s", err, out, errOut)
	}
	// As the README shows it, without --device-id: found by its fingerprint.
	out, errOut, err = runCLI(t, "check", "--target", p.TargetPath(), "--cert", filepath.Join(good, "device.pem"),
		"--key", filepath.Join(good, "device.key"))
	if err != nil || !strings.Contains(out, product+"_SN0001: its SHA-256 fingerprint matches") {
		t.Fatalf("check without --device-id: %v\nstdout:\n%s\nstderr:\n%s", err, out, errOut)
	}
	// A target whose MQTT endpoint is dead: the check could not run (1), it
	// is not a verdict on the device (2).
	dead := *p.Target()
	dead.MQTTEndpoint = "127.0.0.1:1"
	deadPath := filepath.Join(dir, "dead-target.json")
	if err := dead.Save(deadPath); err != nil {
		t.Fatal(err)
	}
	_, _, err = runCLI(t, "check", "--target", deadPath, "--cert", filepath.Join(good, "device.pem"), "--key", filepath.Join(good, "device.key"))
	if ee, ok := errors.AsType[exitError](err); ok && ee.code != 1 {
		t.Errorf("check against a dead MQTT endpoint exits %d, want 1 (main prints a plain error and exits 1)", ee.code)
	}
	if err == nil || !strings.Contains(err.Error(), "mqtt_endpoint in dead-target.json") {
		t.Errorf("check against a dead MQTT endpoint: %v, want the pre-flight naming mqtt_endpoint", err)
	}
	// SN0002 was never registered. [LOGIN-SUCCESS]
	out, _, err = runCLI(t, "check", "--target", p.TargetPath(), "--cert", filepath.Join(bad, "device.pem"),
		"--key", filepath.Join(bad, "device.key"), "--device-id", product+"_SN0002")
	requireExit(t, err, exitCheckIncompatible)
	if !strings.Contains(out, string(iotda.ReasonDeviceNotFound)) {
		t.Errorf("check report of an unregistered device does not say %s:\n%s", iotda.ReasonDeviceNotFound, out)
	}

	out = mustRunCLI(t, "attempts", "--target", p.TargetPath())
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) < 3 || !strings.HasPrefix(lines[0], "TIME") || !strings.Contains(lines[0], "REASON") {
		t.Fatalf("attempts table:\n%s", out)
	}
	for _, want := range []string{string(iotda.ReasonOK), string(iotda.ReasonDeviceNotFound), product + "_SN0001", "attempt(s)"} {
		if !strings.Contains(out, want) {
			t.Errorf("attempts table lacks %q:\n%s", want, out)
		}
	}
	// -v shows what its help promises: explanation and remedy, TLS and
	// certificate facts, the CONNECT fields.
	out = mustRunCLI(t, "attempts", "--target", p.TargetPath(), "--reason", string(iotda.ReasonDeviceNotFound), "-v")
	for _, want := range []string{"REFUSED  device_not_found (connect stage, CONNACK 0x04)", "Register the device",
		"tls ", "TLS 1.3", "cert subject", "cert sha-256", "cert key", "ECDSA P-256", "client id", product + "_SN0002_0_0_", "keepalive 120 s"} {
		if !strings.Contains(out, want) {
			t.Errorf("attempts -v lacks %q:\n%s", want, out)
		}
	}
	out = mustRunCLI(t, "attempts", "--target", p.TargetPath(), "--reason", "ok", "--json")
	if !strings.Contains(out, `"reason": "ok"`) || strings.Contains(out, string(iotda.ReasonDeviceNotFound)) {
		t.Errorf("attempts --reason ok --json:\n%s", out)
	}
}

// TestReport renders the reports package's golden summary.
func TestReport(t *testing.T) {
	fixture := filepath.Join("..", "..", "reports", "testdata", "summary.golden.json")
	for _, tc := range []struct {
		name     string
		args     []string
		wantExit int // -1: nil error
		wantOut  string
	}{
		{"renders", nil, -1, "198.5 logins/s"},
		{"threshold met", []string{"--min-rate", "100"}, -1, "check login rate   pass"},
		{"threshold violated", []string{"--min-rate", "1000"}, 1, "check login rate   FAIL"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			md, js := filepath.Join(dir, "r.md"), filepath.Join(dir, "r.json")
			out, _, err := runCLI(t, append([]string{"report", fixture, "--md", md, "--json", js}, tc.args...)...)
			if tc.wantExit < 0 && err != nil {
				t.Fatalf("report: %v\n%s", err, out)
			}
			if tc.wantExit >= 0 {
				requireExit(t, err, tc.wantExit)
			}
			if !strings.Contains(out, tc.wantOut) || !strings.Contains(out, "PLATFORM") {
				t.Errorf("output lacks %q:\n%s", tc.wantOut, out)
			}
			for _, f := range []string{md, js} {
				if st, err := os.Stat(f); err != nil || st.Size() == 0 {
					t.Errorf("%s not written: %v", f, err)
				}
			}
		})
	}
	if _, _, err := runCLI(t, "report", filepath.Join(t.TempDir(), "missing.jsonl")); err == nil {
		t.Error("report of a missing file succeeded")
	}
}

// TestTargetCheck pre-flights the platform's own target file (exit 0) and a
// copy with a wrong secret key (exit 1, naming the field).
func TestTargetCheck(t *testing.T) {
	p := platformtest.Start(t)
	out := mustRunCLI(t, "target", "check", p.TargetPath())
	for _, want := range []string{"OK    api-credentials", "OK    mqtt-tls"} {
		if !strings.Contains(out, want) {
			t.Errorf("target check output lacks %q:\n%s", want, out)
		}
	}
	bad := *p.Target()
	bad.SecretKey += "x"
	badPath := filepath.Join(filepath.Dir(p.TargetPath()), "bad-target.json")
	if err := bad.Save(badPath); err != nil {
		t.Fatal(err)
	}
	out, _, err := runCLI(t, "target", "check", badPath)
	requireExit(t, err, 1)
	if !strings.Contains(out, "check secret_key in bad-target.json") {
		t.Errorf("target check of a wrong secret key does not name it:\n%s", out)
	}
}
