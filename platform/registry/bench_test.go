package registry

import (
	"fmt"
	"sync/atomic"
	"testing"
	"time"
)

// seedDevices registers n CERTIFICATES devices in bulk and returns their IDs.
func seedDevices(b testing.TB, r *Registry, projectID, productID string, n int) []string {
	b.Helper()
	ids := make([]string, 0, n)
	const chunk = 5000
	for start := 0; start < n; start += chunk {
		batch := make([]NewDevice, 0, chunk)
		for i := start; i < start+chunk && i < n; i++ {
			batch = append(batch, certDevice(productID, fmt.Sprintf("node-%07d", i)))
		}
		ds, err := r.CreateDevices(testCtx(b), projectID, batch)
		if err != nil {
			b.Fatal(err)
		}
		for _, d := range ds {
			ids = append(ids, d.ID)
		}
	}
	return ids
}

// BenchmarkLookupDevice: the login hot path with 100,000 devices loaded.
func BenchmarkLookupDevice(b *testing.B) {
	r, _ := openTest(b, Options{})
	p := mustProject(b, r, "bench")
	mustProduct(b, r, p.ID, "prod", "MQTT")
	ids := seedDevices(b, r, p.ID, "prod", 100_000)
	b.Run("serial", func(b *testing.B) {
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			if _, ok := r.LookupDevice(ids[i%len(ids)]); !ok {
				b.Fatal("not found")
			}
			i++
		}
	})
	b.Run("parallel", func(b *testing.B) {
		b.ReportAllocs()
		var seed atomic.Int64
		b.RunParallel(func(pb *testing.PB) {
			i := int(seed.Add(7919))
			for pb.Next() {
				if _, ok := r.LookupDevice(ids[i%len(ids)]); !ok {
					b.Fatal("not found")
				}
				i++
			}
		})
	})
}

// BenchmarkTrust: loading the trust snapshot on the TLS hot path.
func BenchmarkTrust(b *testing.B) {
	r, _ := openTest(b, Options{})
	p := mustProject(b, r, "bench")
	for i := range 10 {
		rec := mustAddCA(b, r, p.ID, mustRootCA(b, fmt.Sprintf("ca%d", i)))
		_ = rec
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if r.Trust() == nil {
				b.Fatal("nil trust")
			}
		}
	})
}

// BenchmarkCreateDevice: durable registrations per second, one caller at a
// time (one fsync each) and from 32×GOMAXPROCS concurrent callers (group commit).
func BenchmarkCreateDevice(b *testing.B) {
	setup := func(b *testing.B) (*Registry, string) {
		r, _ := openTest(b, Options{})
		p := mustProject(b, r, "bench")
		mustProduct(b, r, p.ID, "prod", "MQTT")
		return r, p.ID
	}
	b.Run("serial", func(b *testing.B) {
		r, pid := setup(b)
		ctx := testCtx(b)
		i := 0
		start := time.Now()
		for b.Loop() {
			if _, err := r.CreateDevice(ctx, pid, certDevice("prod", fmt.Sprintf("n%d", i))); err != nil {
				b.Fatal(err)
			}
			i++
		}
		b.ReportMetric(float64(i)/time.Since(start).Seconds(), "devices/s")
	})
	b.Run("concurrent", func(b *testing.B) {
		r, pid := setup(b)
		ctx := testCtx(b)
		var n atomic.Int64
		b.SetParallelism(32)
		start := time.Now()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := r.CreateDevice(ctx, pid, certDevice("prod", fmt.Sprintf("n%d", n.Add(1)))); err != nil {
					b.Error(err)
					return
				}
			}
		})
		b.ReportMetric(float64(n.Load())/time.Since(start).Seconds(), "devices/s")
	})
}
