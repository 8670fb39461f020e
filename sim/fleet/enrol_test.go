package fleet

import (
	"context"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/certlab/certlab/iotda"
	"github.com/certlab/certlab/platform"
)

// startPlatform starts a reference platform on loopback ports and returns
// its target and an API client; it stops with the test.
func startPlatform(t *testing.T) (*iotda.Target, *iotda.Client) {
	t.Helper()
	p, err := platform.New(platform.Config{DataDir: t.TempDir(), APIAddr: "127.0.0.1:0", MQTTAddr: "127.0.0.1:0", MetricsAddr: "off"})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	if err := p.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	c, err := p.Target().Client()
	if err != nil {
		t.Fatal(err)
	}
	return p.Target(), c
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
