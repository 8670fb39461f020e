package loadgen

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"time"

	"github.com/certlab/certlab/loadgen/host"
	"github.com/certlab/certlab/loadgen/result"
	"github.com/certlab/certlab/sim/pki"
)

// Config is a whole run: an attack on the platform and, with Baseline set
// (or in tls-only mode), the same attack on a bare crypto/tls server, with
// the same identities, in the same run.
type Config struct {
	// Attack configures the platform attack; the baseline attack copies it
	// with the baseline's address, roots and CPU source.
	Attack AttackConfig
	// Baseline, when set, starts the baseline child process after the
	// platform attack. ModeTLSOnly requires it and skips the platform.
	Baseline *host.BaselineOptions
	// BaselineOnly skips the platform attack (implied by ModeTLSOnly), e.g.
	// to measure memory per held connection of a bare TLS client.
	BaselineOnly bool
	// Info is the run header; Run fills Mode, Loop, workers and the other
	// settings from Attack, and Started, Host, CPUs, GoVersion.
	Info result.RunInfo
	// Results, when set, receives the header, every result and the windows.
	Results *result.Writer
	// Sink, when set, also receives every result (progress, metrics).
	Sink result.Sink
	// OnAttack is called before each attack with the server's name.
	OnAttack func(server string)

	// Compare lists the comparison servers measured after the platform (see
	// CompareServers): result.ServerBaseline, result.ServerBaselineMQTT (a
	// baseline child that reads CONNECT and answers CONNACK) and
	// result.ServerMosquitto (Mosquitto). The baselines need Baseline for
	// their command; empty with Baseline set means the baseline alone. They
	// accept every certificate that chains to the fleet's CAs (ExpectBaseline).
	Compare []string
	// Mosquitto starts the mosquitto comparison broker; its ClientCAs and
	// ServerKeyType default as the baseline's do.
	Mosquitto *host.MosquittoOptions
	// Rounds measures the platform and every comparison server in that
	// many interleaved rounds (platform, comparisons, platform, ...), each
	// round's windows numbered (result.Window.Round), so that ratios are
	// taken inside a round (result.Bench); default 1.
	Rounds int
}

// Run executes the run and returns its summary. Failed logins are results;
// the error reports faults of the harness, or ctx ending (the summary then
// covers what ran).
func Run(ctx context.Context, cfg Config, ids []*Identity) (*result.Summary, error) {
	ac := cfg.Attack.withDefaults()
	platform := ac.Mode != result.ModeTLSOnly && !cfg.BaselineOnly
	if !platform && cfg.Baseline == nil {
		return nil, errors.New("run: tls-only mode runs against the baseline server; set Baseline")
	}
	info := runHeader(cfg.Info, ac, cfg.Baseline != nil)

	agg := result.NewAggregator()
	agg.AddRun(info)
	var sinks []result.Sink
	if cfg.Results != nil {
		if err := cfg.Results.WriteRun(info); err != nil {
			return nil, err
		}
		sinks = append(sinks, cfg.Results)
	}
	sinks = append(sinks, agg, cfg.Sink)
	sink := result.Tee(sinks...)
	addWindow := func(w result.Window) error {
		w.Shard = info.Shard
		agg.AddWindow(w)
		if cfg.Results != nil {
			if err := cfg.Results.WriteWindow(w); err != nil {
				return err
			}
			return cfg.Results.Flush()
		}
		return nil
	}
	finish := func(runErr error) (*result.Summary, error) {
		s, err := agg.Summary()
		if err != nil {
			return nil, errors.Join(runErr, err)
		}
		return s, runErr
	}

	serverKey := pki.ECDSAP256
	rounds := max(cfg.Rounds, 1)
	var comps []*comparison
	defer func() {
		for _, c := range comps {
			_ = c.stop()
		}
	}()
	attack := func(c AttackConfig, round int, name string, keyDesc func() string, floorKey pki.KeyType) error {
		if cfg.OnAttack != nil {
			cfg.OnAttack(name)
		}
		logins := &loginCounter{next: sink}
		win, err := Attack(ctx, c, ids, logins)
		win.Logins = logins.n.Load()
		if rounds > 1 {
			win.Round = round
		}
		win.ServerCertKey = keyDesc()
		if err == nil {
			measureFloor(&win, c, ids, floorKey)
		}
		if werr := addWindow(win); werr != nil {
			err = errors.Join(err, werr)
		}
		return err
	}
	for round := 1; round <= rounds; round++ {
		if platform {
			spy := &keySpy{}
			err := attack(withSpy(ac, spy), round, result.ServerPlatform, spy.description, serverKey)
			if kt, ok := spy.keyType(); ok {
				serverKey = kt
			}
			if err != nil {
				return finish(err)
			}
		}
		if round == 1 { // after the first platform attack: the server key type is known
			var err error
			if comps, err = startComparisons(ctx, cfg, ids, serverKey); err != nil {
				return finish(fmt.Errorf("run: %w", err))
			}
		}
		for _, c := range comps {
			if err := attack(c.attack(ac), round, c.name, c.keyDescription, c.keyType); err != nil {
				return finish(err)
			}
		}
	}
	for _, c := range comps {
		if err := c.stop(); err != nil && ctx.Err() == nil {
			return finish(err)
		}
	}
	return finish(nil)
}

