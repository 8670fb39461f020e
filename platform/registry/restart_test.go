package registry

import (
	"encoding/json"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/certlab/certlab/iotda"
)

func TestCreateProject(t *testing.T) {
	r, _ := openTest(t, Options{})
	p := mustProject(t, r, "tenant-a")
	checks := []struct {
		field, value string
		re           *regexp.Regexp
	}{
		{"ID", p.ID, regexp.MustCompile(`^[0-9a-f]{32}$`)},
		{"AccessKey", p.AccessKey, regexp.MustCompile(`^[A-Z0-9]{20}$`)},
		{"SecretKey", p.SecretKey, regexp.MustCompile(`^[A-Za-z0-9]{40}$`)},
		{"Token", p.Token, regexp.MustCompile(`^[0-9a-f]{48}$`)},
	}
	for _, c := range checks {
		if !c.re.MatchString(c.value) {
			t.Errorf("%s = %q, want %s", c.field, c.value, c.re)
		}
	}
	q := mustProject(t, r, "tenant-b")
	if q.AccessKey == p.AccessKey || q.Token == p.Token || q.ID == p.ID {
		t.Error("two projects share credentials")
	}
	for _, tc := range []struct{ name, in, substr string }{
		{"duplicate", "tenant-a", `"tenant-a" already exists`},
		{"empty", "", "name is required"},
		{"blank", "   ", "name is required"},
		{"too long", strings.Repeat("x", 256), "must be 1-255 characters"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := r.CreateProject(testCtx(t), tc.in)
			requireErr(t, err, ErrInvalidInput, tc.substr)
		})
	}
	lookups := []struct {
		name string
		fn   func() (Project, bool)
	}{
		{"by ID", func() (Project, bool) { return r.Project(p.ID) }},
		{"by AK", func() (Project, bool) { return r.ProjectByAccessKey(p.AccessKey) }},
		{"by token", func() (Project, bool) { return r.ProjectByToken(p.Token) }},
		{"by name", func() (Project, bool) { return r.ProjectByName(p.Name) }},
	}
	for _, l := range lookups {
		if got, ok := l.fn(); !ok || got != p {
			t.Errorf("%s = %+v, %v; want %+v", l.name, got, ok, p)
		}
	}
	if _, ok := r.ProjectByAccessKey("NOPE"); ok {
		t.Error("unknown AK found")
	}
	if ps := r.Projects(); len(ps) != 2 || ps[0].ID != p.ID || ps[1].ID != q.ID {
		t.Errorf("Projects() = %+v, want oldest first", ps)
	}
}

