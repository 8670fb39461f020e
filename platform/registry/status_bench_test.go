package registry

import (
	"testing"
	"time"
)

// BenchmarkStatusFlush: the status batcher's write of dirty devices, the way
// login churn makes them (each op = one device marked dirty and flushed in a
// batch of 256). [DEV-STATUS]
func BenchmarkStatusFlush(b *testing.B) {
	r, _ := openTest(b, Options{})
	p := mustProject(b, r, "bench")
	mustProduct(b, r, p.ID, "prod", "MQTT")
	ids := seedDevices(b, r, p.ID, "prod", 2000)
	ctx := testCtx(b)
	const batch = 256
	at := time.Now()
	i := 0
	b.ReportAllocs()
	for b.Loop() {
		if err := r.SetOnline(ctx, ids[i%len(ids)], i%2 == 0, at.Add(time.Duration(i))); err != nil {
			b.Fatal(err)
		}
		i++
		if i%batch == 0 {
			r.flushStatus()
		}
	}
	r.flushStatus()
}
