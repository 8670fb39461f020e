package loadgen

// storm.go: storm mode. A reconnect storm is the heaviest real load on a
// certificate-login endpoint: a network blip, a broker restart or a crash
// cuts every device's session at once, and every device does a full
// mutual-TLS handshake again within seconds. A storm run:
//
//	capacity probe   closed-loop churn for CapacityProbe: the steady login
//	                 capacity the herd is compared with
//	ramp             every device logs in (Workers at a time) and holds its session
//	settle           until At (a wall-clock instant all shards share) or for Settle
//	outage           client-drop: every device resets its connection at once;
//	                 restart / kill: the child platform gets SIGTERM / SIGKILL,
//	                 stays down for Down and is started again on the same data
//	                 directory and addresses
//	reconnect        every device that lost its session waits by its Policy
//	                 before each attempt, until it has a session again or the
//	                 Deadline passes; refusals (server_busy, TLS alerts) are
//	                 failures like any other
//
// Every attempt is a result.Result (the probe and the ramp as warm-up); a
// sampler reads, at the end of every 100 ms bucket, the devices connected
// and the CPU both sides spent, and the run ends with one result.StormInfo.
// The result package turns them into the storm's series and figures.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/certlab/certlab/iotda"
	"github.com/certlab/certlab/loadgen/host"
	"github.com/certlab/certlab/loadgen/result"
	"github.com/certlab/certlab/sim/device"
)

// Outage is how a storm cuts the sessions.
type Outage string

// Outages.
const (
	// OutageClientDrop: every device resets its own connection at the same
	// instant, as a network blip does (no DISCONNECT); works against any target.
	OutageClientDrop Outage = "client-drop"
	// OutageRestart: the child platform is stopped gracefully (SIGTERM) and
	// started again after Down.
	OutageRestart Outage = "restart"
	// OutageKill: the child platform is killed (SIGKILL), as a crash, and
	// started again after Down.
	OutageKill Outage = "kill"
)

// ParseOutage checks an outage name.
func ParseOutage(s string) (Outage, error) {
	switch o := Outage(s); o {
	case OutageClientDrop, OutageRestart, OutageKill:
		return o, nil
	}
	return "", fmt.Errorf("--outage %q: want %s, %s or %s", s, OutageClientDrop, OutageRestart, OutageKill)
}

// needsPlatform: the outage stops and starts the platform process.
func (o Outage) needsPlatform() bool { return o == OutageRestart || o == OutageKill }

// PlatformControl is the platform process a restart or kill outage acts on
// (host.PlatformProcess).
type PlatformControl interface {
	Stop() error                     // SIGTERM, then SIGKILL after its stop timeout
	Kill() error                     // SIGKILL
	Start(ctx context.Context) error // again, on the same data directory and addresses
}

var _ PlatformControl = (*host.PlatformProcess)(nil)

// Defaults of StormConfig.
const (
	DefaultStormDown     = 2 * time.Second
	DefaultStormSettle   = 2 * time.Second
	DefaultStormDeadline = 3 * time.Minute
	DefaultCapacityProbe = 3 * time.Second
	// A device tries rampTries logins in the ramp, with full-jitter backoff
	// from rampBackoff (a bounded platform refuses some), before it is left out.
	rampTries   = 8
	rampBackoff = 50 * time.Millisecond
)

// StormConfig is one storm. Zero values take the defaults of withDefaults.
type StormConfig struct {
	Outage Outage        // default OutageClientDrop
	Down   time.Duration // restart, kill: from the signal to the new start; default 2 s
	// At is the outage's wall-clock instant, shared by the shards of a run
	// (--storm-at). Zero: Settle after the ramp.
	At       time.Time
	Settle   time.Duration // default 2 s
	Deadline time.Duration // after the outage; default 3 min
	Policy   Policy        // default FullJitter with DefaultBackoffBase and Cap
	// Seed seeds every device's jitter (device i uses Seed and i); 0 draws one.
	Seed uint64
	// CapacityProbe is how long the steady login capacity is measured
	// before the ramp (closed-loop churn, Attack.Workers); default 3 s,
	// negative = not measured (no herd factor).
	CapacityProbe time.Duration
	// Platform is the child platform a restart or kill acts on.
	Platform PlatformControl
	// MetricsURL is the platform's metrics endpoint: its login counters are
	// compared with the generator's (result.LoginCounts). "" = not compared.
	MetricsURL string
	Log        io.Writer // what the storm does, as it does it; default io.Discard
}

