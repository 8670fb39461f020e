package registry

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/certlab/certlab/iotda"
)

// TestResetOnline: devices ONLINE when the registry was last closed (as after
// a crash, when no OFFLINE was ever written) are OFFLINE after ResetOnline,
// in memory and in the database; others keep their status. [DEV-STATUS]
func TestResetOnline(t *testing.T) {
	r, path := openTest(t, Options{})
	p := mustProject(t, r, "p")
	mustProduct(t, r, p.ID, "prod", iotda.ProtocolMQTT)
	ctx := testCtx(t)
	var online, offline []string
	for i := range 6 {
		d := mustDevice(t, r, p.ID, certDevice("prod", fmt.Sprintf("n%d", i)))
		if err := r.SetOnline(ctx, d.ID, true, time.Time{}); err != nil {
			t.Fatal(err)
		}
		if i%2 == 0 {
			online = append(online, d.ID)
			continue
		}
		if err := r.SetOnline(ctx, d.ID, false, time.Time{}); err != nil {
			t.Fatal(err)
		}
		offline = append(offline, d.ID)
	}
	inactive := mustDevice(t, r, p.ID, certDevice("prod", "never")).ID

	r = reopen(t, r, path, Options{}) // Close flushes the statuses: ONLINE is on disk
	for _, id := range online {
		if d, _ := r.LookupDevice(id); d.Status != iotda.StatusOnline {
			t.Fatalf("before the reset %s is %s, want ONLINE (the test would prove nothing)", id, d.Status)
		}
	}
	at := time.Now().Add(time.Minute).UTC().Truncate(time.Millisecond)
	n, err := r.ResetOnline(ctx, at)
	if err != nil || n != int64(len(online)) {
		t.Fatalf("ResetOnline = %d, %v; want %d", n, err, len(online))
	}
	check := func(r *Registry, where string) {
		t.Helper()
		for _, id := range append(append([]string{}, online...), offline...) {
			d, _ := r.LookupDevice(id)
			if d.Status != iotda.StatusOffline {
				t.Errorf("%s: %s is %s, want OFFLINE", where, id, d.Status)
			}
		}
		for _, id := range online {
			if d, _ := r.LookupDevice(id); !d.StatusUpdateTime.Equal(at) {
				t.Errorf("%s: %s status_update_time %s, want %s", where, id, d.StatusUpdateTime, at)
			}
		}
		if d, _ := r.LookupDevice(inactive); d.Status != iotda.StatusInactive {
			t.Errorf("%s: a device that never logged in is %s, want INACTIVE", where, d.Status)
		}
	}
	check(r, "in memory")
	check(reopen(t, r, path, Options{}), "after reopening")
}

// BenchmarkResetOnline100k: the reset at start with 100,000 devices, all ONLINE.
func BenchmarkResetOnline100k(b *testing.B) {
	r, path := openTest(b, Options{})
	p := mustProject(b, r, "p")
	mustProduct(b, r, p.ID, "prod", iotda.ProtocolMQTT)
	ctx, cancel := context.WithTimeout(b.Context(), 10*time.Minute) // setup alone takes ~30 s
	defer cancel()
	const n = 100_000
	batch := make([]NewDevice, 0, 1000)
	for i := range n {
		batch = append(batch, certDevice("prod", fmt.Sprintf("n%06d", i)))
		if len(batch) == cap(batch) {
			ds, err := r.CreateDevices(ctx, p.ID, batch)
			if err != nil {
				b.Fatal(err)
			}
			for _, d := range ds {
				_ = r.SetOnline(ctx, d.ID, true, time.Time{})
			}
			batch = batch[:0]
		}
	}
	b.ResetTimer()
	for b.Loop() {
		b.StopTimer()
		r = reopen(b, r, path, Options{})
		b.StartTimer()
		if got, err := r.ResetOnline(ctx, time.Time{}); err != nil || got == 0 {
			b.Fatalf("ResetOnline = %d, %v", got, err)
		}
		b.StopTimer()
		for _, ps := range r.projects { // ONLINE again for the next round
			for _, e := range ps.devices {
				_ = r.SetOnline(ctx, e.cur.Load().ID, true, time.Time{})
			}
		}
		b.StartTimer()
	}
}
