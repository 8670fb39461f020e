package check_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/certlab/certlab/check"
	"github.com/certlab/certlab/iotda"
	"github.com/certlab/certlab/platform/platformtest"
	"github.com/certlab/certlab/sim/pki"
)

const productID = "check-product"

// fixture is one running platform with a verified CA and an MQTT product.
type fixture struct {
	target *iotda.Target
	client *iotda.Client
	ca     *pki.CA
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	p := platformtest.Start(t)
	f := &fixture{target: p.Target(), client: platformtest.Client(t, p)}
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	f.ca = f.uploadCA(t, ctx, "check test CA", true)
	pid := productID
	if _, err := f.client.CreateProduct(ctx, iotda.AddProduct{ProductID: &pid, Name: "check", DeviceType: "sensor", ProtocolType: iotda.ProtocolMQTT, DataFormat: "json"}); err != nil {
		t.Fatalf("create product: %v", err)
	}
	return f
}

// uploadCA uploads a fresh root CA and, if verify, proves possession of it.
func (f *fixture) uploadCA(t *testing.T, ctx context.Context, cn string, verify bool) *pki.CA {
	t.Helper()
	ca, err := pki.NewRootCA(cn)
	if err != nil {
		t.Fatal(err)
	}
	up, err := f.client.AddCertificate(ctx, iotda.CreateCertificateDto{Content: string(pki.CertPEM(ca.Cert))})
	if err != nil {
		t.Fatalf("upload CA: %v", err)
	}
	if !verify {
		return ca
	}
	v, err := ca.NewVerificationCert(up.VerifyCode)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.client.CheckCertificate(ctx, up.CertificateID, iotda.VerifyCertificateDto{VerifyContent: string(pki.CertPEM(v.Cert))}); err != nil {
		t.Fatalf("verify CA: %v", err)
	}
	return ca
}

// register adds a CERTIFICATES device with the given primary fingerprint ("" = none).
func (f *fixture) register(t *testing.T, ctx context.Context, nodeID, fingerprint string) string {
	t.Helper()
	auth := iotda.AuthCertificates
	in := iotda.AddDevice{NodeID: nodeID, ProductID: productID, AuthInfo: &iotda.AuthInfo{AuthType: &auth}}
	if fingerprint != "" {
		in.AuthInfo.Fingerprint = &fingerprint
	}
	d, err := f.client.AddDevice(ctx, in)
	if err != nil {
		t.Fatalf("add device %s: %v", nodeID, err)
	}
	return d.DeviceID
}

func (f *fixture) run(t *testing.T, ctx context.Context, leaf *pki.Leaf, deviceID string, mqtt iotda.MQTTVersion) *check.Report {
	t.Helper()
	r, err := check.Run(ctx, check.Config{Target: f.target, Leaf: leaf, DeviceID: deviceID, MQTTVersion: mqtt, AttemptWait: 2 * time.Second})
	if err != nil {
		t.Fatalf("check: %v", err)
	}
	return r
}

// requireExplained checks the verdict, that a remedy is given, and that the
// text and JSON reports say the same.
func requireExplained(t *testing.T, r *check.Report, wantReason iotda.Reason, wantRemedy string) {
	t.Helper()
	var text bytes.Buffer
	if err := r.WriteText(&text); err != nil {
		t.Fatal(err)
	}
	if t.Failed() || testing.Verbose() {
		defer func() { t.Logf("report:\n%s", text.String()) }()
	}
	wantOK := wantReason == iotda.ReasonOK
	if r.Compatible != wantOK || r.Reason != wantReason {
		t.Errorf("verdict compatible=%v reason=%q, want compatible=%v reason=%q (%s)", r.Compatible, r.Reason, wantOK, wantReason, r.Explanation)
	}
	if !wantOK {
		if r.Remedy == "" {
			t.Errorf("incompatible report without a remedy")
		}
		if !strings.Contains(text.String(), "INCOMPATIBLE ("+string(wantReason)+")") || !strings.Contains(text.String(), "remedy: "+r.Remedy) {
			t.Errorf("text report does not state the reason %s and the remedy", wantReason)
		}
	}
	if wantRemedy != "" && !hasRemedy(r, wantRemedy) {
		t.Errorf("no problem carries the remedy %q; remedy %q, problems %+v", wantRemedy, r.Remedy, r.Problems)
	}
	var js bytes.Buffer
	if err := r.WriteJSON(&js); err != nil {
		t.Fatal(err)
	}
	var back struct {
		Compatible bool         `json:"compatible"`
		Reason     iotda.Reason `json:"reason"`
		Remedy     string       `json:"remedy"`
		Checks     []check.Finding
	}
	if err := json.Unmarshal(js.Bytes(), &back); err != nil {
		t.Fatalf("JSON report: %v", err)
	}
	if back.Compatible != r.Compatible || back.Reason != r.Reason || back.Remedy != r.Remedy || len(back.Checks) != len(r.Checks) {
		t.Errorf("JSON report differs: %+v", back)
	}
}

