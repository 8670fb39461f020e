package loadgen

// compare.go: the servers a run measures next to the platform under test,
// with the same identities and the same attack: the bare crypto/tls
// baseline (handshake and a one-byte echo), the bare MQTT baseline
// (handshake, CONNECT, CONNACK 0x00) and Debian's mosquitto broker. Each
// runs in a child process, pinned like the platform, so its CPU time is its
// own.

import (
	"context"
	"fmt"
	"slices"
	"sync/atomic"

	"github.com/certlab/certlab/loadgen/host"
	"github.com/certlab/certlab/loadgen/result"
	"github.com/certlab/certlab/sim/pki"
)

// CompareServers are the comparison servers Config.Compare may name, in
// the order they are measured.
var CompareServers = []string{result.ServerBaseline, result.ServerBaselineMQTT, result.ServerMosquitto}

// comparison is a running comparison server.
type comparison struct {
	name    string
	keyType pki.KeyType // its server key type (the crypto floor's)
	key     string      // its server key, described
	// adapt turns the platform attack into this server's.
	adapt func(AttackConfig) AttackConfig
	stop  func() error
}

func (c *comparison) attack(ac AttackConfig) AttackConfig { return c.adapt(ac) }
func (c *comparison) keyDescription() string              { return c.key }

// comparisonNames are the comparison servers of a run, in CompareServers
// order: cfg.Compare, or the baseline alone when only Baseline is set.
func comparisonNames(cfg Config) ([]string, error) {
	names := cfg.Compare
	if len(names) == 0 && cfg.Baseline != nil {
		names = []string{result.ServerBaseline}
	}
	for _, name := range names {
		if !slices.Contains(CompareServers, name) {
			return nil, fmt.Errorf("compare with %q: want one of %v", name, CompareServers)
		}
	}
	var out []string
	for _, name := range CompareServers {
		if slices.Contains(names, name) {
			out = append(out, name)
		}
	}
	return out, nil
}

// startComparisons starts the comparison servers (comparisonNames); on an
// error it stops those started.
func startComparisons(ctx context.Context, cfg Config, ids []*Identity, serverKey pki.KeyType) (out []*comparison, err error) {
	defer func() {
		if err != nil {
			for _, c := range out {
				_ = c.stop()
			}
			out = nil
		}
	}()
	names, err := comparisonNames(cfg)
	if err != nil {
		return nil, err
	}
	for _, name := range names {
		var c *comparison
		switch name {
		case result.ServerBaseline, result.ServerBaselineMQTT:
			if cfg.Baseline == nil {
				return out, fmt.Errorf("compare with %s: no baseline command (Config.Baseline)", name)
			}
			c, err = startBaseline(ctx, *cfg.Baseline, ids, serverKey, name == result.ServerBaselineMQTT)
		case result.ServerMosquitto:
			mo := host.MosquittoOptions{}
			if cfg.Mosquitto != nil {
				mo = *cfg.Mosquitto
			}
			c, err = startMosquitto(ctx, mo, ids, serverKey)
		}
		if err != nil {
			return out, err
		}
		out = append(out, c)
	}
	return out, nil
}

func startBaseline(ctx context.Context, bo host.BaselineOptions, ids []*Identity, serverKey pki.KeyType, mqtt bool) (*comparison, error) {
	if bo.ServerKeyType == "" {
		bo.ServerKeyType = serverKey
	}
	if len(bo.ClientCAs) == 0 {
		bo.ClientCAs = clientCAs(ids)
	}
	bo.MQTT = mqtt
	bp, err := host.StartBaseline(ctx, bo)
	if err != nil {
		return nil, err
	}
	name := result.ServerBaseline
	if mqtt {
		name = result.ServerBaselineMQTT
	}
	return &comparison{name: name, keyType: bo.ServerKeyType, key: bp.KeyDescription, stop: bp.Stop,
		adapt: func(ac AttackConfig) AttackConfig {
			ac.Server, ac.Addr, ac.ServerName, ac.RootCAs = name, bp.Addr, bp.ServerName, bp.RootCAs
			ac.ServerCPU, ac.Expect, ac.Echo = bp.CPU(), ExpectBaseline, !mqtt
			ac.Names = LoginNames{} // any ClientId does
			return ac
		}}, nil
}

func startMosquitto(ctx context.Context, mo host.MosquittoOptions, ids []*Identity, serverKey pki.KeyType) (*comparison, error) {
	if mo.ServerKeyType == "" {
		mo.ServerKeyType = serverKey
	}
	if len(mo.ClientCAs) == 0 {
		mo.ClientCAs = clientCAs(ids)
	}
	mp, err := host.StartMosquitto(ctx, mo)
	if err != nil {
		return nil, err
	}
	return &comparison{name: result.ServerMosquitto, keyType: mo.ServerKeyType, key: mp.KeyDescription, stop: mp.Stop,
		adapt: func(ac AttackConfig) AttackConfig {
			ac.Server, ac.Addr, ac.ServerName, ac.RootCAs = result.ServerMosquitto, mp.Addr, mp.ServerName, mp.RootCAs
			ac.ServerCPU, ac.Expect, ac.Echo = mp.CPU(), ExpectBaseline, false
			ac.Names = LoginNames{}
			return ac
		}}, nil
}

// loginCounter counts the server-confirmed logins of the measured window
// on their way to the next sink.
type loginCounter struct {
	next result.Sink
	n    atomic.Int64
}

func (c *loginCounter) Record(r *result.Result) error {
	if !r.Warmup && r.Outcome == result.OutcomeSuccess {
		c.n.Add(1)
	}
	return c.next.Record(r)
}