func (c StormConfig) withDefaults() StormConfig {
	if c.Outage == "" {
		c.Outage = OutageClientDrop
	}
	if c.Down <= 0 {
		c.Down = DefaultStormDown
	}
	if c.Settle <= 0 {
		c.Settle = DefaultStormSettle
	}
	if c.Deadline <= 0 {
		c.Deadline = DefaultStormDeadline
	}
	if c.Policy == nil {
		c.Policy = FullJitter{Base: DefaultBackoffBase, Cap: DefaultBackoffCap}
	}
	if c.Seed == 0 {
		c.Seed = rand.Uint64() | 1
	}
	if c.CapacityProbe == 0 {
		c.CapacityProbe = DefaultCapacityProbe
	}
	if c.Log == nil {
		c.Log = io.Discard
	}
	return c
}

func (c StormConfig) validate() error {
	if _, err := ParseOutage(string(c.Outage)); err != nil {
		return err
	}
	if c.Outage.needsPlatform() && c.Platform == nil {
		return fmt.Errorf("--outage %s stops and starts the platform: it needs the child platform loadgen starts (no --target, no --in-process)", c.Outage)
	}
	return nil
}

// stormDevice is one device of a storm. Its fields are written by its own
// goroutine and read by the storm after that goroutine has ended (or, held,
// after the ramp).
type stormDevice struct {
	idx  int // into attacker.devs
	sess *device.Session
	held bool // held a session at the outage
	rng  *rand.Rand
}

// storm is the state of one Storm.
type storm struct {
	cfg  StormConfig
	a    *attacker
	ids  []*Identity
	sink result.Sink
	devs []*stormDevice
	seq  atomic.Uint64
	conn atomic.Int64 // devices holding a session now
	held int          // devices holding a session at the outage (set before outage closes)

	returned atomic.Int64
	outage   chan struct{} // closed at the outage instant
	outageAt time.Time     // set before outage is closed
	allBack  chan struct{} // closed when every held device is back
	backOnce sync.Once
	end      chan struct{} // closed when the storm ends: devices stop waiting
	endOnce  sync.Once

	logMu sync.Mutex
	// The generator's outcomes (collector goroutine only), and those the
	// platform's counters cannot be held to (addUncertain).
	tally, uncertain loginTally
	backAt           atomic.Int64 // restart, kill: Unix ns when the platform was ready again; 0 before
}

// loginTally counts the generator's outcomes the way the platform counts
// its logins (result.LoginCounts).
type loginTally struct{ success, busy, other, errors int64 }

func (t *loginTally) add(r *result.Result, mqttVersion iotda.MQTTVersion) {
	switch r.Outcome {
	case result.OutcomeSuccess:
		t.success++
	case result.OutcomeRefused:
		busy, _ := iotda.RefusalFor(iotda.ReasonServerBusy)
		if r.Reason == result.ReasonClosedBeforeTLS || (r.Phase == result.PhaseConnect && r.ConnackCode == int(busy.Code(mqttVersion))) {
			t.busy++
		} else {
			t.other++
		}
	default:
		t.errors++
	}
}

// addUncertain counts apart the outcomes the platform's counters cannot be
// held to: of the attempts that started between the signal and the new
// process being ready, the connections reset before TLS (the dying
// process's kernel resets those it had queued, and the platform counts
// none), and under a restart every outcome (the stopping process may still
// serve a login after its counters were last read).
func (s *storm) addUncertain(r *result.Result) {
	if !s.cfg.Outage.needsPlatform() || r.Warmup {
		return
	}
	if back := s.backAt.Load(); back != 0 && r.Start.UnixNano() >= back {
		return
	}
	switch {
	case s.cfg.Outage == OutageRestart:
		s.uncertain.add(r, iotda.MQTTVersion(s.a.cfg.MQTTVersion))
	case r.Reason == result.ReasonClosedBeforeTLS:
		s.uncertain.busy++
	}
}

