package loadgen

// floodplan.go: a flood run within a whole `certlab loadgen` run (Plan.Flood).

import (
	"errors"

	"github.com/certlab/certlab/loadgen/result"
)

// flooding: the plan asks for a flood run.
func (p *Plan) flooding() bool { return !p.Flood.Rate.IsZero() }

// validateFlood refuses the settings a flood run cannot honour, naming the
// flag.
func (p *Plan) validateFlood() error {
	a := p.Attack
	switch {
	case a.Mode != "" && a.Mode != result.ModeChurn:
		return errors.New("--flood: a flood run measures the devices' churn logins (login, CONNACK, disconnect) before and during the flood; use --mode churn")
	case a.Count > 0:
		return errors.New("--count: a flood run is timed (--duration), so that the devices' attack lasts as long with and without the flood")
	case a.Duration <= 0:
		return errors.New("--duration: a flood run needs the devices' measured duration")
	case p.Flood.Rate.Multiple > 0 && (a.Rate > 0 || a.Pacer != nil):
		return errors.New("--flood Nx multiplies the platform's login capacity, which only a closed loop measures; with --rate give --flood in handshakes per second")
	case p.Baseline || len(p.Compare) > 0 || p.Rounds > 1:
		return errors.New("--flood: a flood run measures the platform alone (no --baseline, --compare or --rounds)")
	case p.Shard.Count > 1:
		return errors.New("--shard: a flood run measures one generator's devices before and during its own flood; it is not sharded")
	case p.Bad.Share > 0:
		return errors.New("--bad-share: in a flood run the flood is the bad population (--flood-kind); every device presents its own identity")
	}
	return p.Flood.validate()
}

// floodConfig is the plan's flood with what the run learnt: the target's
// metrics endpoint.
func (x *execution) floodConfig() FloodConfig {
	fc := x.plan.Flood
	if s := x.server; s != nil {
		fc.MetricsURL = s.Target.MetricsEndpoint
	}
	return fc
}
