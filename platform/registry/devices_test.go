package registry

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/certlab/certlab/iotda"
)

const (
	fpSHA256 = "ABCDEF0123456789abcdef0123456789ABCDEF0123456789abcdef0123456789"
	fpSHA1   = "0123456789abcdef0123456789abcdef01234567"
)

func TestCreateDeviceRules(t *testing.T) {
	r, _ := openTest(t, Options{})
	p := mustProject(t, r, "p")
	mustProduct(t, r, p.ID, "mqtt", "MQTT")
	mustProduct(t, r, p.ID, "coap", "CoAP")
	cases := []struct {
		name   string
		in     NewDevice
		want   error
		substr string
	}{
		{"empty node_id", NewDevice{ProductID: "mqtt"}, ErrInvalidInput, "node_id must be 1-64"},
		{"node_id too long", NewDevice{ProductID: "mqtt", NodeID: strings.Repeat("n", 65)}, ErrInvalidInput, "node_id must be 1-64"},
		{"node_id bad char", NewDevice{ProductID: "mqtt", NodeID: "aa:bb:cc"}, ErrInvalidInput, "node_id must be 1-64 characters of [A-Za-z0-9_-]"},
		{"no product", NewDevice{NodeID: "n"}, ErrInvalidInput, "product_id is required"},
		{"unknown product", NewDevice{ProductID: "nope", NodeID: "n"}, ErrNotFound, `product "nope" not found`},
		{"device_id bad char", NewDevice{ProductID: "mqtt", NodeID: "n", DeviceID: "a/b"}, ErrInvalidInput, "device_id must be 1-128"},
		{"device_id too long", NewDevice{ProductID: "mqtt", NodeID: "n", DeviceID: strings.Repeat("d", 129)}, ErrInvalidInput, "device_id must be 1-128"},
		{"certificates on CoAP", certDevice("coap", "n"), ErrNotMQTTProduct, "protocol_type CoAP"},
		{"bad auth_type", NewDevice{ProductID: "mqtt", NodeID: "n", AuthType: "X509"}, ErrInvalidInput, "auth_type must be SECRET or CERTIFICATES"},
		{"fingerprint 39 hex", NewDevice{ProductID: "mqtt", NodeID: "n", AuthType: iotda.AuthCertificates, Fingerprint: fpSHA1[:39]},
			ErrInvalidInput, "fingerprint must be 40 (SHA-1) or 64 (SHA-256) hex digits"},
		{"fingerprint not hex", NewDevice{ProductID: "mqtt", NodeID: "n", AuthType: iotda.AuthCertificates, Fingerprint: strings.Repeat("g", 40)},
			ErrInvalidInput, "fingerprint must be 40 (SHA-1) or 64 (SHA-256) hex digits"},
		{"fingerprint with colons", NewDevice{ProductID: "mqtt", NodeID: "n", AuthType: iotda.AuthCertificates, Fingerprint: "AB:CD"},
			ErrInvalidInput, "fingerprint must be 40"},
		{"openssl's colon-separated fingerprint", NewDevice{ProductID: "mqtt", NodeID: "n", AuthType: iotda.AuthCertificates, Fingerprint: colonSeparated(fpSHA1)},
			ErrInvalidInput, "remove the colons (" + fpSHA1 + ")"},
		{"bad secondary fingerprint", NewDevice{ProductID: "mqtt", NodeID: "n", AuthType: iotda.AuthCertificates, SecondaryFingerprint: "abc"},
			ErrInvalidInput, "secondary_fingerprint must be 40"},
		{"fingerprint on SECRET device", NewDevice{ProductID: "mqtt", NodeID: "n", Fingerprint: fpSHA1}, ErrInvalidInput, "only allowed with auth_type CERTIFICATES"},
		{"secret on CERTIFICATES device", NewDevice{ProductID: "mqtt", NodeID: "n", AuthType: iotda.AuthCertificates, Secret: "abcdefgh"},
			ErrInvalidInput, "secret is only allowed with auth_type SECRET"},
		{"secret too short", NewDevice{ProductID: "mqtt", NodeID: "n", Secret: "1234567"}, ErrInvalidInput, "secret must be 8-32"},
		{"secret too long", NewDevice{ProductID: "mqtt", NodeID: "n", Secret: strings.Repeat("s", 33)}, ErrInvalidInput, "secret must be 8-32"},
		{"secret bad char", NewDevice{ProductID: "mqtt", NodeID: "n", Secret: "12345678!"}, ErrInvalidInput, "secret must be 8-32"},
		{"device_name too long", NewDevice{ProductID: "mqtt", NodeID: "n", Name: strings.Repeat("名", 257)}, ErrInvalidInput, "device_name must be at most 256"},
		{"description too long", NewDevice{ProductID: "mqtt", NodeID: "n", Description: strings.Repeat("d", 2049)}, ErrInvalidInput, "description must be at most 2048"},
		{"extension_info too big", NewDevice{ProductID: "mqtt", NodeID: "n", ExtensionInfo: json.RawMessage(`"` + strings.Repeat("x", 1024) + `"`)},
			ErrInvalidInput, "extension_info must be at most 1024 bytes"},
		{"extension_info not JSON", NewDevice{ProductID: "mqtt", NodeID: "n", ExtensionInfo: json.RawMessage(`{`)}, ErrInvalidInput, "extension_info is not valid JSON"},
		{"negative timeout", NewDevice{ProductID: "mqtt", NodeID: "n", Timeout: -1}, ErrInvalidInput, "timeout"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := r.CreateDevice(testCtx(t), p.ID, tc.in)
			requireErr(t, err, tc.want, tc.substr)
		})
	}
	_, err := r.CreateDevice(testCtx(t), "nope", certDevice("mqtt", "n"))
	requireErr(t, err, ErrNotFound, "project")
	if _, _, _, _, devices := r.Counts(); devices != 0 {
		t.Fatalf("%d devices registered by refused requests", devices)
	}

	t.Run("SECRET defaults", func(t *testing.T) {
		d := mustDevice(t, r, p.ID, NewDevice{NodeID: "imei-1", ProductID: "coap", Name: "名字"})
		switch {
		case d.ID != "coap_imei-1" || d.GatewayID != d.ID:
			t.Errorf("ID/GatewayID = %q/%q, want coap_imei-1", d.ID, d.GatewayID)
		case d.AuthType != iotda.AuthSecret || len(d.Secret) != 32:
			t.Errorf("AuthType/Secret = %s/%q, want SECRET with a generated 32-char secret", d.AuthType, d.Secret)
		case d.Status != iotda.StatusInactive || !d.ActiveTime.IsZero() || d.Frozen:
			t.Errorf("Status = %s, ActiveTime = %v", d.Status, d.ActiveTime)
		case d.Seq <= 0 || d.CreatedAt.IsZero() || d.ProjectID != p.ID:
			t.Errorf("Seq/CreatedAt/ProjectID = %d/%v/%s", d.Seq, d.CreatedAt, d.ProjectID)
		}
	})
	t.Run("CERTIFICATES with fingerprints, stored lowercase", func(t *testing.T) {
		d := mustDevice(t, r, p.ID, NewDevice{NodeID: "sn-2", ProductID: "mqtt", DeviceID: "given-id", AuthType: iotda.AuthCertificates,
			Fingerprint: fpSHA256, SecondaryFingerprint: strings.ToUpper(fpSHA1), ExtensionInfo: json.RawMessage(`{"k":1}`), AppID: "space"})
		if d.ID != "given-id" || d.Fingerprint != strings.ToLower(fpSHA256) || d.SecondaryFingerprint != fpSHA1 {
			t.Errorf("got %+v", d)
		}
		if string(d.ExtensionInfo) != `{"k":1}` || d.AppID != "space" || d.Secret != "" {
			t.Errorf("ExtensionInfo/AppID/Secret = %s/%s/%q", d.ExtensionInfo, d.AppID, d.Secret)
		}
		got, ok := r.LookupDevice("given-id")
		if !ok || got.Fingerprint != d.Fingerprint {
			t.Errorf("LookupDevice = %+v, %v", got, ok)
		}
	})
	t.Run("given secret", func(t *testing.T) {
		d := mustDevice(t, r, p.ID, NewDevice{NodeID: "s", ProductID: "mqtt", Secret: "my_secret-1"})
		if d.Secret != "my_secret-1" {
			t.Errorf("Secret = %q", d.Secret)
		}
	})
	t.Run("SECRET device on a non-MQTT product is fine", func(t *testing.T) {
		mustDevice(t, r, p.ID, NewDevice{NodeID: "c", ProductID: "coap", AuthType: iotda.AuthSecret})
	})
}