// Storm runs one storm with the given identities against ac's server and
// sends every attempt to sink (from one goroutine at a time). It returns
// the measured window (from the outage to the end, with the CPU both sides
// spent) and the storm's record. Failed logins are results; the error
// reports faults of the harness, a platform that could not be started
// again, or ctx ending (the window and record then cover what ran).
func Storm(ctx context.Context, ac AttackConfig, sc StormConfig, ids []*Identity, sink result.Sink) (result.Window, result.StormInfo, error) {
	sc = sc.withDefaults()
	ac.Mode = result.ModeHold // sessions are held (keepalive 1200 s: no ping due)
	ac = ac.withDefaults()
	if err := ac.validate(); err != nil {
		return result.Window{}, result.StormInfo{}, err
	}
	if err := sc.validate(); err != nil {
		return result.Window{}, result.StormInfo{}, err
	}
	if len(ids) == 0 {
		return result.Window{}, result.StormInfo{}, errors.New("storm: no identities")
	}
	s := &storm{cfg: sc, ids: ids, sink: sink, a: &attacker{cfg: ac, results: make(chan *result.Result, 4096)},
		outage: make(chan struct{}), allBack: make(chan struct{}), end: make(chan struct{})}
	if err := s.a.prepare(ids); err != nil {
		return result.Window{}, result.StormInfo{}, err
	}
	info := result.StormInfo{Outage: string(sc.Outage), Policy: sc.Policy.Name(), PolicyParams: sc.Policy.Params(),
		Seed: sc.Seed, DeadlineS: sc.Deadline.Seconds(), BucketMs: int(result.StormBucket.Milliseconds()), Devices: len(ids)}
	if sc.Outage.needsPlatform() {
		info.DownS = sc.Down.Seconds()
	}

	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	collected := make(chan struct{})
	go s.collect(cancel, collected)
	smp := startSampler(ctx, ac, &s.conn)

	win, err := s.run(ctx, &info)
	close(s.a.results) // every device and the probe are done
	<-collected
	info.Samples = smp.stop()
	s.closeSessions()
	win.Server, win.ClientPID, win.ClientHost = ac.Server, os.Getpid(), host.Hostname()
	win.ClientFloorError = "not measured in storm mode"
	smp.window(&win, ac.ServerCPU)
	if lc := info.ServerLogins; lc != nil {
		lc.Success, lc.Busy, lc.OtherRefused, lc.Errors = s.tally.success, s.tally.busy, s.tally.other, s.tally.errors
		lc.UncertainSuccess, lc.UncertainBusy, lc.UncertainOtherRefused = s.uncertain.success, s.uncertain.busy, s.uncertain.other
	}
	if cerr := context.Cause(ctx); err == nil && cerr != nil {
		err = cerr
	}
	return win, info, err
}

// collect is the one goroutine that calls the sink.
func (s *storm) collect(cancel context.CancelCauseFunc, done chan<- struct{}) {
	defer close(done)
	var failed bool
	for r := range s.a.results {
		_ = s.a.cfg.Metrics.Record(r)
		s.tally.add(r, iotda.MQTTVersion(s.a.cfg.MQTTVersion))
		s.addUncertain(r)
		if failed {
			continue
		}
		if err := s.sink.Record(r); err != nil {
			failed = true
			cancel(fmt.Errorf("storm: record result: %w", err))
		}
	}
}

func (s *storm) logf(format string, args ...any) {
	s.logMu.Lock()
	defer s.logMu.Unlock()
	fmt.Fprintf(s.cfg.Log, "storm: "+format+"\n", args...)
}

// stop ends the storm for every device loop.
func (s *storm) stop() { s.endOnce.Do(func() { close(s.end) }) }

