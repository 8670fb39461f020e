package loadgen

import (
	"fmt"
	"sync"

	"github.com/certlab/certlab/loadgen/result"
	"github.com/certlab/certlab/sim/device"
)

// DefaultUnreachableAfter is how many consecutive refused or unreachable
// dials, with no login confirmed before them, end a run: a dead MQTT port
// refuses tens of thousands of dials per second, and a run that keeps
// dialling it measures nothing.
const DefaultUnreachableAfter = 50

// UnreachableError ends a run whose server under test refused (or could not
// be reached by) every dial: DefaultUnreachableAfter of them in a row, and
// no login had succeeded.
type UnreachableError struct {
	Addr   string // the MQTT endpoint, host:port
	Dials  int    // consecutive failed dials
	Reason string // device.ReasonRefusedTCP or device.ReasonDial
}

func (e *UnreachableError) Error() string {
	if e.Reason == device.ReasonDial {
		return fmt.Sprintf("loadgen: MQTT endpoint %s cannot be reached (%d consecutive failed dials, no login succeeded): is the host up and the address right?", e.Addr, e.Dials)
	}
	return fmt.Sprintf("loadgen: MQTT endpoint %s refuses connections (%d consecutive refused dials, no login succeeded): is the broker running?", e.Addr, e.Dials)
}

// reachGuard is a Sink that watches the server under test's results and
// fails (which stops the attack at once: Attack cancels on a sink error)
// after `after` consecutive dials refused (ECONNREFUSED) or unreachable,
// unless a login has succeeded: a server that has logged devices in is
// reachable, and an outage later in a run is a result, not a harness fault.
// The baseline's results are not watched.
type reachGuard struct {
	addr  string
	after int

	mu        sync.Mutex
	streak    int
	reason    string
	succeeded bool
}

func newReachGuard(addr string, after int) *reachGuard {
	if after <= 0 {
		after = DefaultUnreachableAfter
	}
	return &reachGuard{addr: addr, after: after}
}

// Record counts one result (Sink).
func (g *reachGuard) Record(r *result.Result) error {
	if r.Server == result.ServerBaseline {
		return nil
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	switch {
	case g.succeeded:
	case r.Outcome == result.OutcomeSuccess:
		g.succeeded = true
	case r.Outcome == result.OutcomeDropped: // never dialled
	case r.Outcome == result.OutcomeError && r.Phase == result.PhaseTCP &&
		(r.Reason == device.ReasonRefusedTCP || r.Reason == device.ReasonDial):
		g.streak++
		g.reason = r.Reason
		if g.streak >= g.after {
			return &UnreachableError{Addr: g.addr, Dials: g.streak, Reason: g.reason}
		}
	default:
		g.streak = 0 // the server answered the dial
	}
	return nil
}

var _ result.Sink = (*reachGuard)(nil)
