package host

import (
	"crypto/sha256"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// burn spends d of CPU time on the calling goroutine's thread (its own
// clock, independent of the sources under test), however busy the machine
// is; it gives up after 20 s of wall time.
func burn(t *testing.T, d time.Duration) {
	t.Helper()
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	start, err := threadCPU()
	if err != nil {
		t.Fatal(err)
	}
	b := []byte("certlab")
	for giveUp := time.Now().Add(20 * time.Second); time.Now().Before(giveUp); {
		for range 1000 {
			s := sha256.Sum256(b)
			b = s[:]
		}
		if now, _ := threadCPU(); now-start >= d.Seconds() {
			return
		}
	}
	t.Fatalf("could not burn %s of CPU in 20 s", d)
}

func TestCPUSourcesAdvance(t *testing.T) {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	srv := httptest.NewServer(promhttp.HandlerFor(reg, promhttp.HandlerOpts{EnableOpenMetrics: true}))
	defer srv.Close()
	sources := []CPUSource{SelfCPU{}, PIDCPU{PID: os.Getpid()}, MetricsCPU{URL: srv.URL}}
	before := make([]float64, len(sources))
	for i, s := range sources {
		v, err := s.CPUSeconds(t.Context())
		if err != nil {
			t.Fatalf("%s: %v", s, err)
		}
		before[i] = v
	}
	burn(t, 150*time.Millisecond)
	for i, s := range sources {
		v, err := s.CPUSeconds(t.Context())
		if err != nil {
			t.Fatalf("%s: %v", s, err)
		}
		// /proc and the process collector tick at 10 ms.
		if d := v - before[i]; d < 0.1 || d > 5 {
			t.Errorf("%s advanced %.3f s over 150 ms of busy work", s, d)
		}
	}
}

func TestProcStatParsesOddCommandNames(t *testing.T) {
	// A command name with spaces and parentheses: fields follow the last ')'.
	stat := "4242 (my (odd) cmd) S 1 4242 4242 0 -1 4194560 100 0 0 0 250 75 0 0 20 0 3 0 1000 0 0\n"
	path := filepath.Join(t.TempDir(), "stat")
	if err := os.WriteFile(path, []byte(stat), 0o644); err != nil {
		t.Fatal(err)
	}
	got, err := procStatCPU(path)
	if err != nil {
		t.Fatal(err)
	}
	if got != 3.25 { // (250 + 75) ticks / 100
		t.Errorf("procStatCPU = %v, want 3.25", got)
	}
}

func TestMetricsCPUErrors(t *testing.T) {
	empty := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte("# no process metrics here\nother_total 1\n"))
	}))
	defer empty.Close()
	if _, err := (MetricsCPU{URL: empty.URL}).CPUSeconds(t.Context()); err == nil {
		t.Error("an endpoint without process_cpu_seconds_total gave no error")
	}
	down := httptest.NewServer(http.NotFoundHandler())
	down.Close()
	if _, err := (MetricsCPU{URL: down.URL}).CPUSeconds(t.Context()); err == nil {
		t.Error("a closed endpoint gave no error")
	}
}