// run carries the storm through its stages. It returns once every device
// goroutine has ended; the sessions they hold are still open.
func (s *storm) run(ctx context.Context, info *result.StormInfo) (result.Window, error) {
	cfg := s.cfg
	// The platform's counters before this run: what it counted earlier (a
	// pre-flight, other runs) is not this storm's.
	start := s.scrapeLogins(ctx, info)
	if cfg.CapacityProbe > 0 {
		if err := s.probeCapacity(ctx, info); err != nil {
			return result.Window{}, err
		}
	} else {
		info.CapacityNote = "not measured (--capacity-probe 0)"
	}

	// Ramp: every device logs in, Workers at a time, and holds its session.
	var devices, ramped sync.WaitGroup
	defer func() {
		s.stop()
		devices.Wait() // Storm closes the sessions once the sampler has stopped
	}()
	slots := make(chan struct{}, s.a.cfg.Workers)
	s.devs = make([]*stormDevice, len(s.a.devs))
	rampStart := time.Now()
	for i := range s.a.devs {
		d := &stormDevice{idx: i, rng: rand.New(rand.NewPCG(cfg.Seed, uint64(i)))}
		s.devs[i] = d
		ramped.Add(1)
		devices.Go(func() { s.device(ctx, d, slots, &ramped) })
	}
	ramped.Wait()
	for _, d := range s.devs {
		if d.held {
			s.held++
		}
	}
	info.Held = s.held
	s.logf("%d of %d devices hold a session (ramp %s)", s.held, len(s.devs), time.Since(rampStart).Round(time.Millisecond))
	if err := context.Cause(ctx); err != nil {
		return result.Window{}, err
	}
	if s.held == 0 {
		return result.Window{}, fmt.Errorf("storm: no device could log in during the ramp (%d tries each)", rampTries)
	}

	// Settle, or wait for the instant all shards share.
	wait := cfg.Settle
	if !cfg.At.IsZero() {
		if wait = time.Until(cfg.At); wait < 0 {
			info.Note = fmt.Sprintf("--storm-at %s had passed when the ramp ended (%s late): the outage began at once",
				cfg.At.UTC().Format(time.RFC3339Nano), (-wait).Round(time.Millisecond))
			s.logf("%s", info.Note)
		}
	}
	if !sleepCtx(ctx, wait) {
		return result.Window{}, context.Cause(ctx)
	}
	before := s.scrapeLogins(ctx, info)

	// The outage.
	clientStart, _ := s.a.cfg.ClientCPU.CPUSeconds(ctx)
	s.outageAt = time.Now()
	info.OutageAt = s.outageAt
	close(s.outage)
	s.logf("outage %s at %s: %d sessions cut; devices reconnect by %s (%s)", cfg.Outage,
		s.outageAt.UTC().Format(time.RFC3339Nano), s.held, cfg.Policy.Name(), cfg.Policy.Params())
	platform := make(chan error, 1)
	if cfg.Outage.needsPlatform() {
		go func() { platform <- s.downAndUp(ctx, info) }()
	} else {
		platform <- nil
	}

	// Reconnect, until every device is back or the deadline.
	var platformErr error
	platformDone := false
	deadline := time.NewTimer(cfg.Deadline)
	defer deadline.Stop()
	progress := time.NewTicker(5 * time.Second)
	defer progress.Stop()
wait:
	for {
		select {
		case <-s.allBack:
			s.logf("all %d devices back after %s", s.held, time.Since(s.outageAt).Round(time.Millisecond))
			sleepCtx(ctx, 2*result.StormBucket) // a last sample shows them all
			break wait
		case platformErr = <-platform:
			platformDone = true
			platform = nil
			if platformErr != nil {
				s.logf("%v", platformErr)
				break wait
			}
		case <-progress.C:
			s.logf("+%s: %d of %d devices back", time.Since(s.outageAt).Round(time.Second), s.returned.Load(), s.held)
		case <-deadline.C:
			s.logf("deadline %s: %d of %d devices back", cfg.Deadline, s.returned.Load(), s.held)
			break wait
		case <-ctx.Done():
			break wait
		}
	}
	if !platformDone {
		platformErr = <-platform // the platform is up again (or could not be) before the end
	}
	info.EndedAt = time.Now()
	s.stop()
	clientEnd, _ := s.a.cfg.ClientCPU.CPUSeconds(context.WithoutCancel(ctx))
	if start != nil && before != nil {
		if after := s.scrapeLogins(ctx, info); after != nil {
			counted := after.minus(start)   // one process all along
			if cfg.Outage.needsPlatform() { // the first process until the outage; the new one from zero
				counted = before.minus(start).plus(after)
			}
			info.ServerLogins = &result.LoginCounts{Source: cfg.MetricsURL,
				PlatformSuccess: counted.success, PlatformBusy: counted.busy, PlatformOtherRefused: counted.other}
		}
	}
	return result.Window{Start: s.outageAt, End: info.EndedAt, ClientCPUSeconds: clientEnd - clientStart}, platformErr
}

