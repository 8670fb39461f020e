package reports

import (
	"fmt"
	"time"

	"github.com/certlab/certlab/loadgen/result"
)

// Thresholds gate a run in CI. Zero fields are not checked.
type Thresholds struct {
	MaxP99       time.Duration // p99 of successful login latency (scheduled -> CONNACK)
	MinRate      float64       // server-confirmed logins per second
	MaxErrorRate float64       // share of attempts with an unexpected outcome (0..1)
	// Storms (storm.go): the longest time from the outage until 99% of the
	// held devices are back, and the most devices that may never come back
	// (nil: not checked; 0 is a limit).
	MaxTimeTo99      time.Duration
	MaxNeverReturned *int
}

// Check is one threshold applied to one server's results.
type Check struct {
	Name    string  `json:"name"` // "p99 latency", "login rate", "error rate"
	Server  string  `json:"server"`
	Limit   float64 `json:"limit"`
	Value   float64 `json:"value"`
	Unit    string  `json:"unit"` // "ms", "logins/s", "%"
	Pass    bool    `json:"pass"`
	Message string  `json:"message"`
}

// Primary is the server a report is about: the platform (or target), or
// the baseline when only the baseline ran (tls-only mode).
func Primary(s *result.Summary) *result.ServerSummary {
	if p := s.UnderTest(); p != nil {
		return p
	}
	if len(s.Servers) > 0 {
		return &s.Servers[0]
	}
	return nil
}

// Evaluate applies the thresholds to the primary server.
func Evaluate(s *result.Summary, th Thresholds) []Check {
	p := Primary(s)
	if p == nil {
		return evaluateStorm(s, th)
	}
	var out []Check
	if th.MaxP99 > 0 {
		limit := float64(th.MaxP99) / float64(time.Millisecond)
		lat := p.Latency[result.MetricTotal]
		v := float64(lat.P99) / 1000
		// A threshold with nothing to measure fails: a summary without
		// latency data must not pass a latency gate silently.
		c := Check{Name: "p99 latency", Server: p.Server, Limit: limit, Value: v, Unit: "ms", Pass: p.Success > 0 && lat.Count > 0 && v <= limit}
		c.Message = fmt.Sprintf("p99 of successful logins %.2f ms, limit %.2f ms", v, limit)
		switch {
		case p.Success == 0:
			c.Message = "no successful login"
		case lat.Count == 0:
			c.Message = "the results hold no latency data for successful logins"
		}
		out = append(out, c)
	}
	if th.MinRate > 0 {
		c := Check{Name: "login rate", Server: p.Server, Limit: th.MinRate, Value: p.SuccessRate, Unit: "logins/s", Pass: p.SuccessRate >= th.MinRate}
		c.Message = fmt.Sprintf("%.1f server-confirmed logins/s, minimum %.1f", p.SuccessRate, th.MinRate)
		out = append(out, c)
	}
	if th.MaxErrorRate > 0 {
		c := Check{Name: "error rate", Server: p.Server, Limit: th.MaxErrorRate * 100, Value: p.ErrorRate * 100, Unit: "%",
			Pass: p.Attempts > 0 && p.ErrorRate <= th.MaxErrorRate}
		c.Message = fmt.Sprintf("%d of %d attempts (%.3f%%) ended unexpectedly, limit %.3f%%", p.Unexpected, p.Attempts, p.ErrorRate*100, th.MaxErrorRate*100)
		out = append(out, c)
	}
	return append(out, evaluateStorm(s, th)...)
}

// Failed counts the checks that did not pass.
func Failed(checks []Check) int {
	n := 0
	for _, c := range checks {
		if !c.Pass {
			n++
		}
	}
	return n
}