func TestCertificatesOnAnyProtocolOption(t *testing.T) {
	r, _ := openTest(t, Options{AllowCertificatesOnAnyProtocol: true})
	p := mustProject(t, r, "p")
	mustProduct(t, r, p.ID, "coap", "CoAP")
	mustDevice(t, r, p.ID, certDevice("coap", "n"))
}

func TestDeviceIDUniqueAcrossProjects(t *testing.T) {
	r, _ := openTest(t, Options{})
	p1 := mustProject(t, r, "p1")
	p2 := mustProject(t, r, "p2")
	mustProduct(t, r, p1.ID, "prod", "MQTT")
	mustProduct(t, r, p2.ID, "prod", "MQTT")
	mustDevice(t, r, p1.ID, certDevice("prod", "node"))
	_, err := r.CreateDevice(testCtx(t), p2.ID, certDevice("prod", "node"))
	requireErr(t, err, ErrDeviceExists, `"prod_node" is already registered`)
	// The refused request did not leak into the other project.
	if _, err := r.Device(p2.ID, "prod_node"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Device(p2) = %v, want ErrNotFound", err)
	}
}

// TestConcurrentDuplicateDevice: N goroutines race to register one device_id;
// exactly one wins. [DEV-ID]
func TestConcurrentDuplicateDevice(t *testing.T) {
	r, _ := openTest(t, Options{})
	p1 := mustProject(t, r, "p1")
	p2 := mustProject(t, r, "p2")
	mustProduct(t, r, p1.ID, "prod", "MQTT")
	mustProduct(t, r, p2.ID, "prod", "MQTT")
	const n = 64
	var ok, exists atomic.Int32
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Go(func() {
			proj := p1.ID
			if i%2 == 1 {
				proj = p2.ID
			}
			_, err := r.CreateDevice(testCtx(t), proj, NewDevice{NodeID: fmt.Sprintf("node%d", i), ProductID: "prod", DeviceID: "contested"})
			switch {
			case err == nil:
				ok.Add(1)
			case errors.Is(err, ErrDeviceExists):
				exists.Add(1)
			default:
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("unexpected error: %v", err)
	}
	if ok.Load() != 1 || exists.Load() != n-1 {
		t.Fatalf("ok=%d exists=%d, want exactly one winner", ok.Load(), exists.Load())
	}
	if _, _, _, _, devices := r.Counts(); devices != 1 {
		t.Fatalf("Counts devices = %d, want 1", devices)
	}
}

func TestCreateDevicesBulkAllOrNothing(t *testing.T) {
	r, _ := openTest(t, Options{})
	p := mustProject(t, r, "p")
	mustProduct(t, r, p.ID, "prod", "MQTT")
	mustDevice(t, r, p.ID, certDevice("prod", "taken"))
	_, err := r.CreateDevices(testCtx(t), p.ID, []NewDevice{certDevice("prod", "a"), certDevice("prod", "taken"), certDevice("prod", "b")})
	requireErr(t, err, ErrDeviceExists, "#1")
	if _, ok := r.LookupDevice("prod_a"); ok {
		t.Fatal("a failed batch registered prod_a")
	}
	ds, err := r.CreateDevices(testCtx(t), p.ID, []NewDevice{certDevice("prod", "a"), certDevice("prod", "b")})
	if err != nil || len(ds) != 2 || ds[1].Seq <= ds[0].Seq {
		t.Fatalf("CreateDevices = %+v, %v", ds, err)
	}
}

func TestUpdateDevice(t *testing.T) {
	r, _ := openTest(t, Options{})
	p := mustProject(t, r, "p")
	other := mustProject(t, r, "other")
	mustProduct(t, r, p.ID, "prod", "MQTT")
	d := mustDevice(t, r, p.ID, NewDevice{NodeID: "n", ProductID: "prod", Name: "old", Description: "desc"})
	name := "new name"
	got, err := r.UpdateDevice(testCtx(t), p.ID, d.ID, &name, nil, []byte(`{"a":"b"}`))
	if err != nil {
		t.Fatal(err)
	}
	if got.Name != "new name" || got.Description != "desc" || string(got.ExtensionInfo) != `{"a":"b"}` {
		t.Fatalf("got %+v", got)
	}
	if l, _ := r.LookupDevice(d.ID); l.Name != "new name" {
		t.Fatalf("memory not updated: %+v", l)
	}
	long := strings.Repeat("x", 257)
	_, err = r.UpdateDevice(testCtx(t), p.ID, d.ID, &long, nil, nil)
	requireErr(t, err, ErrInvalidInput, "device_name must be at most 256")
	_, err = r.UpdateDevice(testCtx(t), p.ID, d.ID, nil, nil, []byte("{"))
	requireErr(t, err, ErrInvalidInput, "extension_info is not valid JSON")
	_, err = r.UpdateDevice(testCtx(t), other.ID, d.ID, &name, nil, nil)
	requireErr(t, err, ErrNotFound, "not found")
	same, err := r.UpdateDevice(testCtx(t), p.ID, d.ID, nil, nil, nil)
	if err != nil || same.Name != "new name" {
		t.Fatalf("no-op update = %+v, %v", same, err)
	}
}

func TestDeviceLifecycleEvents(t *testing.T) {
	r, _ := openTest(t, Options{})
	p := mustProject(t, r, "p")
	mustProduct(t, r, p.ID, "prod", "MQTT")
	d := mustDevice(t, r, p.ID, certDevice("prod", "n"))
	sec := mustDevice(t, r, p.ID, NewDevice{NodeID: "s", ProductID: "prod"})
	var log eventLog
	r.OnChange(log.add)
	ctx := testCtx(t)

	// Reset fingerprint [DEV-FINGERPRINT-SECONDARY].
	got, err := r.ResetFingerprint(ctx, p.ID, d.ID, "", fpSHA256, true)
	if err != nil || got.Fingerprint != strings.ToLower(fpSHA256) {
		t.Fatalf("reset primary = %+v, %v", got, err)
	}
	got, err = r.ResetFingerprint(ctx, p.ID, d.ID, iotda.FingerprintSecondary, fpSHA1, false)
	if err != nil || got.SecondaryFingerprint != fpSHA1 || got.Fingerprint != strings.ToLower(fpSHA256) {
		t.Fatalf("reset secondary = %+v, %v", got, err)
	}
	got, err = r.ResetFingerprint(ctx, p.ID, d.ID, iotda.FingerprintPrimary, "", false)
	if err != nil || got.Fingerprint != "" {
		t.Fatalf("clear primary = %+v, %v", got, err)
	}
	_, err = r.ResetFingerprint(ctx, p.ID, d.ID, "TERTIARY", fpSHA1, false)
	requireErr(t, err, ErrInvalidInput, "fingerprint_type must be PRIMARY or SECONDARY")
	_, err = r.ResetFingerprint(ctx, p.ID, d.ID, "", "12ab", false)
	requireErr(t, err, ErrInvalidInput, "40 (SHA-1) or 64 (SHA-256)")
	_, err = r.ResetFingerprint(ctx, p.ID, sec.ID, "", fpSHA1, false)
	requireErr(t, err, ErrInvalidInput, "not CERTIFICATES")
	_, err = r.ResetFingerprint(ctx, p.ID, "ghost", "", fpSHA1, false)
	requireErr(t, err, ErrNotFound, "ghost")

	// Freeze [DEV-FREEZE].
	got, err = r.SetFrozen(ctx, p.ID, d.ID, true)
	if err != nil || !got.Frozen {
		t.Fatalf("freeze = %+v, %v", got, err)
	}
	got, err = r.SetFrozen(ctx, p.ID, d.ID, false)
	if err != nil || got.Frozen {
		t.Fatalf("unfreeze = %+v, %v", got, err)
	}
	_, err = r.SetFrozen(ctx, p.ID, "ghost", true)
	requireErr(t, err, ErrNotFound, "ghost")

	// Delete.
	requireErr(t, r.DeleteDevice(ctx, "other", d.ID), ErrNotFound, "not found")
	if err := r.DeleteDevice(ctx, p.ID, d.ID); err != nil {
		t.Fatal(err)
	}
	if _, ok := r.LookupDevice(d.ID); ok {
		t.Fatal("deleted device still found")
	}
	requireErr(t, r.DeleteDevice(ctx, p.ID, d.ID), ErrNotFound, "not found")

	want := []Event{
		{Kind: EventFingerprintReset, DeviceID: d.ID, Force: true},
		{Kind: EventFingerprintReset, DeviceID: d.ID},
		{Kind: EventFingerprintReset, DeviceID: d.ID},
		{Kind: EventDeviceFrozen, DeviceID: d.ID},
		{Kind: EventDeviceDeleted, DeviceID: d.ID},
	}
	if got := log.take(); fmtEvents(got) != fmtEvents(want) {
		t.Fatalf("events\n got %s\nwant %s", fmtEvents(got), fmtEvents(want))
	}
	// The device_id is free again.
	again := mustDevice(t, r, p.ID, certDevice("prod", "n"))
	if again.Seq <= d.Seq {
		t.Errorf("re-created device Seq %d not above %d", again.Seq, d.Seq)
	}
}

// TestBindFingerprint: the first login binds; concurrent binds of different
// certificates leave exactly one bound. [DEV-FINGERPRINT-BIND]
func TestBindFingerprint(t *testing.T) {
	r, path := openTest(t, Options{})
	p := mustProject(t, r, "p")
	mustProduct(t, r, p.ID, "prod", "MQTT")
	d := mustDevice(t, r, p.ID, certDevice("prod", "n"))
	const n = 16
	var wins atomic.Int32
	var winner atomic.Value
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			fp := fmt.Sprintf("%064x", i+1)
			ok, err := r.BindFingerprint(testCtx(t), d.ID, strings.ToUpper(fp))
			if err != nil {
				t.Errorf("bind: %v", err)
			}
			if ok {
				wins.Add(1)
				winner.Store(fp)
			}
		})
	}
	wg.Wait()
	if wins.Load() != 1 {
		t.Fatalf("%d binds succeeded, want 1", wins.Load())
	}
	fp := winner.Load().(string)
	if got, _ := r.LookupDevice(d.ID); got.Fingerprint != fp {
		t.Fatalf("Fingerprint = %q, want %q", got.Fingerprint, fp)
	}
	if ok, err := r.BindFingerprint(testCtx(t), d.ID, fp); !ok || err != nil {
		t.Fatalf("re-bind of the bound fingerprint = %v, %v; want true", ok, err)
	}
	if ok, err := r.BindFingerprint(testCtx(t), d.ID, fpSHA1); ok || err != nil {
		t.Fatalf("bind of another fingerprint = %v, %v; want false", ok, err)
	}
	_, err := r.BindFingerprint(testCtx(t), d.ID, "xyz")
	requireErr(t, err, ErrInvalidInput, "40 (SHA-1) or 64 (SHA-256)")
	_, err = r.BindFingerprint(testCtx(t), "ghost", fpSHA1)
	requireErr(t, err, ErrNotFound, "ghost")
	sec := mustDevice(t, r, p.ID, NewDevice{NodeID: "s", ProductID: "prod"})
	_, err = r.BindFingerprint(testCtx(t), sec.ID, fpSHA1)
	requireErr(t, err, ErrInvalidInput, "not CERTIFICATES")

	// Durable: present after a restart.
	r = reopen(t, r, path, Options{})
	if got, _ := r.LookupDevice(d.ID); got.Fingerprint != fp {
		t.Fatalf("after restart Fingerprint = %q, want %q", got.Fingerprint, fp)
	}
}

