package loadgen

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/certlab/certlab/loadgen/host"
	"github.com/certlab/certlab/loadgen/result"
)

// validateModeFlags refuses the settings the plan's mode cannot honour,
// each with an error naming the `certlab loadgen` flag, rather than
// dropping them silently. (cmd/certlab refuses the flags a plan cannot
// tell from their defaults, e.g. an explicit --mqtt 3.1.1 in tls-only mode.)
func (p *Plan) validateModeFlags() error {
	a := &p.Attack
	switch a.Mode {
	case result.ModeTLSOnly:
		// tls-only attacks the baseline server loadgen starts, with its own
		// handshake-and-echo protocol: no platform, no MQTT.
		switch {
		case p.Server.TargetFile != "":
			return errors.New("--target: tls-only mode attacks only the bare crypto/tls baseline server loadgen starts (it speaks the baseline's one-byte echo, not MQTT); use --mode churn --target FILE [--baseline] to measure a target")
		case p.Server.InProcess != nil:
			return errors.New("--in-process: tls-only mode starts no platform")
		case p.Server.PID > 0:
			return errors.New("--server-pid: tls-only mode measures the baseline child's CPU itself; there is no platform to read")
		case p.Fleet.SkipPrepare:
			return errors.New("--skip-prepare: tls-only mode registers nothing")
		case a.Keepalive != 0:
			return errors.New("--keepalive: tls-only mode speaks no MQTT")
		case a.MQTTVersion != 0 && a.MQTTVersion != 4:
			return errors.New("--mqtt: tls-only mode speaks no MQTT")
		case len(p.Compare) > 0:
			return errors.New("--compare: tls-only mode measures the baseline alone; compare servers with --mode churn --compare LIST")
		}
	case result.ModeHold:
		switch {
		case a.Warmup > 0:
			return errors.New("--warmup: hold mode logs each device in once and holds it; there is no warm-up to leave out")
		case a.Backlog > 0:
			return errors.New("--backlog: hold mode drops nothing: a paced login (--rate) waits for one of --workers")
		case a.CloseReset:
			return errors.New("--close reset: hold mode ends its sessions with an MQTT DISCONNECT (or the baseline's close); --close applies to churn and tls-only")
		}
	}
	if a.Backlog > 0 && a.Rate <= 0 && a.Pacer == nil {
		return errors.New("--backlog: only an open loop (--rate) has a backlog; a closed loop runs --workers back to back")
	}
	if a.CloseReset && a.MQTTVersion == 5 && a.Mode != result.ModeTLSOnly {
		return errors.New("--close reset: an MQTT 5 login ends through its session's close; --close applies to MQTT 3.1.1 and tls-only logins")
	}
	for _, name := range p.Compare {
		if !slices.Contains(CompareServers, name) {
			return fmt.Errorf("--compare %q: want a list of %s", name, strings.Join(CompareServers, ", "))
		}
		if name == result.ServerMosquitto {
			if _, err := host.FindMosquitto(); err != nil {
				return fmt.Errorf("--compare mosquitto: %w", err)
			}
		}
	}
	if p.Rounds < 0 || p.Rounds > 100 {
		return fmt.Errorf("--rounds %d: want 1..100", p.Rounds)
	}
	if p.Rounds > 1 && !p.Baseline && len(p.Compare) == 0 && a.Mode != result.ModeTLSOnly {
		return errors.New("--rounds: rounds interleave the platform with comparison servers; add --baseline or --compare LIST")
	}
	if len(p.Bad.Kinds) > 0 && p.Bad.Share == 0 {
		return errors.New("--bad-kinds: without --bad-share no device presents a bad identity")
	}
	return nil
}