func hasRemedy(r *check.Report, remedy string) bool {
	if r.Remedy == remedy {
		return true
	}
	for _, p := range r.Problems {
		if p.Remedy == remedy {
			return true
		}
	}
	return false
}

func finding(r *check.Report, name string) check.Finding {
	for _, f := range r.Checks {
		if f.Check == name {
			return f
		}
	}
	return check.Finding{}
}

// TestCatalogueVariants: for every variant of the sim/pki catalogue, check
// gives the catalogue's reason (the platform's own, read back from its
// login-attempt log) and the catalogue's remedy.
func TestCatalogueVariants(t *testing.T) {
	f := newFixture(t)
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	t.Cleanup(cancel) // not defer: the parallel subtests run after this function returns
	for i, vc := range pki.Catalogue {
		mqtt := iotda.MQTT311
		if i%2 == 1 {
			mqtt = 5
		}
		t.Run(string(vc.Name), func(t *testing.T) {
			t.Parallel()
			nodeID := "variant-" + string(vc.Name)
			leaf, err := f.ca.NewVariant(vc.Name, productID+"_"+nodeID)
			if err != nil {
				t.Fatal(err)
			}
			deviceID := f.register(t, ctx, nodeID, leaf.FingerprintSHA256())
			r := f.run(t, ctx, leaf, deviceID, mqtt)
			requireExplained(t, r, vc.WantReason, vc.Remedy)
			if vc.WantReason != iotda.ReasonOK && r.Remedy != vc.Remedy {
				t.Errorf("remedy %q, want the catalogue's %q", r.Remedy, vc.Remedy)
			}
			switch {
			case r.Platform == nil:
				t.Errorf("no platform record of the login (%s)", r.PlatformNote)
			case r.Platform.Reason != vc.WantReason:
				t.Errorf("platform recorded %s, catalogue says %s", r.Platform.Reason, vc.WantReason)
			}
			if vc.WantReason == iotda.ReasonOK && (r.Login.TLSVersion == "" || r.Login.CipherSuite == "") {
				t.Errorf("a successful login reports no TLS version or cipher: %+v", r.Login)
			}
		})
	}
}

