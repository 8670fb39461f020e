package loadgen

// floodrun.go: a flood run (`certlab loadgen --flood`). Two phases of the
// same devices' attack, side by side in one run:
//
//	unflooded   the devices' attack alone (Warmup, then Duration): their
//	            login rate and latency without a flood (closed loop: the
//	            platform's login capacity, which --flood Nx multiplies)
//	flooded     the same attack again while a flood of unauthenticated
//	            handshakes runs at the flood's rate (from the start of the
//	            attack's warm-up to the end of its measured window)
//
// The summary keeps the populations apart (result.FloodSummary): the
// devices during the flood are the ordinary server part; the unflooded
// phase and the flood are the flood part, with the share of their login
// rate the devices kept. The platform's own login counters (read before and
// after, by reason) are set against the generator's.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/certlab/certlab/loadgen/host"
	"github.com/certlab/certlab/loadgen/result"
	"github.com/certlab/certlab/sim/pki"
)

// floodSettle is how long the run waits after the last attempt before it
// reads the platform's counters: a refusal the client has seen is counted
// by the server a moment later.
const floodSettle = 300 * time.Millisecond

// RunFlood runs a flood run as Run runs attacks: the run header, every
// result (with its population) and the windows go to cfg.Results and an
// aggregator, the flood record after them, and the summary (with its Flood
// part) is returned. cfg's Baseline and Compare are not used. log says what
// the run does (nil: nothing).
func RunFlood(ctx context.Context, cfg Config, fc FloodConfig, ids []*Identity, log io.Writer) (*result.Summary, error) {
	ac := cfg.Attack.withDefaults()
	if err := ac.validate(); err != nil {
		return nil, err
	}
	if ac.Mode != result.ModeChurn || ac.Duration <= 0 {
		return nil, errors.New("flood: the devices' attack must be churn with a Duration")
	}
	fc = fc.withDefaults(ac)
	if err := fc.validate(); err != nil {
		return nil, err
	}
	if log == nil {
		log = io.Discard
	}
	results := make(chan *result.Result, 4096)
	fl, err := newFlooder(fc, ac.Addr, ac.ServerName, results) // mint before anything is measured
	if err != nil {
		return nil, err
	}
	info := runHeader(cfg.Info, ac, false)
	agg := result.NewAggregator()
	agg.AddRun(info)
	tally := &floodTally{counts: map[string]int64{}}
	sinks := []result.Sink{agg, tally}
	if cfg.Results != nil {
		if err := cfg.Results.WriteRun(info); err != nil {
			return nil, err
		}
		sinks = append([]result.Sink{cfg.Results}, sinks...)
	}
	// One lock for both collectors; progress and the reach guard (cfg.Sink)
	// see the devices' attempts only.
	var mu sync.Mutex
	sink := &lockedSink{mu: &mu, next: result.Tee(append(sinks, cfg.Sink)...)}
	floodSink := &lockedSink{mu: &mu, next: result.Tee(sinks...)}
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
	fi := result.FloodInfo{Kind: string(fc.Kind), Multiple: fc.Rate.Multiple, Conns: fc.Conns,
		TimeoutS: fc.Timeout.Seconds(), MinKept: fc.MinKept}
	finish := func(runErr error) (*result.Summary, error) {
		if cfg.Results != nil {
			runErr = errors.Join(runErr, cfg.Results.WriteFlood(fi), cfg.Results.Flush())
		}
		agg.AddFlood(fi)
		s, err := agg.Summary()
		if err != nil {
			return nil, errors.Join(runErr, err)
		}
		return s, runErr
	}
	before, scrapeErr := scrapeLoginReasons(ctx, fc.MetricsURL)

	// The devices alone.
	if cfg.OnAttack != nil {
		cfg.OnAttack(result.ServerPlatform + " (before the flood)")
	}
	fmt.Fprintf(log, "flood: the devices log in alone for %s (after %s warm-up)\n", ac.Duration, ac.Warmup)
	logins := &loginCounter{next: populationSink{pop: result.PopulationUnflooded, next: sink}}
	win, err := Attack(ctx, ac, ids, logins)
	win.Logins, win.Population = logins.n.Load(), result.PopulationUnflooded
	if err == nil {
		measureFloor(&win, ac, ids, pki.ECDSAP256) // the platform's server key
	}
	if werr := addWindow(win); werr != nil || err != nil {
		return finish(errors.Join(err, werr))
	}
	if span := win.End.Sub(win.Start).Seconds(); span > 0 {
		fi.Capacity = float64(win.Logins) / span
	}
	fi.Rate = fc.Rate.PerSecond
	if fc.Rate.Multiple > 0 {
		if fi.Capacity <= 0 {
			return finish(errors.New("flood: no login succeeded before the flood, so there is no capacity to multiply (--flood Nx); give a rate in attempts per second"))
		}
		fi.Rate = fc.Rate.Multiple * fi.Capacity
	}
	fmt.Fprintf(log, "flood: the devices' login rate without a flood: %.0f logins/s; flood: %.0f %s handshakes/s (at most %d in flight)\n",
		fi.Capacity, fi.Rate, fc.Kind, fc.Conns)

	// The devices again, flooded. The flood starts with the attack's warm-up.
	collected := make(chan struct{})
	go func() {
		defer close(collected)
		for r := range results {
			_ = floodSink.Record(r) // a failing results file also ends the devices' attack, which reports it
		}
	}()
	began := time.Now()
	span := floodSpan{began: began, warmEnd: began.Add(ac.Warmup), end: began.Add(ac.Warmup + ac.Duration)}
	stop := make(chan struct{})
	flooded := make(chan struct{})
	go func() {
		defer close(flooded)
		fl.run(ctx, fi.Rate, span, stop)
	}()
	if cfg.OnAttack != nil {
		cfg.OnAttack(result.ServerPlatform + " (flooded)")
	}
	logins = &loginCounter{next: sink}
	win, err = Attack(ctx, ac, ids, logins)
	win.Logins = logins.n.Load()
	win.ClientFloorError = "the generator ran the flood too"
	close(stop)
	<-flooded
	close(results)
	<-collected
	fw := win // the flood's window: the same span and CPU readings (both populations')
	fw.Population, fw.Logins, fw.ClientFloorError = result.PopulationFlood, 0, "not for a flood"
	if werr := errors.Join(addWindow(win), addWindow(fw)); werr != nil || err != nil {
		return finish(errors.Join(err, werr))
	}

	// The platform's counters against the generator's.
	switch {
	case fc.MetricsURL == "":
		fi.Note = "the platform's login counters were not compared (the target has no metrics endpoint)"
	case scrapeErr != nil:
		fi.Note = "the platform's login counters could not be read: " + scrapeErr.Error()
	default:
		sleepCtx(ctx, floodSettle)
		after, err := scrapeLoginReasons(ctx, fc.MetricsURL)
		if err != nil {
			fi.Note = "the platform's login counters could not be read: " + err.Error()
			break
		}
		fi.ServerLogins = &result.FloodCounts{Source: fc.MetricsURL, Platform: map[string]int64{}, Generator: tally.snapshot()}
		for k, v := range after {
			if d := v - before[k]; d != 0 {
				fi.ServerLogins.Platform[k] = d
			}
		}
	}
	return finish(nil)
}

