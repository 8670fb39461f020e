// Package proccpu reads this process's CPU time, for benchmarks that report
// CPU per operation: the platform's work waits on the network and on fsync,
// so wall time per op says little about what an op costs. (loadgen/host
// has the same reading for the generator; the platform may not import it.)
package proccpu

import (
	"syscall"
	"testing"
	"time"
)

// Self returns the process's user+system CPU time so far.
func Self() (time.Duration, error) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0, err
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()), nil
}

// Meter reports a benchmark's process CPU time per op.
type Meter struct {
	b     *testing.B
	start time.Duration
}

// Start begins measuring: call it right before the benchmark's loop.
func Start(b *testing.B) Meter {
	b.Helper()
	t, err := Self()
	if err != nil {
		b.Fatalf("process CPU: %v", err)
	}
	return Meter{b: b, start: t}
}

// Report adds the CPU time per op since Start, in µs, as the metric unit
// (e.g. "cpu-us/login"): call it right after the loop.
func (m Meter) Report(unit string) {
	m.b.Helper()
	t, err := Self()
	if err != nil {
		m.b.Fatalf("process CPU: %v", err)
	}
	m.b.ReportMetric(float64((t-m.start).Microseconds())/float64(m.b.N), unit)
}