func TestDeviceProblems(t *testing.T) {
	f := newFixture(t)
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	t.Cleanup(cancel) // not defer: the parallel subtests run after this function returns
	unverified := f.uploadCA(t, ctx, "check unverified CA", false)

	tests := []struct {
		name string
		// setup registers what the case needs and returns the device's leaf and ID.
		setup      func(t *testing.T, node string) (*pki.Leaf, string)
		mqtt       iotda.MQTTVersion
		wantReason iotda.Reason
		wantCheck  string // the check that must explain it
		wantStatus check.Status
		wantText   string // in that check's message or remedy
	}{
		{
			name: "compatible device",
			setup: func(t *testing.T, node string) (*pki.Leaf, string) {
				leaf := mustLeaf(t, f.ca, productID+"_"+node)
				return leaf, f.register(t, ctx, node, leaf.FingerprintSHA256())
			},
			wantReason: iotda.ReasonOK, wantCheck: check.CheckFingerprint, wantStatus: check.StatusPass, wantText: "primary fingerprint (SHA-256)",
		},
		{
			name: "compatible over MQTT 5 with a SHA-1 fingerprint",
			setup: func(t *testing.T, node string) (*pki.Leaf, string) {
				leaf := mustLeaf(t, f.ca, productID+"_"+node)
				return leaf, f.register(t, ctx, node, strings.ToUpper(leaf.FingerprintSHA1()))
			},
			mqtt:       5,
			wantReason: iotda.ReasonOK, wantCheck: check.CheckFingerprint, wantStatus: check.StatusPass, wantText: "(SHA-1)",
		},
		{
			name: "secondary fingerprint",
			setup: func(t *testing.T, node string) (*pki.Leaf, string) {
				old, leaf := mustLeaf(t, f.ca, node+" old"), mustLeaf(t, f.ca, productID+"_"+node)
				id := f.register(t, ctx, node, old.FingerprintSHA256())
				fp, typ := leaf.FingerprintSHA256(), iotda.FingerprintSecondary
				if _, err := f.client.ResetFingerprint(ctx, id, iotda.ResetFingerprint{Fingerprint: &fp, FingerprintType: &typ}); err != nil {
					t.Fatal(err)
				}
				return leaf, id
			},
			wantReason: iotda.ReasonOK, wantCheck: check.CheckFingerprint, wantStatus: check.StatusPass, wantText: "secondary fingerprint",
		},
		{
			name: "no fingerprint registered: bound at first login",
			setup: func(t *testing.T, node string) (*pki.Leaf, string) {
				return mustLeaf(t, f.ca, productID+"_"+node), f.register(t, ctx, node, "")
			},
			wantReason: iotda.ReasonOK, wantCheck: check.CheckFingerprint, wantStatus: check.StatusWarn, wantText: "DEV-FINGERPRINT-BIND",
		},
		{
			name: "wrong fingerprint",
			setup: func(t *testing.T, node string) (*pki.Leaf, string) {
				other, leaf := mustLeaf(t, f.ca, node+" other"), mustLeaf(t, f.ca, productID+"_"+node)
				return leaf, f.register(t, ctx, node, other.FingerprintSHA256())
			},
			wantReason: iotda.ReasonFingerprintMismatch, wantCheck: check.CheckFingerprint, wantStatus: check.StatusFail, wantText: "reset-fingerprint",
		},
		{
			name: "unregistered device",
			setup: func(t *testing.T, node string) (*pki.Leaf, string) {
				return mustLeaf(t, f.ca, productID+"_"+node), productID + "_" + node
			},
			wantReason: iotda.ReasonDeviceNotFound, wantCheck: check.CheckDevice, wantStatus: check.StatusFail, wantText: "register the device",
		},
		{
			name: "unregistered device over MQTT 5",
			setup: func(t *testing.T, node string) (*pki.Leaf, string) {
				return mustLeaf(t, f.ca, productID+"_"+node), productID + "_" + node
			},
			mqtt:       5,
			wantReason: iotda.ReasonDeviceNotFound, wantCheck: check.CheckDevice, wantStatus: check.StatusFail, wantText: "register the device",
		},
		{
			name: "CA uploaded but not verified",
			setup: func(t *testing.T, node string) (*pki.Leaf, string) {
				leaf := mustLeaf(t, unverified, productID+"_"+node)
				return leaf, f.register(t, ctx, node, leaf.FingerprintSHA256())
			},
			wantReason: iotda.ReasonCANotVerified, wantCheck: check.CheckChain, wantStatus: check.StatusFail, wantText: "verify_code",
		},
		{
			name: "expired intermediate",
			setup: func(t *testing.T, node string) (*pki.Leaf, string) {
				now := time.Now()
				inter, err := f.ca.NewIntermediate(node+" intermediate", pki.WithValidity(now.Add(-time.Hour), now.Add(-time.Minute)))
				if err != nil {
					t.Fatal(err)
				}
				leaf, err := inter.NewDeviceCert(productID + "_" + node)
				if err != nil {
					t.Fatal(err)
				}
				return leaf, f.register(t, ctx, node, leaf.FingerprintSHA256())
			},
			wantReason: iotda.ReasonCertExpired, wantCheck: check.CheckIntermediates, wantStatus: check.StatusFail, wantText: "renew the intermediate",
		},
		{
			name: "frozen device",
			setup: func(t *testing.T, node string) (*pki.Leaf, string) {
				leaf := mustLeaf(t, f.ca, productID+"_"+node)
				id := f.register(t, ctx, node, leaf.FingerprintSHA256())
				if err := f.client.FreezeDevice(ctx, id); err != nil {
					t.Fatal(err)
				}
				return leaf, id
			},
			mqtt:       5,
			wantReason: iotda.ReasonDeviceFrozen, wantCheck: check.CheckDevice, wantStatus: check.StatusFail, wantText: "unfreeze",
		},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			leaf, deviceID := tc.setup(t, "problem-"+string(rune('a'+i)))
			r := f.run(t, ctx, leaf, deviceID, tc.mqtt)
			requireExplained(t, r, tc.wantReason, "")
			got := finding(r, tc.wantCheck)
			if got.Status != tc.wantStatus || !strings.Contains(got.Message+" "+got.Remedy, tc.wantText) {
				t.Errorf("%s: %s %q (remedy %q), want %s mentioning %q", tc.wantCheck, got.Status, got.Message, got.Remedy, tc.wantStatus, tc.wantText)
			}
			if tc.wantStatus == check.StatusFail && got.Reason != tc.wantReason {
				t.Errorf("%s names reason %s, want %s", tc.wantCheck, got.Reason, tc.wantReason)
			}
		})
	}
}