// lockedSink serialises the devices' collector and the flood's.
type lockedSink struct {
	mu   *sync.Mutex
	next result.Sink
}

func (s *lockedSink) Record(r *result.Result) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.next.Record(r)
}

// populationSink labels the results it forwards with a population.
type populationSink struct {
	pop  string
	next result.Sink
}

func (s populationSink) Record(r *result.Result) error {
	r.Population = s.pop
	return s.next.Record(r)
}

// floodTally counts every attempt sent (warm-up included: the platform
// counts those too) in the platform's login categories.
type floodTally struct {
	mu     sync.Mutex
	counts map[string]int64
}

func (t *floodTally) Record(r *result.Result) error {
	if k := result.CountOf(r); k != "" {
		t.mu.Lock()
		t.counts[k]++
		t.mu.Unlock()
	}
	return nil
}

func (t *floodTally) snapshot() map[string]int64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make(map[string]int64, len(t.counts))
	for k, v := range t.counts {
		out[k] = v
	}
	return out
}

// scrapeLoginReasons reads certlab_platform_logins_total in the flood's
// categories (nil, nil without an endpoint).
func scrapeLoginReasons(ctx context.Context, url string) (map[string]int64, error) {
	if url == "" {
		return nil, nil
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	fams, err := host.Scrape(sctx, nil, url)
	if err != nil {
		return nil, err
	}
	const name = "certlab_platform_logins_total"
	mf, ok := fams[name]
	if !ok {
		return nil, fmt.Errorf("%s has no %s", url, name)
	}
	out := map[string]int64{}
	for _, m := range mf.GetMetric() {
		var res, reason string
		for _, lp := range m.GetLabel() {
			switch lp.GetName() {
			case "result":
				res = lp.GetValue()
			case "reason":
				reason = lp.GetValue()
			}
		}
		k := result.CountOther
		switch {
		case res == "success":
			k = result.CountSuccess
		case reason == result.CountBusy, reason == result.CountNoCert, reason == result.CountUnknownCA:
			k = reason
		}
		out[k] += int64(m.GetCounter().GetValue())
	}
	return out, nil
}

// JudgeFlood is the verdict of a flood run: it fails (*VerdictError) when
// the devices logged in neither before nor during the flood, when more than
// maxErrorShare of their unflooded attempts ended unexpectedly (a platform
// broken before any flood), when the flood sent nothing, or when the
// devices kept less than the flood's MinKept share of their unflooded login
// rate.
func JudgeFlood(s *result.Summary, maxErrorShare float64) error {
	if s == nil || s.Flood == nil || s.Flood.Unflooded == nil {
		return &VerdictError{Problems: []string{"no flood run was measured"}}
	}
	f := s.Flood
	var problems []string
	unflooded := *f.Unflooded
	unflooded.Server = "devices before the flood"
	if err := Judge(&result.Summary{Servers: []result.ServerSummary{unflooded}}, maxErrorShare); err != nil {
		if ve, ok := errors.AsType[*VerdictError](err); ok {
			problems = append(problems, ve.Problems...)
		}
	}
	if f.Flood == nil || f.Flood.Attempts-f.Flood.Dropped == 0 {
		problems = append(problems, "the flood sent no handshake")
	}
	if ps := s.UnderTest(); ps == nil || ps.Success == 0 {
		problems = append(problems, "no device logged in during the flood")
	} else if f.MinKept > 0 && f.KeptShare < f.MinKept {
		problems = append(problems, fmt.Sprintf("the devices kept %.0f%% of their unflooded login rate under the flood (%.0f of %.0f logins/s), less than --flood-min-kept %g",
			f.KeptShare*100, ps.SuccessRate, f.Unflooded.SuccessRate, f.MinKept))
	}
	if len(problems) == 0 {
		return nil
	}
	return &VerdictError{Problems: problems}
}