// device is one device's life: ramp, hold, lose the session, reconnect.
func (s *storm) device(ctx context.Context, d *stormDevice, slots chan struct{}, ramped *sync.WaitGroup) {
	slots <- struct{}{}
	ramp := FullJitter{Base: rampBackoff, Cap: 2 * time.Second}
	for n := range rampTries {
		if n > 0 && !sleepCtx(ctx, ramp.Delay(n-1, 0, d.rng)) {
			break
		}
		if d.sess = s.attempt(ctx, d, true); d.sess != nil {
			d.held = true
			s.conn.Add(1)
			break
		}
	}
	<-slots
	ramped.Done()
	if !d.held {
		return
	}

	select {
	case <-s.outage:
	case <-s.end:
		return
	}
	if s.cfg.Outage == OutageClientDrop {
		d.sess.Abort()
	} else {
		select {
		case <-d.sess.Done(): // the platform went away
		case <-s.end:
			return
		}
	}
	d.sess = nil
	s.conn.Add(-1)

	var prev time.Duration
	for n := 0; ; n++ {
		wait := s.cfg.Policy.Delay(n, prev, d.rng)
		prev = wait
		if !s.sleep(wait) {
			return
		}
		if d.sess = s.attempt(ctx, d, false); d.sess == nil {
			continue
		}
		s.conn.Add(1)
		if s.returned.Add(1) == int64(s.held) {
			s.backOnce.Do(func() { close(s.allBack) })
		}
		// Hold it; a platform still shutting down may cut it again, and the
		// device then starts its policy over, as after the outage.
		select {
		case <-d.sess.Done():
			d.sess = nil
			s.conn.Add(-1)
			s.returned.Add(-1)
			n, prev = -1, 0
		case <-s.end:
			return
		}
	}
}

// sleep waits d, or until the storm ends (false).
func (s *storm) sleep(d time.Duration) bool {
	select {
	case <-s.end:
		return false
	default:
	}
	if d <= 0 {
		return true
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-s.end:
		return false
	}
}

// attempt logs device d in once and sends the result on; it returns the
// session, if the login succeeded.
func (s *storm) attempt(ctx context.Context, d *stormDevice, warm bool) *device.Session {
	r, c := s.a.attempt(ctx, uint64(d.idx), time.Now(), warm)
	r.Seq = s.seq.Add(1) - 1
	s.a.results <- r
	if m, ok := c.(mqttSession); ok {
		return m.s
	}
	return nil
}

// closeSessions closes every held session, Workers at a time.
func (s *storm) closeSessions() {
	var wg sync.WaitGroup
	n := 0
	for _, d := range s.devs {
		if d == nil || d.sess == nil {
			continue
		}
		sess := d.sess
		d.sess = nil
		wg.Go(func() {
			_ = sess.Close()
			s.conn.Add(-1)
		})
		if n++; n%s.a.cfg.Workers == 0 {
			wg.Wait() // in batches, not thousands at once
		}
	}
	wg.Wait()
}

// probeCapacity measures the steady login capacity: closed-loop churn with
// the attack's workers for CapacityProbe. Its attempts are warm-up results.
func (s *storm) probeCapacity(ctx context.Context, info *result.StormInfo) error {
	pc := s.a.cfg
	pc.Mode, pc.Duration, pc.Count, pc.Warmup, pc.Rate, pc.Pacer = result.ModeChurn, s.cfg.CapacityProbe, 0, 0, 0, nil
	pc.Keepalive, pc.Metrics = 0, nil // churn's default keepalive; the storm's collector records the live metrics
	var ok int64
	fwd := result.SinkFunc(func(r *result.Result) error {
		c := *r
		c.Warmup, c.Seq = true, s.seq.Add(1)-1
		if c.Outcome == result.OutcomeSuccess {
			ok++
		}
		s.a.results <- &c
		return nil
	})
	win, err := Attack(ctx, pc, s.ids, fwd)
	if err != nil {
		return fmt.Errorf("storm: capacity probe: %w", err)
	}
	span := win.End.Sub(win.Start).Seconds()
	info.CapacityS = span
	if span > 0 && ok > 0 {
		info.Capacity = float64(ok) / span
	} else {
		info.CapacityNote = "no login succeeded in the capacity probe"
	}
	s.logf("steady login capacity %.0f logins/s (%d in %.1fs, %d workers, churn)", info.Capacity, ok, span, pc.Workers)
	return nil
}