// TestConnackAgreesWithTheRefusalTable: for a CONNECT-stage refusal the
// device sees the code of the login-refusal table for its MQTT version.
func TestConnackAgreesWithTheRefusalTable(t *testing.T) {
	f := newFixture(t)
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	for _, mqtt := range []iotda.MQTTVersion{4, 5} {
		node := "connack-" + map[iotda.MQTTVersion]string{4: "v311", 5: "v5"}[mqtt]
		leaf := mustLeaf(t, f.ca, productID+"_"+node)
		other := mustLeaf(t, f.ca, node+" other")
		id := f.register(t, ctx, node, other.FingerprintSHA256())
		r := f.run(t, ctx, leaf, id, mqtt)
		ref, _ := iotda.RefusalFor(iotda.ReasonFingerprintMismatch)
		want := ref.Code(mqtt)
		if r.Login.ConnackCode == nil || *r.Login.ConnackCode != int(want) {
			t.Errorf("MQTT %s: CONNACK %v, want 0x%02x", r.Login.MQTTVersion, r.Login.ConnackCode, want)
		}
	}
}

func TestRunRefusesBadConfig(t *testing.T) {
	leaf := mustLeaf(t, mustCA(t), "x")
	tg := &iotda.Target{APIEndpoint: "https://127.0.0.1:1", MQTTEndpoint: "127.0.0.1:1", ProjectID: "p", AccessKey: "a", SecretKey: "s"}
	tests := []struct {
		name string
		cfg  check.Config
	}{
		{"no target", check.Config{Leaf: leaf}},
		{"no certificate", check.Config{Target: tg}},
		{"no key", check.Config{Target: tg, Leaf: &pki.Leaf{Cert: leaf.Cert}}},
		{"MQTT 3.1", check.Config{Target: tg, Leaf: leaf, MQTTVersion: 3}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := check.Run(t.Context(), tc.cfg); err == nil {
				t.Fatal("Run accepted a config it cannot check")
			}
		})
	}
}

