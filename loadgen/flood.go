package loadgen

// flood.go: a handshake flood. While the registered devices log in, a second
// population of unauthenticated peers opens mutual-TLS handshakes at a set
// rate (open loop) with a certificate of a CA the platform does not know, or
// none (floodtls.go does one handshake). The flood never waits for the
// server: a handshake due while Conns are already in flight is recorded as
// dropped (the flood could not send it), so its sent rate shows how far a
// slow server held it back.

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/certlab/certlab/iotda"
	"github.com/certlab/certlab/loadgen/result"
	"github.com/certlab/certlab/sim/device"
	"github.com/certlab/certlab/sim/pki"
)

// FloodKind is what a flood's peers present.
type FloodKind string

// Flood kinds.
const (
	FloodUnknownCA FloodKind = "unknown-ca" // a certificate of a CA the platform does not know
	FloodNoCert    FloodKind = "no-cert"    // no certificate at all
	FloodMixed     FloodKind = "mixed"      // both, alternately
)

// ParseFloodKind checks a flood kind ("" is mixed).
func ParseFloodKind(s string) (FloodKind, error) {
	switch k := FloodKind(s); k {
	case FloodUnknownCA, FloodNoCert, FloodMixed:
		return k, nil
	case "":
		return FloodMixed, nil
	}
	return "", fmt.Errorf("--flood-kind %q: want %s, %s or %s", s, FloodUnknownCA, FloodNoCert, FloodMixed)
}

// FloodRate is a flood's rate: attempts per second, or a multiple of the
// devices' unflooded login rate (measured first).
type FloodRate struct {
	PerSecond float64
	Multiple  float64
}

// ParseFloodRate reads --flood: "2000" (attempts per second) or "2x" (twice
// the login capacity measured before the flood).
func ParseFloodRate(s string) (FloodRate, error) {
	t := strings.TrimSpace(s)
	if m, ok := strings.CutSuffix(strings.ToLower(t), "x"); ok {
		v, err := strconv.ParseFloat(m, 64)
		if err != nil || v <= 0 || math.IsInf(v, 0) || math.IsNaN(v) {
			return FloodRate{}, fmt.Errorf("--flood %q: want a positive multiple of the platform's capacity (2x) or attempts per second (2000)", s)
		}
		return FloodRate{Multiple: v}, nil
	}
	v, err := strconv.ParseFloat(t, 64)
	if err != nil || v <= 0 || math.IsInf(v, 0) || math.IsNaN(v) {
		return FloodRate{}, fmt.Errorf("--flood %q: want attempts per second (2000) or a positive multiple of the platform's capacity (2x)", s)
	}
	return FloodRate{PerSecond: v}, nil
}

// IsZero reports whether no flood is asked for.
func (r FloodRate) IsZero() bool { return r.PerSecond <= 0 && r.Multiple <= 0 }

func (r FloodRate) String() string {
	if r.Multiple > 0 {
		return strconv.FormatFloat(r.Multiple, 'g', -1, 64) + "x"
	}
	return strconv.FormatFloat(r.PerSecond, 'g', -1, 64)
}

// Defaults of FloodConfig.
const (
	// DefaultFloodConns bounds the flood's handshakes in flight: far more than
	// a platform serves at once, well under the generator's file descriptors.
	DefaultFloodConns = 4096
	// DefaultFloodMinKept is the aim: the devices keep at least 90%
	// of their unflooded login rate.
	DefaultFloodMinKept = 0.9
	// floodLeaves is how many unknown-CA certificates the flood rotates.
	floodLeaves = 16
)

// FloodConfig is one flood. Zero values take the defaults of withDefaults.
type FloodConfig struct {
	Rate FloodRate
	Kind FloodKind // default FloodMixed
	// Conns bounds the flood's handshakes in flight; one due beyond it is
	// dropped. Default DefaultFloodConns.
	Conns int
	// Timeout is one flood handshake's deadline; default the attack's
	// ConnectTimeout.
	Timeout time.Duration
	// MinKept is the flood run's verdict: the devices' login rate during
	// the flood over their unflooded rate must be at least this (0..1);
	// default DefaultFloodMinKept, negative = not judged.
	MinKept float64
	// MetricsURL is the platform's metrics endpoint: its login counters are
	// compared with the generator's. "" = not compared.
	MetricsURL string
}

func (c FloodConfig) withDefaults(ac AttackConfig) FloodConfig {
	if c.Kind == "" {
		c.Kind = FloodMixed
	}
	if c.Conns <= 0 {
		c.Conns = DefaultFloodConns
	}
	if c.Timeout <= 0 {
		c.Timeout = ac.ConnectTimeout
	}
	if c.MinKept == 0 {
		c.MinKept = DefaultFloodMinKept
	}
	return c
}

func (c FloodConfig) validate() error {
	if c.Rate.IsZero() {
		return errors.New("--flood: set a rate (attempts per second) or a multiple of the platform's capacity (2x)")
	}
	if _, err := ParseFloodKind(string(c.Kind)); err != nil {
		return err
	}
	if c.MinKept > 1 {
		return fmt.Errorf("--flood-min-kept %g: want 0..1", c.MinKept)
	}
	return nil
}

// flooder runs one flood against addr.
type flooder struct {
	cfg   FloodConfig
	addr  string
	hello *floodHello
	// chains are the unknown-CA certificate chains the peers present in turn.
	chains [][][]byte
	out    chan<- *result.Result
	seq    atomic.Uint64
}

