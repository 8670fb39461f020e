package loadgen

import (
	"context"
	"time"
)

// holdRamp paces the logins of hold mode. With a Pacer, login i is due at
// the ramp's start plus Pacer.Due(i): --rate paces the ramp-up of held
// logins as it paces the open loop, and a login's latency runs from its due
// time even when it waited for one of the Workers (no coordinated omission).
// Without a pacer the ramp runs as fast as Workers allow.
type holdRamp struct {
	pacer Pacer
	began time.Time
	timer *time.Timer
}

func newHoldRamp(p Pacer) *holdRamp {
	return &holdRamp{pacer: p, began: time.Now()}
}

// wait blocks until login i is due and returns its due time: zero without
// a pacer (the login is due when a worker takes it). ok is false when the
// pacer has no more logins or ctx ended.
func (h *holdRamp) wait(ctx context.Context, i uint64) (due time.Time, ok bool) {
	if h.pacer == nil {
		return time.Time{}, ctx.Err() == nil
	}
	at, stop := h.pacer.Due(i)
	if stop {
		return time.Time{}, false
	}
	due = h.began.Add(at)
	d := time.Until(due)
	if d <= 0 {
		return due, ctx.Err() == nil
	}
	if h.timer == nil {
		h.timer = time.NewTimer(d)
	} else {
		h.timer.Reset(d)
	}
	select {
	case <-h.timer.C:
		return due, true
	case <-ctx.Done():
		h.timer.Stop()
		return due, false
	}
}