// TestUnreachablePlatform: a platform nobody listens on leaves the check
// without a verdict. Given the device ID, the login errs in TCP and the
// report is inconclusive (neither compatible nor incompatible); without it,
// the device cannot even be looked up and Run fails.
func TestUnreachablePlatform(t *testing.T) {
	ca := mustCA(t)
	leaf := mustLeaf(t, ca, "dev")
	tg := &iotda.Target{APIEndpoint: "https://127.0.0.1:1", MQTTEndpoint: "127.0.0.1:1", ProjectID: "p", AccessKey: "a", SecretKey: "s"}
	cfg := check.Config{Target: tg, Leaf: leaf, DeviceID: "dev", APITimeout: 2 * time.Second, ConnectTimeout: 2 * time.Second, AttemptWait: time.Millisecond}
	r, err := check.Run(t.Context(), cfg)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	if r.Compatible || r.Inconclusive == "" || r.Login.Outcome != "error" || r.Login.Phase != "tcp" {
		t.Fatalf("compatible %v, inconclusive %q, login %+v; want an inconclusive report, the login erring in the tcp phase", r.Compatible, r.Inconclusive, r.Login)
	}
	if !strings.Contains(r.Remedy, "mqtt_endpoint") {
		t.Errorf("remedy %q, want advice about mqtt_endpoint", r.Remedy)
	}
	if got := finding(r, check.CheckChain); got.Status != check.StatusSkip {
		t.Errorf("chain check %s, want skip without an API", got.Status)
	}
	var text bytes.Buffer
	if err := r.WriteText(&text); err != nil || !strings.Contains(text.String(), `device "dev" could not be checked`) || strings.Contains(text.String(), "INCOMPATIBLE") {
		t.Errorf("text report of an unreachable platform:\n%s", text.String())
	}

	cfg.DeviceID = ""
	if _, err := check.Run(t.Context(), cfg); err == nil || !strings.Contains(err.Error(), "find device") {
		t.Errorf("Run without a device ID against an unreachable API: %v, want a find-device error", err)
	}
}

// TestFindsTheDevice: without a device ID, check finds the device the
// certificate belongs to: by node_id = CN with a matching fingerprint (an
// openssl-made certificate whose CN is the MAC), by fingerprint alone (a CN
// naming nothing), and by node_id = CN alone (a certificate that is not
// the registered one: fingerprint_mismatch, not device_not_found).
func TestFindsTheDevice(t *testing.T) {
	f := newFixture(t)
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	for i := range 3 { // other devices in the project
		f.register(t, ctx, fmt.Sprintf("other-%d", i), "")
	}

	mac := mustLeaf(t, f.ca, "A1B2C3D4E5F6")
	macID := f.register(t, ctx, "A1B2C3D4E5F6", mac.FingerprintSHA256())
	r := f.run(t, ctx, mac, "", 4)
	if r.DeviceID != macID || r.Device.By != "fingerprint" || !strings.Contains(r.Device.Detail, "node_id") {
		t.Errorf("CN = node_id: found %q by %q (%s), want %q by fingerprint", r.DeviceID, r.Device.By, r.Device.Detail, macID)
	}
	requireExplained(t, r, iotda.ReasonOK, "")

	anon := mustLeaf(t, f.ca, "some factory CN")
	anonID := f.register(t, ctx, "serial-0042", anon.FingerprintSHA256())
	r = f.run(t, ctx, anon, "", 5)
	if r.DeviceID != anonID || r.Device.By != "fingerprint" {
		t.Errorf("CN naming nothing: found %q by %q (%s), want %q by fingerprint", r.DeviceID, r.Device.By, r.Device.Detail, anonID)
	}
	requireExplained(t, r, iotda.ReasonOK, "")

	stray := mustLeaf(t, f.ca, "A1B2C3D4E5F6") // same CN, not the registered certificate
	r = f.run(t, ctx, stray, "", 4)
	if r.DeviceID != macID || r.Device.By != "node_id" {
		t.Errorf("unregistered certificate: found %q by %q (%s), want %q by node_id", r.DeviceID, r.Device.By, r.Device.Detail, macID)
	}
	requireExplained(t, r, iotda.ReasonFingerprintMismatch, "")
}

func mustCA(t *testing.T) *pki.CA {
	t.Helper()
	ca, err := pki.NewRootCA("check unit CA")
	if err != nil {
		t.Fatal(err)
	}
	return ca
}

func mustLeaf(t *testing.T, ca *pki.CA, cn string) *pki.Leaf {
	t.Helper()
	l, err := ca.NewDeviceCert(cn)
	if err != nil {
		t.Fatal(err)
	}
	return l
}