// newFlooder mints what the flood presents (before anything is measured).
func newFlooder(cfg FloodConfig, addr, serverName string, out chan<- *result.Result) (*flooder, error) {
	hello, err := newFloodHello(serverName)
	if err != nil {
		return nil, err
	}
	f := &flooder{cfg: cfg, addr: addr, hello: hello, out: out}
	if cfg.Kind != FloodNoCert {
		stranger, err := pki.NewRootCA("certlab flood CA (never uploaded)")
		if err != nil {
			return nil, fmt.Errorf("flood: %w", err)
		}
		for i := range floodLeaves {
			leaf, err := stranger.NewDeviceCert(fmt.Sprintf("flood-%02d", i))
			if err != nil {
				return nil, fmt.Errorf("flood: %w", err)
			}
			f.chains = append(f.chains, [][]byte{leaf.Cert.Raw})
		}
	}
	return f, nil
}

// kind is what flood attempt n presents.
func (f *flooder) kind(n uint64) result.BadKind {
	switch f.cfg.Kind {
	case FloodNoCert:
		return result.FloodNoCert
	case FloodUnknownCA:
		return result.FloodUnknownCA
	}
	if n%2 == 0 {
		return result.FloodUnknownCA
	}
	return result.FloodNoCert
}

// floodSpan is the flood's schedule: from began, attempts due before
// warmEnd are warm-up, and none is due from end on.
type floodSpan struct{ began, warmEnd, end time.Time }

// run schedules the flood at rate until span.end or until stop is closed,
// then waits for the handshakes in flight (each bounded by its deadline).
func (f *flooder) run(ctx context.Context, rate float64, span floodSpan, stop <-chan struct{}) {
	inflight := make(chan struct{}, f.cfg.Conns)
	var wg sync.WaitGroup
	pacer := ConstantPacer{Rate: rate}
	timer := time.NewTimer(time.Hour)
	timer.Stop()
schedule:
	for n := uint64(0); ctx.Err() == nil; n++ {
		at, _ := pacer.Due(n)
		due := span.began.Add(at)
		if !due.Before(span.end) {
			break
		}
		if d := time.Until(due); d > 0 {
			timer.Reset(d)
			select {
			case <-timer.C:
			case <-stop:
				timer.Stop()
				break schedule
			case <-ctx.Done():
				timer.Stop()
				break schedule
			}
		}
		warm := due.Before(span.warmEnd)
		select {
		case inflight <- struct{}{}:
			wg.Go(func() {
				defer func() { <-inflight }()
				f.out <- f.attempt(ctx, n, due, warm)
			})
		default:
			f.out <- f.dropped(n, due, warm)
		}
	}
	wg.Wait()
}

// attempt runs flood handshake n.
func (f *flooder) attempt(ctx context.Context, n uint64, due time.Time, warm bool) *result.Result {
	kind := f.kind(n)
	r := &result.Result{Seq: n, Server: result.ServerPlatform, Population: result.PopulationFlood, Device: -1,
		Identity: kind, Scheduled: due, Warmup: warm, Expected: result.OutcomeRefused, ExpectedReason: string(floodReason(kind))}
	var chain [][]byte
	if kind == result.FloodUnknownCA {
		chain = f.chains[n%uint64(len(f.chains))]
	}
	r.Start = time.Now()
	deadline := r.Start.Add(f.cfg.Timeout)
	c, err := floodDial(ctx, f.addr, deadline)
	dialed := time.Now()
	r.TCPUs = dialed.Sub(r.Start).Microseconds()
	var v floodVerdict
	if err != nil {
		dv := device.ClassifyDial(ctx, err)
		v = floodVerdict{outcome: dv.Outcome, phase: string(dv.Phase), reason: dv.Reason, err: err}
	} else {
		resetOnClose(c)
		_ = c.SetDeadline(deadline)
		v = floodHandshake(ctx, c, f.hello, chain)
		_ = c.Close()
		r.TLSUs = time.Since(dialed).Microseconds()
	}
	end := time.Now()
	r.Outcome, r.Phase, r.Reason = v.outcome, v.phase, v.reason
	if v.err != nil && v.outcome != result.OutcomeRefused {
		r.Error = v.err.Error()
	}
	if v.outcome == result.OutcomeSuccess {
		r.TLSVersion = "1.3"
	}
	r.TotalUs = end.Sub(due).Microseconds()
	r.Unexpected = floodUnexpected(r)
	return r
}

// floodReason is the refusal the platform owes a flood peer.
func floodReason(kind result.BadKind) iotda.Reason {
	if kind == result.FloodNoCert {
		return iotda.ReasonNoClientCert
	}
	return iotda.ReasonUnknownCA
}

// floodUnexpected: a flood handshake the platform let through, or refused
// with another alert than its reason's. A refusal before TLS (server_busy)
// is a platform protecting itself; an error (timeout) is no verdict.
func floodUnexpected(r *result.Result) bool {
	switch r.Outcome {
	case result.OutcomeSuccess:
		return true
	case result.OutcomeRefused:
		if r.Reason == result.ReasonClosedBeforeTLS {
			return false
		}
		if r.Identity == result.FloodNoCert {
			return r.Reason != result.AlertCertificateRequired
		}
		return r.Reason != result.AlertBadCertificate && r.Reason != result.AlertUnknownCA
	}
	return false
}

// dropped is a flood handshake that was due while Conns were in flight.
func (f *flooder) dropped(n uint64, due time.Time, warm bool) *result.Result {
	kind := f.kind(n)
	now := time.Now()
	return &result.Result{Seq: n, Server: result.ServerPlatform, Population: result.PopulationFlood, Device: -1,
		Identity: kind, Scheduled: due, Start: now, Warmup: warm, TotalUs: now.Sub(due).Microseconds(),
		Outcome: result.OutcomeDropped, Phase: result.PhaseSchedule, Reason: "over_capacity",
		Expected: result.OutcomeRefused, ExpectedReason: string(floodReason(kind))}
}
