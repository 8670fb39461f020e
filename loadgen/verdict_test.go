package loadgen

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/certlab/certlab/loadgen/result"
	"github.com/certlab/certlab/sim/device"
)

// attempts makes n results of one server with the given ending; bad
// identities are expected to be refused.
func attempts(n int, server string, identity result.BadKind, outcome result.Outcome, phase, reason string) []*result.Result {
	exp := ExpectPlatform(identity, 4)
	out := make([]*result.Result, n)
	at := time.Unix(1_700_000_000, 0)
	for i := range out {
		r := &result.Result{Seq: uint64(i), Server: server, Identity: identity, Scheduled: at, Start: at,
			Outcome: outcome, Phase: phase, Reason: reason, Expected: exp.Outcome, TotalUs: 1000}
		if outcome == result.OutcomeRefused && phase == result.PhaseConnect {
			r.ConnackCode = exp.Connack
		}
		r.Unexpected = !exp.Matches(r)
		out[i] = r
	}
	return out
}

func summarise(t *testing.T, groups ...[]*result.Result) *result.Summary {
	t.Helper()
	agg := result.NewAggregator()
	for _, g := range groups {
		for _, r := range g {
			if err := agg.Record(r); err != nil {
				t.Fatal(err)
			}
		}
	}
	s, err := agg.Summary()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestJudge(t *testing.T) {
	p := result.ServerPlatform
	ok := func(n int) []*result.Result { return attempts(n, p, result.Good, result.OutcomeSuccess, "", "") }
	refusedAsExpected := func(n int) []*result.Result {
		return attempts(n, p, result.BadFingerprint, result.OutcomeRefused, result.PhaseConnect, "connack:0x05")
	}
	tcpRefused := func(n int) []*result.Result {
		return attempts(n, p, result.Good, result.OutcomeError, result.PhaseTCP, device.ReasonRefusedTCP)
	}
	for _, tc := range []struct {
		name     string
		groups   [][]*result.Result
		maxShare float64
		want     string // "" = pass
	}{
		{"all good", [][]*result.Result{ok(100)}, 0.05, ""},
		{"expected refusals are not errors", [][]*result.Result{ok(50), refusedAsExpected(50)}, 0, ""},
		{"errors within the share", [][]*result.Result{ok(95), tcpRefused(5)}, 0.05, ""},
		{"errors above the share", [][]*result.Result{ok(94), tcpRefused(6)}, 0.05, "6 of 100 attempts (6.0%) ended unexpectedly, more than --max-error-share 0.05 (mostly error tcp refused_tcp: 6)"},
		{"zero share allows none", [][]*result.Result{ok(99), tcpRefused(1)}, 0, "1 of 100 attempts"},
		{"nothing succeeded", [][]*result.Result{tcpRefused(10)}, 1, "platform: no login succeeded in 10 attempts (mostly error tcp refused_tcp: 10)"},
		{"a bad identity let in", [][]*result.Result{ok(10), attempts(10, p, result.BadUnregistered, result.OutcomeSuccess, "", "")}, 0.05, "10 of 20 attempts"},
		{"only bad identities, all refused", [][]*result.Result{refusedAsExpected(10)}, 0, ""},
		{"nothing measured", nil, 0.05, "nothing was measured"},
		{"the baseline is judged too", [][]*result.Result{ok(10), attempts(10, result.ServerBaseline, result.Good, result.OutcomeError, result.PhaseTLS, "eof")}, 0.05, "baseline: no login succeeded"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := Judge(summarise(t, tc.groups...), tc.maxShare)
			if tc.want == "" {
				if err != nil {
					t.Fatalf("Judge = %v, want a pass", err)
				}
				return
			}
			var ve *VerdictError
			if !errors.As(err, &ve) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Judge = %v, want a VerdictError saying %q", err, tc.want)
			}
		})
	}
}

func TestReachGuard(t *testing.T) {
	refused := attempts(5, result.ServerTarget, result.Good, result.OutcomeError, result.PhaseTCP, device.ReasonRefusedTCP)
	tlsRefused := attempts(1, result.ServerTarget, result.Good, result.OutcomeRefused, result.PhaseTLS, "tls_alert:unknown ca")[0]
	success := attempts(1, result.ServerTarget, result.Good, result.OutcomeSuccess, "", "")[0]
	feed := func(g *reachGuard, rs ...*result.Result) error {
		for _, r := range rs {
			if err := g.Record(r); err != nil {
				return err
			}
		}
		return nil
	}

	g := newReachGuard("127.0.0.1:1", 5)
	err := feed(g, refused...)
	var ue *UnreachableError
	if !errors.As(err, &ue) || ue.Dials != 5 ||
		err.Error() != "loadgen: MQTT endpoint 127.0.0.1:1 refuses connections (5 consecutive refused dials, no login succeeded): is the broker running?" {
		t.Fatalf("after 5 refused dials: %v", err)
	}

	g = newReachGuard("127.0.0.1:1", 5)
	if err := feed(g, append(append(refused[:4:4], tlsRefused), refused[:4]...)...); err != nil {
		t.Errorf("an answered dial must restart the count: %v", err)
	}

	g = newReachGuard("127.0.0.1:1", 5)
	if err := feed(g, append([]*result.Result{success}, append(refused, refused...)...)...); err != nil {
		t.Errorf("after a successful login an outage is a result, not an abort: %v", err)
	}

	g = newReachGuard("127.0.0.1:1", 5)
	baseline := attempts(10, result.ServerBaseline, result.Good, result.OutcomeError, result.PhaseTCP, device.ReasonRefusedTCP)
	if err := feed(g, baseline...); err != nil {
		t.Errorf("the baseline's dials are not watched: %v", err)
	}
}