// TestRestartKeepsEverything: Close + Open restores every record, including
// verified status, bound fingerprints, frozen flags and statuses.
func TestRestartKeepsEverything(t *testing.T) {
	now := time.Now().UTC().Truncate(time.Millisecond)
	r, path := openTest(t, Options{Now: func() time.Time { return now }})
	ctx := testCtx(t)
	p := mustProject(t, r, "p")
	root := mustRootCA(t, "root")
	verified := mustAddCA(t, r, p.ID, root)
	mustVerify(t, r, verified, root)
	unverified := mustAddCA(t, r, p.ID, mustRootCA(t, "other"))
	prod, err := r.CreateProduct(ctx, Product{ProjectID: p.ID, Name: "Meter", DeviceType: "meter", ProtocolType: "MQTT",
		DataFormat: "binary", ManufacturerName: "Acme", Industry: "energy", Description: "d", AppID: "app",
		ServiceCapabilities: json.RawMessage(`[{"service_id":"s"}]`)})
	if err != nil {
		t.Fatal(err)
	}
	bound := mustDevice(t, r, p.ID, NewDevice{NodeID: "bound", ProductID: prod.ID, AuthType: iotda.AuthCertificates,
		SecureAccess: true, Timeout: 30, ExtensionInfo: json.RawMessage(`{"x":[1,2]}`), Name: "名前", Description: "dd"})
	if ok, err := r.BindFingerprint(ctx, bound.ID, fpSHA256); !ok || err != nil {
		t.Fatalf("bind = %v, %v", ok, err)
	}
	frozen := mustDevice(t, r, p.ID, NewDevice{NodeID: "frozen", ProductID: prod.ID, Secret: "s3cr3t-value"})
	if _, err := r.SetFrozen(ctx, p.ID, frozen.ID, true); err != nil {
		t.Fatal(err)
	}
	if _, err := r.ResetFingerprint(ctx, p.ID, bound.ID, iotda.FingerprintSecondary, fpSHA1, false); err != nil {
		t.Fatal(err)
	}
	if err := r.SetOnline(ctx, bound.ID, true, now); err != nil {
		t.Fatal(err)
	}
	deleted := mustDevice(t, r, p.ID, NewDevice{NodeID: "gone", ProductID: prod.ID})
	if err := r.DeleteDevice(ctx, p.ID, deleted.ID); err != nil {
		t.Fatal(err)
	}

	// Snapshot everything visible, restart, compare.
	type view struct {
		Projects []Project
		CAs      []CA
		Products []Product
		Devices  []Device
		Counts   [5]int
	}
	snapshot := func(r *Registry) view {
		t.Helper()
		var v view
		v.Projects = r.Projects()
		cas, _, err := r.ListCAs(p.ID, "", Page{Limit: 50})
		if err != nil {
			t.Fatal(err)
		}
		for i := range cas {
			cas[i].Cert = nil // compared via PEM and SHA256
		}
		v.CAs = cas
		if v.Products, _, err = r.ListProducts(p.ID, "", Page{Limit: 50}); err != nil {
			t.Fatal(err)
		}
		if v.Devices, _, err = r.ListDevices(p.ID, DeviceFilter{}, Page{Limit: 50}); err != nil {
			t.Fatal(err)
		}
		a, b, c, d, e := r.Counts()
		v.Counts = [5]int{a, b, c, d, e}
		return v
	}
	before := snapshot(r)
	if before.Counts != [5]int{1, 2, 1, 1, 2} {
		t.Fatalf("Counts before = %v", before.Counts)
	}
	r = reopen(t, r, path, Options{Now: func() time.Time { return now }})
	after := snapshot(r)
	if !reflect.DeepEqual(before, after) {
		t.Fatalf("state changed across restart\nbefore %+v\nafter  %+v", before, after)
	}
	got, _ := r.LookupDevice(bound.ID)
	if got.Fingerprint != strings.ToLower(fpSHA256) || got.Status != iotda.StatusOnline || !got.SecureAccess || got.Timeout != 30 {
		t.Errorf("bound device after restart: %+v", got)
	}
	if f, _ := r.LookupDevice(frozen.ID); !f.Frozen || f.Secret != "s3cr3t-value" {
		t.Errorf("frozen device after restart: %+v", f)
	}
	if _, ok := r.LookupDevice(deleted.ID); ok {
		t.Error("deleted device came back")
	}
	tr := r.Trust()
	if !tr.BySHA256[verified.SHA256].Verified || tr.BySHA256[unverified.SHA256].Verified {
		t.Error("trust snapshot lost verified status")
	}
	// New IDs keep growing after a restart (counters are durable).
	next := mustAddCA(t, r, p.ID, mustRootCA(t, "next"))
	if next.ID <= unverified.ID {
		t.Errorf("CA ID after restart %s not above %s", next.ID, unverified.ID)
	}
	nd := mustDevice(t, r, p.ID, NewDevice{NodeID: "next", ProductID: prod.ID})
	if nd.Seq <= deleted.Seq {
		t.Errorf("device Seq after restart %d not above %d (a deleted device's Seq was reused)", nd.Seq, deleted.Seq)
	}
}

func TestOpenRejectsNewerSchema(t *testing.T) {
	r, path := openTest(t, Options{})
	if _, err := r.db.ExecContext(testCtx(t), "PRAGMA user_version = 99"); err != nil {
		t.Fatal(err)
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	_, err := Open(testCtx(t), path, Options{})
	if err == nil || !strings.Contains(err.Error(), "schema version 99 is newer") {
		t.Fatalf("Open = %v, want a schema version error", err)
	}
	if _, err := Open(testCtx(t), filepath.Join(t.TempDir(), "x?y.db"), Options{}); err == nil {
		t.Fatal("Open accepted a path with '?'")
	}
}