// downAndUp is a restart or kill outage: signal the platform, keep it down
// until Down has passed since the outage, start it again.
func (s *storm) downAndUp(ctx context.Context, info *result.StormInfo) error {
	p := s.cfg.Platform
	var err error
	if s.cfg.Outage == OutageKill {
		err = p.Kill()
	} else {
		err = p.Stop()
	}
	if err != nil {
		return fmt.Errorf("storm: %s the platform: %w", s.cfg.Outage, err)
	}
	s.logf("platform down %s after the signal", time.Since(s.outageAt).Round(time.Millisecond))
	if !sleepCtx(ctx, time.Until(s.outageAt.Add(s.cfg.Down))) {
		return context.Cause(ctx)
	}
	if err := p.Start(ctx); err != nil {
		return fmt.Errorf("storm: start the platform again: %w", err)
	}
	info.ServerBackAt = time.Now()
	s.backAt.Store(info.ServerBackAt.UnixNano())
	s.logf("platform ready again %s after the outage", info.ServerBackAt.Sub(s.outageAt).Round(time.Millisecond))
	return nil
}

// loginCounters are the platform's certlab_platform_logins_total.
type loginCounters struct{ success, busy, other float64 }

func (c *loginCounters) minus(o *loginCounters) *loginCounters {
	return &loginCounters{c.success - o.success, c.busy - o.busy, c.other - o.other}
}

func (c *loginCounters) plus(o *loginCounters) *loginCounters {
	return &loginCounters{c.success + o.success, c.busy + o.busy, c.other + o.other}
}

