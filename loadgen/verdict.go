package loadgen

import (
	"fmt"
	"strings"

	"github.com/certlab/certlab/loadgen/result"
)

// DefaultMaxErrorShare is the share of measured attempts that may end
// unexpectedly before a run fails its verdict (the default of `certlab
// loadgen --max-error-share`).
const DefaultMaxErrorShare = 0.05

// VerdictError is a run that completed and measured, but whose results fail:
// no login succeeded, or too many attempts ended unexpectedly. `certlab
// loadgen` exits 2 on it.
type VerdictError struct {
	Problems []string // one per failed rule and server
}

func (e *VerdictError) Error() string {
	return "loadgen: the run failed: " + strings.Join(e.Problems, "; ")
}

// Judge is the verdict on a summary. It fails when nothing was measured,
// when a server confirmed no login although good identities tried, or when
// the share of a server's measured attempts that ended unexpectedly (an
// error, a drop, a good identity refused, a bad identity let in or refused
// with the wrong code: everything but a success of a good identity and the
// expected refusal of a bad one) exceeds maxErrorShare (0..1).
func Judge(s *result.Summary, maxErrorShare float64) error {
	var problems []string
	if s == nil || len(s.Servers) == 0 {
		return &VerdictError{Problems: []string{"nothing was measured"}}
	}
	for i := range s.Servers {
		ss := &s.Servers[i]
		if ss.Attempts == 0 {
			problems = append(problems, fmt.Sprintf("%s: no attempt was measured", ss.Server))
			continue
		}
		var good int64
		for _, id := range ss.Identities {
			if id.Expected == result.OutcomeSuccess {
				good += id.Attempts
			}
		}
		if good > 0 && ss.Success == 0 {
			problems = append(problems, fmt.Sprintf("%s: no login succeeded in %d attempts%s", ss.Server, ss.Attempts, mostly(ss)))
			continue
		}
		if share := float64(ss.Unexpected) / float64(ss.Attempts); share > maxErrorShare {
			problems = append(problems, fmt.Sprintf("%s: %d of %d attempts (%.1f%%) ended unexpectedly, more than --max-error-share %g%s",
				ss.Server, ss.Unexpected, ss.Attempts, share*100, maxErrorShare, mostly(ss)))
		}
	}
	if len(problems) == 0 {
		return nil
	}
	return &VerdictError{Problems: problems}
}

// mostly names the commonest unexpected ending, as a hint.
func mostly(ss *result.ServerSummary) string {
	var top *result.BreakdownRow
	for i := range ss.Breakdown {
		b := &ss.Breakdown[i]
		if b.Unexpected > 0 && (top == nil || b.Unexpected > top.Unexpected) {
			top = b
		}
	}
	if top == nil {
		return ""
	}
	parts := []string{string(top.Outcome)}
	for _, p := range []string{top.Phase, top.Reason} {
		if p != "" {
			parts = append(parts, p)
		}
	}
	return fmt.Sprintf(" (mostly %s: %d)", strings.Join(parts, " "), top.Unexpected)
}
