package registry

import (
	"crypto/x509"
	"testing"
	"time"

	"github.com/certlab/certlab/sim/pki"
)

// anchors reports whether a fresh device certificate issued by ca verifies
// against pool at time at (i.e. whether ca is in pool).
func anchors(t *testing.T, pool *x509.CertPool, ca *pki.CA, at time.Time) bool {
	t.Helper()
	leaf, err := ca.NewDeviceCert("dev", pki.WithValidity(ca.Cert.NotBefore, ca.Cert.NotAfter))
	if err != nil {
		t.Fatal(err)
	}
	_, err = leaf.Cert.Verify(x509.VerifyOptions{Roots: pool, CurrentTime: at,
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}})
	return err == nil
}

func TestTrustSnapshot(t *testing.T) {
	now := time.Now().UTC().Truncate(time.Second)
	clk := newClock(now)
	r, path := openTest(t, Options{Now: clk.Now})
	empty := r.Trust()
	if empty == nil || empty.Verified == nil || empty.All == nil || empty.BySHA256 == nil || len(empty.BySHA256) != 0 {
		t.Fatalf("initial Trust = %+v, want empty non-nil snapshot", empty)
	}
	p := mustProject(t, r, "p")
	root := mustRootCA(t, "root")
	rec := mustAddCA(t, r, p.ID, root)

	t1 := r.Trust()
	if t1 == empty {
		t.Fatal("snapshot not replaced after upload")
	}
	// [CA-UNVERIFIED] an unverified CA is known (All) but anchors nothing (Verified).
	if !anchors(t, t1.All, root, now) || anchors(t, t1.Verified, root, now) {
		t.Fatalf("after upload: in All=%v in Verified=%v, want true/false",
			anchors(t, t1.All, root, now), anchors(t, t1.Verified, root, now))
	}
	if got := t1.BySHA256[rec.SHA256]; got == nil || got.ID != rec.ID || got.Verified {
		t.Fatalf("BySHA256[%s] = %+v", rec.SHA256, got)
	}
	if got, ok := t1.CAInProject(p.ID, rec.SHA256); !ok || got.ID != rec.ID {
		t.Fatalf("CAInProject = %v, %v", got, ok)
	}
	if _, ok := t1.CAInProject("other", rec.SHA256); ok {
		t.Fatal("CAInProject found the CA in another project")
	}

	mustVerify(t, r, rec, root)
	t2 := r.Trust()
	if !anchors(t, t2.Verified, root, now) || !t2.BySHA256[rec.SHA256].Verified {
		t.Fatal("after verify: CA not in Verified")
	}
	// Snapshots are immutable: the old one is unchanged.
	if anchors(t, t1.Verified, root, now) || t1.BySHA256[rec.SHA256].Verified {
		t.Fatal("the previous snapshot changed")
	}

	// The same CA in a second project, unverified there: BySHA256 keeps the
	// verified record, CAInProject answers per project.
	p2 := mustProject(t, r, "p2")
	rec2 := mustAddCA(t, r, p2.ID, root)
	t3 := r.Trust()
	if got := t3.BySHA256[rec.SHA256]; got.ID != rec.ID {
		t.Errorf("BySHA256 prefers %s, want the verified %s", got.ID, rec.ID)
	}
	if got, ok := t3.CAInProject(p2.ID, rec.SHA256); !ok || got.ID != rec2.ID || got.Verified {
		t.Errorf("CAInProject(p2) = %+v, %v", got, ok)
	}

	if err := r.DeleteCA(testCtx(t), p.ID, rec.ID); err != nil {
		t.Fatal(err)
	}
	t4 := r.Trust()
	if anchors(t, t4.Verified, root, now) {
		t.Fatal("after delete: CA still anchors devices")
	}
	if got := t4.BySHA256[rec.SHA256]; got == nil || got.ID != rec2.ID {
		t.Fatalf("after delete: BySHA256 = %+v, want p2's record", got)
	}

	// An expired CA stays known but leaves Verified: a short-lived CA,
	// verified, then the clock moves past its NotAfter and the registry reopens.
	short := mustRootCA(t, "short", pki.WithValidity(now.Add(-time.Hour), now.Add(time.Hour)))
	srec := mustAddCA(t, r, p.ID, short)
	mustVerify(t, r, srec, short)
	if !anchors(t, r.Trust().Verified, short, now) {
		t.Fatal("short-lived CA not verified")
	}
	clk.Set(now.Add(2 * time.Hour))
	r = reopen(t, r, path, Options{Now: clk.Now})
	t5 := r.Trust()
	if anchors(t, t5.Verified, short, now) {
		t.Fatal("expired CA still in Verified")
	}
	if !anchors(t, t5.All, short, now) || !t5.BySHA256[srec.SHA256].Verified {
		t.Fatal("expired CA missing from All / BySHA256")
	}
	if !t5.Built.Equal(now.Add(2 * time.Hour)) {
		t.Errorf("Built = %v, want the injected clock", t5.Built)
	}
}