// scrapeLogins reads the platform's login counters (nil when there is no
// metrics endpoint or it does not count logins the way certlab's does).
func (s *storm) scrapeLogins(ctx context.Context, info *result.StormInfo) *loginCounters {
	url := s.cfg.MetricsURL
	if url == "" {
		return nil
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	fams, err := host.Scrape(sctx, nil, url)
	if err != nil {
		s.logf("the platform's login counters: %v", err)
		return nil
	}
	const name = "certlab_platform_logins_total"
	succ, ok := host.CounterValue(fams, name, map[string]string{"result": "success"})
	if !ok {
		s.logf("the platform's login counters: %s has no %s", url, name)
		return nil
	}
	busy, _ := host.CounterValue(fams, name, map[string]string{"reason": string(iotda.ReasonServerBusy)})
	refused, _ := host.CounterValue(fams, name, map[string]string{"result": "refused"})
	return &loginCounters{success: succ, busy: busy, other: refused - busy}
}

// sleepCtx waits d or until ctx ends (false).
func sleepCtx(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// sampler reads, at the end of every bucket, the devices connected and the
// generator's CPU, and on a goroutine of its own (a scrape may be slow) the
// server's CPU, attributed to the bucket its reading ended in.
type sampler struct {
	conn   *atomic.Int64
	client host.CPUSource
	server host.CPUSource

	mu      sync.Mutex
	samples []result.StormSample
	srv     map[int64]float64 // server CPU seconds by bucket start (Unix ms)
	srvSrc  string            // the source of the last reading

	cancel context.CancelFunc
	wg     sync.WaitGroup
}

func startSampler(ctx context.Context, ac AttackConfig, conn *atomic.Int64) *sampler {
	ctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	sm := &sampler{conn: conn, client: ac.ClientCPU, server: ac.ServerCPU, srv: map[int64]float64{}, cancel: cancel}
	sm.wg.Go(func() { sm.sampleLoop(ctx) })
	if sm.server != nil {
		sm.wg.Go(func() { sm.serverLoop(ctx) })
	}
	return sm
}

// tick waits for the end of the current bucket; false when ctx ends.
func tick(ctx context.Context) (time.Time, bool) {
	next := time.Now().Truncate(result.StormBucket).Add(result.StormBucket)
	if !sleepCtx(ctx, time.Until(next)) {
		return next, false
	}
	return next, true
}

func (sm *sampler) sampleLoop(ctx context.Context) {
	last, _ := sm.client.CPUSeconds(ctx)
	for {
		end, ok := tick(ctx)
		if !ok {
			return
		}
		cpu, _ := sm.client.CPUSeconds(ctx)
		sm.mu.Lock()
		sm.samples = append(sm.samples, result.StormSample{T: end, Connected: int(sm.conn.Load()), ClientCPUS: max(cpu-last, 0)})
		sm.mu.Unlock()
		last = cpu
	}
}

// serverLoop reads the server's CPU every bucket. A restarted platform is a
// new process whose counter starts from zero (its source names another
// PID, or the counter went down): its whole reading is this bucket's.
func (sm *sampler) serverLoop(ctx context.Context) {
	var prevSrc string
	var prev float64
	first := true
	for {
		if _, ok := tick(ctx); !ok {
			return
		}
		rctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		v, err := sm.server.CPUSeconds(rctx)
		cancel()
		if err != nil {
			continue // the platform is down (or its endpoint is)
		}
		src := sm.server.String()
		delta := v - prev
		if src != prevSrc || v < prev {
			delta = v
		}
		if first {
			delta, first = 0, false
		}
		prevSrc, prev = src, v
		k := time.Now().Truncate(result.StormBucket).Add(-result.StormBucket).UnixMilli() // the bucket that just ended
		sm.mu.Lock()
		sm.srv[k] += delta
		sm.srvSrc = src
		sm.mu.Unlock()
	}
}

// stop ends the sampling and returns the samples.
func (sm *sampler) stop() []result.StormSample {
	sm.cancel()
	sm.wg.Wait()
	sm.mu.Lock()
	defer sm.mu.Unlock()
	for i := range sm.samples {
		k := sm.samples[i].T.Add(-result.StormBucket).UnixMilli()
		if v, ok := sm.srv[k]; ok {
			sm.samples[i].ServerCPUS, sm.samples[i].ServerCPUOK = v, true
		}
	}
	return sm.samples
}

// window sets the server CPU of the measured window: the sum of the
// buckets' readings from the outage on, so a window spanning a restart
// counts both processes (the source names the last one).
func (sm *sampler) window(w *result.Window, server host.CPUSource) {
	if server == nil {
		w.ServerCPUError = "not measured (no --server-pid and no metrics endpoint)"
		return
	}
	sm.mu.Lock()
	defer sm.mu.Unlock()
	var sum float64
	var n int
	for k, v := range sm.srv {
		if t := time.UnixMilli(k); !t.Before(w.Start.Truncate(result.StormBucket)) && t.Before(w.End) {
			sum += v
			n++
		}
	}
	if n == 0 {
		w.ServerCPUError = "the server's CPU could not be read during the storm"
		return
	}
	w.ServerCPUSource = sm.srvSrc
	w.ServerCPUStart, w.ServerCPUEnd = 0, sum
}

// RunStorm runs a storm as Run runs attacks: the run header, every result
// and the window go to cfg.Results and an aggregator, the storm record
// after them, and the summary (with its Storm part) is returned. cfg's
// Baseline is not used: a storm has no baseline.
func RunStorm(ctx context.Context, cfg Config, sc StormConfig, ids []*Identity) (*result.Summary, error) {
	ac := cfg.Attack
	ac.Mode = result.ModeHold
	ac = ac.withDefaults()
	info := runHeader(cfg.Info, ac, false)
	info.Mode, info.DurationS, info.Count = result.ModeStorm, 0, 0
	agg := result.NewAggregator()
	agg.AddRun(info)
	sinks := []result.Sink{agg, cfg.Sink}
	if cfg.Results != nil {
		if err := cfg.Results.WriteRun(info); err != nil {
			return nil, err
		}
		sinks = append([]result.Sink{cfg.Results}, sinks...)
	}
	if cfg.OnAttack != nil {
		cfg.OnAttack(result.ServerPlatform)
	}
	win, si, err := Storm(ctx, cfg.Attack, sc, ids, result.Tee(sinks...))
	if si.OutageAt.IsZero() { // nothing was measured
		return nil, err
	}
	win.Shard, si.Shard = info.Shard, info.Shard
	agg.AddWindow(win)
	agg.AddStorm(si)
	if cfg.Results != nil {
		werr := cfg.Results.WriteWindow(win)
		werr = errors.Join(werr, cfg.Results.WriteStorm(si), cfg.Results.Flush())
		err = errors.Join(err, werr)
	}
	s, serr := agg.Summary()
	if serr != nil {
		return nil, errors.Join(err, serr)
	}
	return s, err
}

// validateStorm refuses the settings a storm cannot honour, naming the flag.
func (p *Plan) validateStorm() error {
	a := p.Attack
	switch {
	case p.Baseline:
		return errors.New("loadgen: --baseline does not go with --mode storm (a storm runs against the platform only)")
	case p.Bad.Share > 0:
		return errors.New("loadgen: --bad-share does not go with --mode storm: every device of a storm holds a session")
	case a.Rate > 0 || a.Pacer != nil:
		return errors.New("loadgen: --rate does not go with --mode storm: devices reconnect by --policy")
	case a.Count > 0:
		return errors.New("loadgen: --count does not go with --mode storm: a storm ends when every device is back or at --storm-deadline")
	case a.Warmup > 0:
		return errors.New("loadgen: --warmup does not go with --mode storm (the capacity probe and the ramp come before the measured part)")
	}
	if err := p.Storm.validateOutage(p.Server.Kind()); err != nil {
		return err
	}
	return nil
}

// validateOutage checks that the outage can be caused on this kind of server.
func (c StormConfig) validateOutage(kind host.ServerKind) error {
	o := c.Outage
	if o == "" {
		o = OutageClientDrop
	}
	if _, err := ParseOutage(string(o)); err != nil {
		return err
	}
	if o.needsPlatform() && kind != host.ServerChild {
		return fmt.Errorf("loadgen: --outage %s stops and starts the platform: it needs the child platform loadgen starts (not --target or --in-process); against another platform use --outage %s", o, OutageClientDrop)
	}
	return nil
}

// stormConfig is the plan's storm with what the run learnt: the child
// platform, the target's metrics endpoint, the log.
func (x *execution) stormConfig() StormConfig {
	sc := x.plan.Storm
	if sc.Log == nil {
		sc.Log = x.log
	}
	if s := x.server; s != nil {
		sc.MetricsURL = s.Target.MetricsEndpoint
		if s.Child != nil {
			sc.Platform = s.Child
		}
	}
	return sc
}

// JudgeStorm is the verdict of a storm run: it fails (*VerdictError) when
// no device held a session at the outage or none came back. Failed
// reconnect attempts and devices that never came back are what a storm
// measures; gate on them with certlab report --max-time-to-99 and
// --max-never-returned.
func JudgeStorm(s *result.Summary) error {
	switch {
	case s == nil || s.Storm == nil:
		return &VerdictError{Problems: []string{"no storm was measured"}}
	case s.Storm.Held == 0:
		return &VerdictError{Problems: []string{"no device held a session when the outage came"}}
	case s.Storm.Returned == 0:
		return &VerdictError{Problems: []string{fmt.Sprintf("none of the %d devices came back before the deadline%s", s.Storm.Held, stormMostly(s.Storm))}}
	}
	return nil
}

// stormMostly names the commonest failure of the reconnect attempts.
func stormMostly(st *result.StormSummary) string {
	var top string
	var n int64
	for k, v := range st.Refused {
		if v > n {
			top, n = "refused "+k, v
		}
	}
	for k, v := range st.Failed {
		if v > n {
			top, n = "failed in "+k, v
		}
	}
	if top == "" {
		return ""
	}
	return fmt.Sprintf(" (mostly %s: %d attempts)", top, n)
}
