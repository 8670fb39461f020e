package fleet

import (
	"context"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/certlab/certlab/iotda"
	"github.com/certlab/certlab/platform/platformtest"
)

// startPlatform starts a reference platform on loopback ports and returns
// its target and an API client; it stops with the test.
func startPlatform(t *testing.T) (*iotda.Target, *iotda.Client) {
	t.Helper()
	p := platformtest.Start(t)
	return p.Target(), platformtest.Client(t, p)
}

// enrol runs Enrol under a deadline and fails the test on a harness fault.
func enrol(t *testing.T, c *iotda.Client, f *Fleet, opts EnrolOptions) EnrolReport {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	rep, err := Enrol(ctx, c, f, opts)
	if err != nil {
		t.Fatalf("Enrol: %v", err)
	}
	return rep
}

func TestEnrolIsIdempotent(t *testing.T) {
	_, c := startPlatform(t)
	f := mintFleet(t, t.TempDir(), Spec{Devices: 12, CAs: 2})
	var progress []int
	first := enrol(t, c, f, EnrolOptions{Concurrency: 4, OnProgress: func(done, total int) {
		if total != 12 {
			t.Errorf("progress total = %d, want 12", total)
		}
		progress = append(progress, done)
	}})
	if len(progress) != 12 || progress[11] != 12 {
		t.Errorf("progress calls = %v, want 1..12", progress)
	}
	if !first.ProductCreated || first.ProductID != DefaultProductID(f) {
		t.Errorf("product: created=%v id=%q, want created %q", first.ProductCreated, first.ProductID, DefaultProductID(f))
	}
	if first.Registered != 12 || first.Existing != 0 || len(first.Failed) != 0 {
		t.Errorf("first enrol: registered %d existing %d failed %v, want 12/0/none", first.Registered, first.Existing, first.FailureSamples)
	}
	requireCAs(t, first, true)

	// The platform holds what the report says. [CA-VERIFY] [DEV-ID] [DEV-FINGERPRINT]
	list, err := c.ListCertificates(t.Context(), iotda.ListOptions{Limit: 50})
	if err != nil {
		t.Fatal(err)
	}
	if len(list.Certificates) != 2 {
		t.Fatalf("platform lists %d CAs, want 2", len(list.Certificates))
	}
	for _, ca := range list.Certificates {
		if !ca.Status {
			t.Errorf("CA %s (%s) is not verified", ca.CertificateID, ca.CnName)
		}
	}
	id, err := f.Device(7)
	if err != nil {
		t.Fatal(err)
	}
	d, err := c.ShowDevice(t.Context(), f.DeviceID(first.ProductID, 7))
	if err != nil {
		t.Fatal(err)
	}
	if d.NodeID != id.NodeID || d.AuthInfo.AuthType != iotda.AuthCertificates || !strings.EqualFold(d.AuthInfo.Fingerprint, id.FingerprintSHA256) {
		t.Errorf("device 7 = node %q auth %s fingerprint %s, want %q CERTIFICATES %s",
			d.NodeID, d.AuthInfo.AuthType, d.AuthInfo.Fingerprint, id.NodeID, id.FingerprintSHA256)
	}

	// Again: nothing new, everything found. [CA-DUPLICATE]
	second := enrol(t, c, f, EnrolOptions{})
	if second.ProductCreated || second.Registered != 0 || second.Existing != 12 || len(second.Failed) != 0 {
		t.Errorf("second enrol: product created %v, registered %d, existing %d, failed %v; want false/0/12/none",
			second.ProductCreated, second.Registered, second.Existing, second.FailureSamples)
	}
	requireCAs(t, second, false)
	for i := range first.CAs {
		if first.CAs[i].CertificateID != second.CAs[i].CertificateID {
			t.Errorf("CA %d: certificate ID %s then %s", i, first.CAs[i].CertificateID, second.CAs[i].CertificateID)
		}
	}

	// Another fleet's devices under the same product collide on device IDs
	// but not on certificates: a result per device, not an abort.
	other := mintFleet(t, t.TempDir(), Spec{Devices: 3})
	clash := enrol(t, c, other, EnrolOptions{ProductID: first.ProductID})
	if clash.Failed[FailOtherFingerprint] != 3 || clash.Enrolled() != 0 {
		t.Errorf("clashing fleet: failed %v, enrolled %d; want 3 %s", clash.Failed, clash.Enrolled(), FailOtherFingerprint)
	}
	requireCAs(t, clash, true)
}

// requireCAs checks that every CA of rep is verified and was (not) uploaded now.
func requireCAs(t *testing.T, rep EnrolReport, uploaded bool) {
	t.Helper()
	for _, ca := range rep.CAs {
		if ca.Uploaded != uploaded || !ca.Verified || ca.CertificateID == "" || ca.Error != "" {
			t.Errorf("CA %d: %+v, want uploaded=%v, verified, with an ID and no error", ca.Index, ca, uploaded)
		}
	}
	if rep.VerifiedCAs() != len(rep.CAs) {
		t.Errorf("VerifiedCAs = %d of %d", rep.VerifiedCAs(), len(rep.CAs))
	}
}

func TestEnrolUnreachableTarget(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now
	c := iotda.NewClient("https://"+addr, iotda.Credentials{AccessKey: "ak", SecretKey: "sk", ProjectID: "p"}, iotda.WithTimeout(2*time.Second))
	f := mintFleet(t, t.TempDir(), Spec{Devices: 2})
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	rep, err := Enrol(ctx, c, f, EnrolOptions{})
	if !errors.Is(err, ErrTargetUnreachable) {
		t.Errorf("Enrol error = %v, want ErrTargetUnreachable", err)
	}
	if rep.Enrolled() != 0 {
		t.Errorf("enrolled %d devices on nothing", rep.Enrolled())
	}
}