// TestSetOnline: memory changes at once; the database follows within the
// flush interval, without Close. [DEV-STATUS]
func TestSetOnline(t *testing.T) {
	r, path := openTest(t, Options{})
	p := mustProject(t, r, "p")
	mustProduct(t, r, p.ID, "prod", "MQTT")
	d := mustDevice(t, r, p.ID, certDevice("prod", "n"))
	t1 := time.Date(2026, 1, 2, 3, 4, 5, 6_000_000, time.UTC)
	t2 := t1.Add(time.Minute)
	t3 := t2.Add(time.Minute)
	ctx := testCtx(t)
	if err := r.SetOnline(ctx, d.ID, true, t1); err != nil {
		t.Fatal(err)
	}
	got, _ := r.LookupDevice(d.ID)
	if got.Status != iotda.StatusOnline || !got.ActiveTime.Equal(t1) || !got.StatusUpdateTime.Equal(t1) {
		t.Fatalf("after login: %s active=%v updated=%v", got.Status, got.ActiveTime, got.StatusUpdateTime)
	}
	if err := r.SetOnline(ctx, d.ID, false, t2); err != nil {
		t.Fatal(err)
	}
	if err := r.SetOnline(ctx, d.ID, true, t3); err != nil {
		t.Fatal(err)
	}
	got, _ = r.Device(p.ID, d.ID)
	if got.Status != iotda.StatusOnline || !got.ActiveTime.Equal(t1) || !got.StatusUpdateTime.Equal(t3) {
		t.Fatalf("after relogin: %s active=%v (want first login %v) updated=%v", got.Status, got.ActiveTime, t1, got.StatusUpdateTime)
	}
	requireErr(t, r.SetOnline(ctx, "ghost", true, t1), ErrNotFound, "ghost")

	// A second, read-only connection sees the flushed row.
	ro, err := sql.Open("sqlite", path+"?_pragma=busy_timeout(5000)&_pragma=query_only(1)")
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	deadline := time.Now().Add(5 * time.Second)
	for {
		var status string
		var active, updated int64
		err := ro.QueryRowContext(ctx, `SELECT status, active_time, status_update_time FROM devices WHERE device_id = ?`, d.ID).Scan(&status, &active, &updated)
		if err != nil {
			t.Fatal(err)
		}
		if status == iotda.StatusOnline && active == t1.UnixNano() && updated == t3.UnixNano() {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("status not flushed: %s %d %d", status, active, updated)
		}
		time.Sleep(20 * time.Millisecond)
	}

	// A disconnect right before Close is flushed by Close.
	if err := r.SetOnline(ctx, d.ID, false, t3.Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	r = reopen(t, r, path, Options{})
	got, _ = r.LookupDevice(d.ID)
	if got.Status != iotda.StatusOffline || !got.ActiveTime.Equal(t1) || !got.StatusUpdateTime.Equal(t3.Add(time.Second)) {
		t.Fatalf("after restart: %s active=%v updated=%v", got.Status, got.ActiveTime, got.StatusUpdateTime)
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	requireErr(t, r.SetOnline(ctx, d.ID, true, t1), ErrClosed, "closed")
	_, err = r.CreateProject(ctx, "late")
	requireErr(t, err, ErrClosed, "closed")
}

func TestListDevicesPaging(t *testing.T) {
	r, _ := openTest(t, Options{})
	p := mustProject(t, r, "p")
	mustProduct(t, r, p.ID, "a", "MQTT")
	mustProduct(t, r, p.ID, "b", "MQTT")
	var all []Device
	for i := range 23 {
		prod := "a"
		if i%4 == 0 {
			prod = "b"
		}
		all = append(all, mustDevice(t, r, p.ID, NewDevice{NodeID: fmt.Sprintf("n%02d", i), ProductID: prod}))
	}
	// A device of another project never shows.
	q := mustProject(t, r, "q")
	mustProduct(t, r, q.ID, "a", "MQTT")
	mustDevice(t, r, q.ID, NewDevice{NodeID: "other", ProductID: "a"})

	ids := func(ds []Device) string {
		var s []string
		for _, d := range ds {
			s = append(s, d.NodeID)
		}
		return strings.Join(s, ",")
	}
	desc := func(from, to int) string { // all[to-1] .. all[from]
		var s []string
		for i := to - 1; i >= from; i-- {
			s = append(s, all[i].NodeID)
		}
		return strings.Join(s, ",")
	}
	cases := []struct {
		name   string
		filter DeviceFilter
		page   Page
		want   string
		total  int64
	}{
		{"first page", DeviceFilter{}, Page{Limit: 10}, desc(13, 23), 23},
		{"second page", DeviceFilter{}, Page{Limit: 10, Marker: all[13].Marker()}, desc(3, 13), 23},
		{"last page", DeviceFilter{}, Page{Limit: 10, Marker: all[3].Marker()}, desc(0, 3), 23},
		{"offset", DeviceFilter{}, Page{Limit: 2, Offset: 3}, desc(18, 20), 23},
		{"default marker", DeviceFilter{}, Page{Limit: 1, Marker: allFMarker}, desc(22, 23), 23},
		{"product filter", DeviceFilter{ProductID: "b"}, Page{Limit: 50}, "n20,n16,n12,n08,n04,n00", 6},
		{"product filter, marker", DeviceFilter{ProductID: "b"}, Page{Limit: 2, Marker: all[16].Marker()}, "n12,n08", 6},
		{"node filter", DeviceFilter{NodeID: "n07"}, Page{}, "n07", 1},
		{"no match", DeviceFilter{AppID: "none"}, Page{}, "", 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, total, err := r.ListDevices(p.ID, tc.filter, tc.page)
			if err != nil {
				t.Fatal(err)
			}
			if ids(got) != tc.want || total != tc.total {
				t.Fatalf("got %s (total %d), want %s (total %d)", ids(got), total, tc.want, tc.total)
			}
		})
	}
	_, _, err := r.ListDevices(p.ID, DeviceFilter{}, Page{Marker: "12"})
	requireErr(t, err, ErrInvalidInput, "marker must be 24 hex digits")
	_, _, err = r.ListDevices(p.ID, DeviceFilter{}, Page{Limit: 51})
	requireErr(t, err, ErrInvalidInput, "limit must be 1..50")
	_, _, err = r.ListDevices("nope", DeviceFilter{}, Page{})
	requireErr(t, err, ErrNotFound, "project")
}

func TestLookupDeviceDoesNotAllocate(t *testing.T) {
	r, _ := openTest(t, Options{})
	p := mustProject(t, r, "p")
	mustProduct(t, r, p.ID, "prod", "MQTT")
	d := mustDevice(t, r, p.ID, certDevice("prod", "n"))
	var sink Device
	allocs := testing.AllocsPerRun(1000, func() {
		sink, _ = r.LookupDevice(d.ID)
	})
	if allocs != 0 || sink.ID != d.ID {
		t.Fatalf("LookupDevice allocates %.1f times per call", allocs)
	}
}

func TestWriteHonoursCancelledContext(t *testing.T) {
	r, _ := openTest(t, Options{})
	ctx, cancel := context.WithCancel(testCtx(t))
	cancel()
	if _, err := r.CreateProject(ctx, "never"); err == nil {
		t.Fatal("CreateProject with a cancelled context succeeded")
	}
	if _, ok := r.ProjectByName("never"); ok {
		t.Fatal("project created despite the cancelled context")
	}
}

// colonSeparated writes a hex fingerprint as openssl prints it: AB:CD:...
func colonSeparated(hexFP string) string {
	var parts []string
	for i := 0; i < len(hexFP); i += 2 {
		parts = append(parts, strings.ToUpper(hexFP[i:i+2]))
	}
	return strings.Join(parts, ":")
}