// runHeader completes a run header with the attack's settings and this
// machine's.
func runHeader(info result.RunInfo, ac AttackConfig, baseline bool) result.RunInfo {
	info.Format = result.FormatVersion
	if info.Started.IsZero() {
		info.Started = time.Now().UTC()
	}
	info.Mode, info.Workers, info.Count = ac.Mode, ac.Workers, ac.Count
	info.Loop, info.Rate = "closed", 0
	if ac.Pacer != nil { // hold mode: the ramp is paced
		info.Loop, info.Rate = "open", ac.Rate
	}
	info.DurationS, info.WarmupS = ac.Duration.Seconds(), ac.Warmup.Seconds()
	info.TLSVersion = ac.TLSVersion
	if info.TLSVersion == "" {
		info.TLSVersion = "auto"
	}
	info.KeyExchange, info.Resumption, info.MQTTVersion = string(ac.KeyExchange), ac.Resumption, ac.MQTTVersion
	info.CloseReset = ac.CloseReset
	info.Baseline = baseline
	if info.Host == "" {
		info.Host = host.Hostname()
	}
	info.CPUs, info.GoVersion, info.GoRuntime = runtime.NumCPU(), runtime.Version(), host.RuntimeSettings()
	if info.MQTTEndpoint == "" {
		info.MQTTEndpoint = ac.Addr
	}
	return info
}

// measureFloor records in win the client-side crypto floor of the attack's
// logins (host.MeasureClientFloor), measured with the key of its first identity. A failure
// is recorded as the reason the floor is missing, rather than failing a run
// that has measured already.
func measureFloor(win *result.Window, ac AttackConfig, ids []*Identity, serverKey pki.KeyType) {
	var key crypto.Signer
	if len(ids) > 0 {
		key, _ = ids[0].Cert.PrivateKey.(crypto.Signer)
	}
	var group tls.CurveID
	if curves, err := ac.KeyExchange.Curves(); err == nil {
		group = curves[0]
	}
	f, err := host.MeasureClientFloor(host.FloorSpec{Group: group, ClientKey: key, ServerKey: serverKey})
	if err != nil {
		win.ClientFloorError = err.Error()
		return
	}
	win.ClientFloorUs, win.ClientFloorOps = f.Us, f.Ops
}

// clientCAs are the distinct CAs of the good identities: the platform's
// verified device CAs, which the baseline trusts too.
func clientCAs(ids []*Identity) []*x509.Certificate {
	seen := map[string]bool{}
	var out []*x509.Certificate
	for _, id := range ids {
		if id.Kind == result.BadUnknownCA || id.CACert == nil || seen[string(id.CACert.Raw)] {
			continue
		}
		seen[string(id.CACert.Raw)] = true
		out = append(out, id.CACert)
	}
	return out
}

// keySpy notes the key of the first server certificate seen, through
// tls.Config.VerifyConnection (no extra connection to the server).
type keySpy struct {
	once sync.Once
	mu   sync.Mutex
	key  any
}

func (s *keySpy) verify(cs tls.ConnectionState) error {
	if len(cs.PeerCertificates) > 0 {
		s.once.Do(func() {
			s.mu.Lock()
			s.key = cs.PeerCertificates[0].PublicKey
			s.mu.Unlock()
		})
	}
	return nil
}

func (s *keySpy) description() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.key == nil {
		return ""
	}
	return pki.KeyDescription(s.key)
}

func (s *keySpy) keyType() (pki.KeyType, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch k := s.key.(type) {
	case *ecdsa.PublicKey:
		if k.Curve != nil && k.Curve.Params().BitSize == 384 {
			return pki.ECDSAP384, true
		}
		return pki.ECDSAP256, true
	case *rsa.PublicKey:
		switch k.N.BitLen() {
		case 3072:
			return pki.RSA3072, true
		case 4096:
			return pki.RSA4096, true
		}
		return pki.RSA2048, true
	case ed25519.PublicKey:
		return pki.Ed25519, true
	}
	return "", false
}

func withSpy(c AttackConfig, s *keySpy) AttackConfig {
	c.verifyConnection = s.verify
	return c
}
