package registry

import (
	"fmt"
	"testing"
	"time"

	"github.com/certlab/certlab/platform/internal/proccpu"
)

// BenchmarkStatusFlush: the status batcher's write of dirty devices, the way
// login churn makes them (each op = one device marked dirty and flushed in a
// batch of 256), at 2,000 and 100,000 registered devices. Devices are taken
// in a scattered order, as churn takes them: at 100,000 nearly every dirty
// device sits on its own database page. [DEV-STATUS]
func BenchmarkStatusFlush(b *testing.B) {
	for _, n := range []int{2000, 100_000} {
		b.Run(fmt.Sprintf("devices=%d", n), func(b *testing.B) {
			r, _ := openTest(b, Options{})
			p := mustProject(b, r, "bench")
			mustProduct(b, r, p.ID, "prod", "MQTT")
			ids := seedDevices(b, r, p.ID, "prod", n)
			ctx := testCtx(b)
			const batch = 256
			at := time.Now()
			i := 0
			b.ReportAllocs()
			cpu := proccpu.Start(b)
			for b.Loop() {
				id := ids[(i*7919)%len(ids)] // 7919 is prime: a scattered walk over every device
				if err := r.SetOnline(ctx, id, i%2 == 0, at.Add(time.Duration(i))); err != nil {
					b.Fatal(err)
				}
				i++
				if i%batch == 0 {
					r.flushStatus()
				}
			}
			r.flushStatus()
			cpu.Report("cpu-us/op")
		})
	}
}

// TestSetOnlineDoesNotAllocate: a login and a disconnect change the live
// status in place (devEntry atomics), not by copying the device. [DEV-STATUS]
func TestSetOnlineDoesNotAllocate(t *testing.T) {
	r, _ := openTest(t, Options{})
	p := mustProject(t, r, "allocs")
	mustProduct(t, r, p.ID, "prod", "MQTT")
	ids := seedDevices(t, r, p.ID, "prod", 1)
	ctx := testCtx(t)
	at := time.Now()
	online := false
	if err := r.SetOnline(ctx, ids[0], true, at); err != nil { // the batcher's entry exists from here
		t.Fatal(err)
	}
	allocs := testing.AllocsPerRun(200, func() {
		online = !online
		if err := r.SetOnline(ctx, ids[0], online, at); err != nil {
			t.Fatal(err)
		}
	})
	if allocs > 0 {
		t.Errorf("SetOnline allocates %.1f times per call, want 0", allocs)
	}
	if d, _ := r.LookupDevice(ids[0]); d.ActiveTime.IsZero() || d.StatusUpdateTime.IsZero() {
		t.Errorf("live status not merged: %+v", d)
	}
}
