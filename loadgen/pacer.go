package loadgen

import (
	"fmt"
	"math"
	"time"
)

// A Pacer schedules an open loop. Due returns when attempt n (from 0) is
// due, as an offset from the start of the attack, or stop = true when the
// pacer has no more attempts. Because the schedule is a function of n, the
// scheduled time of every attempt is exact whatever the scheduler's own
// delays: latency is measured from it, so a slow server cannot hide the
// queueing it causes (coordinated omission).
type Pacer interface {
	Due(n uint64) (at time.Duration, stop bool)
}

// PacerFunc adapts a function to a Pacer.
type PacerFunc func(n uint64) (time.Duration, bool)

// Due calls f(n).
func (f PacerFunc) Due(n uint64) (time.Duration, bool) { return f(n) }

// ConstantPacer schedules Rate attempts per second, evenly spaced.
type ConstantPacer struct {
	Rate float64 // attempts per second; must be > 0
}

// Due returns n/Rate seconds.
func (p ConstantPacer) Due(n uint64) (time.Duration, bool) {
	if p.Rate <= 0 || math.IsNaN(p.Rate) || math.IsInf(p.Rate, 0) {
		return 0, true
	}
	return time.Duration(float64(n) / p.Rate * float64(time.Second)), false
}

// String renders "1000/s".
func (p ConstantPacer) String() string { return fmt.Sprintf("%g/s", p.Rate) }

// LinearPacer ramps the rate linearly from StartRate by Slope per second
// (attempt n is due at the t where the integral of the rate reaches n).
type LinearPacer struct {
	StartRate float64 // attempts per second at t = 0; > 0
	Slope     float64 // change of rate per second (may be 0 or negative)
}

// Due solves StartRate*t + Slope*t²/2 = n for t.
func (p LinearPacer) Due(n uint64) (time.Duration, bool) {
	a, b, c := p.Slope/2, p.StartRate, -float64(n)
	if a == 0 {
		return ConstantPacer{Rate: b}.Due(n)
	}
	disc := b*b - 4*a*c
	if disc < 0 {
		return 0, true // a falling rate that reaches 0 before attempt n
	}
	t := (-b + math.Sqrt(disc)) / (2 * a)
	if t < 0 || math.IsNaN(t) {
		return 0, true
	}
	return time.Duration(t * float64(time.Second)), false
}

// Compile-time checks.
var (
	_ Pacer = ConstantPacer{}
	_ Pacer = LinearPacer{}
	_ Pacer = PacerFunc(nil)
)