// TestEnrolSubsetAndRebind registers a subset of a fleet under a named
// product, then a fleet re-minted in place (same node IDs, new keys and CA):
// without ResetFingerprints its registered devices fail with
// FailOtherFingerprint (and the first MaxFailures are listed); with it their
// fingerprints are reset to the new certificates and counted as Updated.
// [DEV-FINGERPRINT]
func TestEnrolSubsetAndRebind(t *testing.T) {
	_, c := startPlatform(t)
	const product = "subset-product"
	old := mintFleet(t, t.TempDir(), Spec{Devices: 8})
	subset := []int{1, 3, 5}
	first := enrol(t, c, old, EnrolOptions{ProductID: product, ProductName: "subset name", Indices: subset})
	if first.Devices != 3 || first.Registered != 3 || first.Enrolled() != 3 || first.FailedDevices() != 0 {
		t.Fatalf("subset enrol: devices %d registered %d failed %v; want 3/3/none", first.Devices, first.Registered, first.FailureSamples)
	}
	p, err := c.ShowProduct(t.Context(), product)
	if err != nil {
		t.Fatal(err)
	}
	if p.Name != "subset name" || p.ProtocolType != iotda.ProtocolMQTT {
		t.Errorf("product = name %q protocol %s, want %q MQTT", p.Name, p.ProtocolType, "subset name")
	}
	list, err := c.ListDevices(t.Context(), iotda.DeviceListOptions{ProductID: product, ListOptions: iotda.ListOptions{Limit: 50}})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]bool{}
	for _, d := range list.Devices {
		got[d.DeviceID] = true
	}
	for _, i := range subset {
		if !got[old.DeviceID(product, i)] {
			t.Errorf("device %d (%s) is not registered", i, old.DeviceID(product, i))
		}
	}
	if len(got) != len(subset) {
		t.Errorf("platform lists %d devices under %s, want the %d of the subset", len(got), product, len(subset))
	}

	remint := mintFleet(t, t.TempDir(), Spec{Devices: 8})
	clash := enrol(t, c, remint, EnrolOptions{ProductID: product, MaxFailures: 2})
	if clash.Registered != 5 || clash.Failed[FailOtherFingerprint] != 3 || clash.FailedDevices() != 3 || clash.Updated != 0 {
		t.Errorf("re-minted fleet without reset: registered %d updated %d failed %v; want 5, 0, 3 %s",
			clash.Registered, clash.Updated, clash.Failed, FailOtherFingerprint)
	}
	if len(clash.Failures) != 2 {
		t.Errorf("listed failures = %+v, want the first 2 (MaxFailures)", clash.Failures)
	}
	for _, f := range clash.Failures {
		if (f.Index != 1 && f.Index != 3 && f.Index != 5) || f.NodeID != NodeID(remint.Spec.NodeIDPrefix, f.Index) || !strings.Contains(f.Error, "fingerprint") {
			t.Errorf("listed failure %+v: want one of devices 1, 3, 5 with its node ID and a fingerprint error", f)
		}
	}

	rebind := enrol(t, c, remint, EnrolOptions{ProductID: product, ResetFingerprints: true})
	if rebind.Updated != 3 || rebind.Existing != 5 || rebind.Registered != 0 || rebind.FailedDevices() != 0 || rebind.Enrolled() != 8 {
		t.Errorf("re-minted fleet with reset: updated %d existing %d registered %d failed %v; want 3/5/0/none",
			rebind.Updated, rebind.Existing, rebind.Registered, rebind.FailureSamples)
	}
	id, err := remint.Device(3)
	if err != nil {
		t.Fatal(err)
	}
	d, err := c.ShowDevice(t.Context(), remint.DeviceID(product, 3))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.EqualFold(d.AuthInfo.Fingerprint, id.FingerprintSHA256) {
		t.Errorf("device 3 fingerprint = %s, want the re-minted certificate's %s", d.AuthInfo.Fingerprint, id.FingerprintSHA256)
	}
	if err := rebind.CAErrors(); err != nil {
		t.Errorf("CA errors: %v", err)
	}
}

func TestEnrolRejectsIndexOutOfRange(t *testing.T) {
	f := mintFleet(t, t.TempDir(), Spec{Devices: 2})
	// No request is made: the client points nowhere.
	c := iotda.NewClient("https://127.0.0.1:1", iotda.Credentials{AccessKey: "ak", SecretKey: "sk", ProjectID: "p"})
	for _, tc := range []struct {
		name    string
		indices []int
	}{
		{"past the end", []int{0, 2}},
		{"negative", []int{-1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rep, err := Enrol(t.Context(), c, f, EnrolOptions{Indices: tc.indices})
			if err == nil || !strings.Contains(err.Error(), "out of range") {
				t.Errorf("Enrol(%v) error = %v, want out of range", tc.indices, err)
			}
			if rep.ProductCreated || rep.Devices != 0 {
				t.Errorf("report = %+v, want nothing done", rep)
			}
		})
	}
}

func TestEnrolReportCAErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		cas  []CAEnrolment
		want string // "" = no error
	}{
		{"all verified", []CAEnrolment{{Index: 0, Verified: true}, {Index: 1, Verified: true}}, ""},
		{"one refused", []CAEnrolment{{Index: 0, Verified: true}, {Index: 1, Error: "upload: IOTDA.014302"}}, "CA 1: upload: IOTDA.014302"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := EnrolReport{CAs: tc.cas}.CAErrors()
			switch {
			case tc.want == "" && err != nil:
				t.Errorf("CAErrors = %v, want nil", err)
			case tc.want != "" && (err == nil || err.Error() != tc.want):
				t.Errorf("CAErrors = %v, want %q", err, tc.want)
			}
		})
	}
}
