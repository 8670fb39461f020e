package loadgen

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/certlab/certlab/iotda"
	"github.com/certlab/certlab/loadgen/host"
	"github.com/certlab/certlab/loadgen/result"
	"github.com/certlab/certlab/sim/device"
)

// AttackConfig configures one attack: one server, one mode, one pacing.
// Zero values take the defaults of withDefaults.
type AttackConfig struct {
	Server     string         // result label: ServerPlatform (default) or ServerBaseline
	Addr       string         // host:port of the server; required
	ServerName string         // name to verify in the server certificate; default Addr's host
	RootCAs    *x509.CertPool // roots for the server certificate; nil = system roots

	Mode    result.Mode   // default ModeChurn
	Echo    bool          // speak the baseline's one-byte echo instead of MQTT (implied by ModeTLSOnly; lets hold mode run against the baseline)
	Workers int           // closed loop: concurrent workers; open loop: attempts in flight at most; default 16
	Rate    float64       // open loop: attempts per second; 0 = closed loop
	Pacer   Pacer         // open loop schedule; overrides Rate
	Backlog int           // open loop: due attempts that may wait for a worker before drops; default Workers
	Warmup  time.Duration // attempts due before Warmup has passed are marked warm-up; default 0

	// Duration bounds the measured part (after Warmup); Count bounds the
	// measured attempts. At least one is required (except in hold mode,
	// where Duration is how long the sessions are held).
	Duration time.Duration
	Count    int

	ConnectTimeout time.Duration // deadline of one attempt (all phases); default 10 s
	MQTTVersion    int           // 4 (3.1.1, default) or 5
	Names          LoginNames    // the ClientId and username of each login; zero: IoTDA's
	Keepalive      uint16        // seconds; default iotda.DefaultKeepalive (hold mode: iotda.MaxKeepalive, so no ping is due) [LOGIN-KEEPALIVE]

	TLSVersion  string      // "1.2", "1.3" or "" (auto)
	KeyExchange KeyExchange // default KexHybrid
	Resumption  bool        // one ClientSessionCache per device
	// VerifyServer is VerifyCached (default) or VerifyFull: how the server's
	// certificate chain is verified (see VerifyCached).
	VerifyServer string
	// CloseReset ends each churned login's TCP connection with a reset
	// once the server has confirmed it (device.Config.ResetOnClose): no
	// TIME_WAIT sockets pile up on the generator.
	CloseReset bool

	// Expect gives the expected answer to an identity; default ExpectPlatform
	// (ServerPlatform) or ExpectBaseline (ServerBaseline).
	Expect func(result.BadKind) Expectation

	ClientCPU host.CPUSource // default SelfCPU
	ServerCPU host.CPUSource // nil: server CPU not measured
	Metrics   *PromMetrics   // optional live metrics (Attack records every result in them)

	verifyConnection func(tls.ConnectionState) error // Run's server-key spy
	// testAttempt replaces the network part of an attempt in tests: it
	// fills r's outcome and latencies and returns when the attempt ended.
	testAttempt func(ctx context.Context, r *result.Result) time.Time
}

func (c AttackConfig) withDefaults() AttackConfig {
	if c.Server == "" {
		c.Server = result.ServerPlatform
	}
	if c.Mode == "" {
		c.Mode = result.ModeChurn
	}
	if c.Workers <= 0 {
		c.Workers = 16
	}
	if c.Backlog <= 0 {
		c.Backlog = c.Workers
	}
	if c.Pacer == nil && c.Rate > 0 {
		c.Pacer = ConstantPacer{Rate: c.Rate}
	}
	if c.ConnectTimeout <= 0 {
		c.ConnectTimeout = 10 * time.Second
	}
	if c.MQTTVersion == 0 {
		c.MQTTVersion = 4
	}
	if c.Keepalive == 0 {
		c.Keepalive = iotda.DefaultKeepalive
		if c.Mode == result.ModeHold {
			c.Keepalive = iotda.MaxKeepalive
		}
	}
	if c.KeyExchange == "" {
		c.KeyExchange = KexHybrid
	}
	if c.VerifyServer == "" {
		c.VerifyServer = VerifyCached
	}
	if c.Expect == nil {
		v := c.MQTTVersion
		c.Expect = func(k result.BadKind) Expectation { return ExpectPlatform(k, v) }
		if c.Server == result.ServerBaseline {
			c.Expect = ExpectBaseline
		}
	}
	if c.ClientCPU == nil {
		c.ClientCPU = host.SelfCPU{}
	}
	if c.ServerName == "" {
		if host, _, err := splitHostPort(c.Addr); err == nil {
			c.ServerName = host
		}
	}
	return c
}

func (c AttackConfig) validate() error {
	switch {
	case c.Addr == "":
		return errors.New("attack: Addr is empty")
	case c.Mode != result.ModeHold && c.Duration <= 0 && c.Count <= 0:
		return errors.New("attack: set Duration or Count")
	case c.MQTTVersion != 4 && c.MQTTVersion != 5 && c.MQTTVersion != 3:
		return fmt.Errorf("attack: MQTT version %d (want 4 or 5)", c.MQTTVersion)
	}
	if err := checkVerifyMode(c.VerifyServer); err != nil {
		return fmt.Errorf("attack: %w", err)
	}
	return nil
}

// deviceState is what an attempt needs of a device, built once per attack.
type deviceState struct {
	id     *Identity
	tls    *tls.Config
	expect Expectation
}

type attacker struct {
	cfg     AttackConfig
	devs    []deviceState
	results chan *result.Result

	mu         sync.Mutex
	lastTLS    uint16
	lastCipher uint16
}

// Attack runs one attack against cfg.Server with the given identities and
// sends every result to sink. It returns the measured window with the CPU
// counters read at its edges. Failed logins are results; the error is for
// faults of the harness itself (a sink error, a bad config) and for ctx
// ending early, in which case the window covers what ran.
func Attack(ctx context.Context, cfg AttackConfig, ids []*Identity, sink result.Sink) (result.Window, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return result.Window{}, err
	}
	if len(ids) == 0 {
		return result.Window{}, errors.New("attack: no identities")
	}
	a := &attacker{cfg: cfg, results: make(chan *result.Result, 4096)}
	if err := a.prepare(ids); err != nil {
		return result.Window{}, err
	}

	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	collected := make(chan struct{})
	go func() { // the one goroutine that calls the sink
		defer close(collected)
		var failed bool
		for r := range a.results {
			_ = cfg.Metrics.Record(r) // live metrics see every result
			if failed {
				continue
			}
			if err := sink.Record(r); err != nil {
				failed = true
				cancel(fmt.Errorf("attack: record result: %w", err))
			}
		}
	}()

	var win result.Window
	switch {
	case cfg.Mode == result.ModeHold:
		win = a.hold(ctx)
	case cfg.Pacer != nil:
		win = a.openLoop(ctx)
	default:
		win = a.closedLoop(ctx)
	}
	close(a.results)
	<-collected
	win.Server, win.ClientPID, win.ClientHost = cfg.Server, os.Getpid(), host.Hostname()
	a.mu.Lock()
	win.NegotiatedTLS, win.NegotiatedCipher = tlsVersionName(a.lastTLS), cipherName(a.lastCipher)
	a.mu.Unlock()
	if err := context.Cause(ctx); err != nil {
		return win, err
	}
	return win, nil
}

func (a *attacker) prepare(ids []*Identity) error {
	minV, maxV, err := ParseTLSVersion(a.cfg.TLSVersion)
	if err != nil {
		return fmt.Errorf("attack: %w", err)
	}
	curves, err := a.cfg.KeyExchange.Curves()
	if err != nil {
		return fmt.Errorf("attack: %w", err)
	}
	verifyConn := a.cfg.verifyConnection
	skipChain := false
	if a.cfg.VerifyServer == VerifyCached {
		cv := newCachedVerifier(a.cfg.RootCAs, a.cfg.ServerName)
		spy := a.cfg.verifyConnection
		verifyConn = func(cs tls.ConnectionState) error {
			if spy != nil {
				_ = spy(cs)
			}
			return cv.verify(cs)
		}
		skipChain = true // crypto/tls still checks the server's CertificateVerify signature
	}
	a.devs = make([]deviceState, len(ids))
	for i, id := range ids {
		// One tls.Config per device, built once: the attempt clones nothing
		// and parses nothing. ServerName and GetClientCertificate are set so
		// that device.Login need not clone it; the certificate is presented
		// whatever CAs the server names, in tls-only mode too.
		tc := &tls.Config{
			Certificates:         []tls.Certificate{id.Cert},
			GetClientCertificate: device.AlwaysPresent(id.Cert),
			RootCAs:              a.cfg.RootCAs,
			ServerName:           a.cfg.ServerName,
			MinVersion:           minV,
			MaxVersion:           maxV,
			CurvePreferences:     curves,
			VerifyConnection:     verifyConn,
			// With VerifyCached the chain is verified by verifyConn instead.
			InsecureSkipVerify: skipChain, //nolint:gosec // verifyConn verifies the chain (VerifyCached)
		}
		if a.cfg.Resumption {
			tc.ClientSessionCache = tls.NewLRUClientSessionCache(1)
		}
		a.devs[i] = deviceState{id: id, tls: tc, expect: a.cfg.Expect(id.Kind)}
	}
	return nil
}

// cpuMark is one reading of both CPU counters.
type cpuMark struct {
	at        time.Time
	client    float64
	server    float64
	serverErr error
}

func (a *attacker) mark(ctx context.Context) cpuMark {
	m := cpuMark{}
	if a.cfg.ServerCPU != nil {
		// Bound the scrape: a dead metrics endpoint must not stall the run.
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		m.server, m.serverErr = a.cfg.ServerCPU.CPUSeconds(sctx)
		cancel()
	}
	m.client, _ = a.cfg.ClientCPU.CPUSeconds(ctx)
	m.at = time.Now()
	return m
}

func (a *attacker) window(start, end cpuMark) result.Window {
	w := result.Window{Start: start.at, End: end.at, ClientCPUSeconds: end.client - start.client}
	switch {
	case a.cfg.ServerCPU == nil:
		w.ServerCPUError = "not measured (no --server-pid and no metrics endpoint)"
	case start.serverErr != nil || end.serverErr != nil:
		w.ServerCPUError = errors.Join(start.serverErr, end.serverErr).Error()
	default:
		w.ServerCPUSource = a.cfg.ServerCPU.String()
		w.ServerCPUStart, w.ServerCPUEnd = start.server, end.server
	}
	return w
}

// warmupMark reads the CPU counters when the warm-up ends (at once when
// there is none). The returned func waits for the reading.
func (a *attacker) warmupMark(ctx context.Context, warmEnd time.Time) func() cpuMark {
	if a.cfg.Warmup <= 0 {
		m := a.mark(ctx)
		return func() cpuMark { return m }
	}
	ch := make(chan cpuMark, 1)
	go func() {
		t := time.NewTimer(time.Until(warmEnd))
		defer t.Stop()
		select {
		case <-t.C:
		case <-ctx.Done():
		}
		ch <- a.mark(ctx)
	}()
	var once sync.Once
	var m cpuMark
	return func() cpuMark { once.Do(func() { m = <-ch }); return m }
}

// startClock starts a loop's clock: when the warm-up ends, when the measured
// part ends (zero: Count alone ends it), and the CPU reading at the end of
// the warm-up.
func (a *attacker) startClock(ctx context.Context) (began, warmEnd, endAt time.Time, startMark func() cpuMark) {
	began = time.Now()
	warmEnd = began.Add(a.cfg.Warmup)
	if a.cfg.Duration > 0 {
		endAt = warmEnd.Add(a.cfg.Duration)
	}
	return began, warmEnd, endAt, a.warmupMark(ctx, warmEnd)
}

// closedLoop runs Workers workers back to back until Duration or Count.
func (a *attacker) closedLoop(ctx context.Context) result.Window {
	cfg := a.cfg
	_, warmEnd, endAt, startMark := a.startClock(ctx)
	var seq, measured atomic.Uint64
	var wg sync.WaitGroup
	for range cfg.Workers {
		wg.Go(func() {
			for ctx.Err() == nil {
				now := time.Now()
				if !endAt.IsZero() && !now.Before(endAt) {
					return
				}
				warm := now.Before(warmEnd)
				if !warm && cfg.Count > 0 && measured.Add(1) > uint64(cfg.Count) {
					return
				}
				n := seq.Add(1) - 1
				r, s := a.attempt(ctx, n, now, warm)
				if s != nil {
					_ = s.close()
				}
				a.results <- r
			}
		})
	}
	wg.Wait()
	start := startMark()
	return a.window(start, a.mark(ctx))
}

// openLoop schedules attempts with the pacer. The scheduler never waits
// for a worker: a due attempt that finds the backlog full is recorded as
// dropped, and latency runs from the scheduled time.
func (a *attacker) openLoop(ctx context.Context) result.Window {
	cfg := a.cfg
	type job struct {
		n    uint64
		due  time.Time
		warm bool
	}
	jobs := make(chan job, cfg.Backlog)
	var wg sync.WaitGroup
	for range cfg.Workers {
		wg.Go(func() {
			for j := range jobs {
				r, s := a.attempt(ctx, j.n, j.due, j.warm)
				if s != nil {
					_ = s.close()
				}
				a.results <- r
			}
		})
	}
	began, warmEnd, endAt, startMark := a.startClock(ctx)
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	var measured int
schedule:
	for n := uint64(0); ctx.Err() == nil; n++ {
		at, stop := cfg.Pacer.Due(n)
		if stop {
			break
		}
		due := began.Add(at)
		if !endAt.IsZero() && !due.Before(endAt) {
			break
		}
		warm := due.Before(warmEnd)
		if !warm && cfg.Count > 0 {
			if measured++; measured > cfg.Count {
				break
			}
		}
		if d := time.Until(due); d > 0 {
			timer.Reset(d)
			select {
			case <-timer.C:
			case <-ctx.Done():
				timer.Stop()
				break schedule
			}
		}
		select {
		case jobs <- job{n: n, due: due, warm: warm}:
		default:
			a.results <- a.dropped(n, due, warm)
		}
	}
	close(jobs)
	wg.Wait()
	start := startMark()
	return a.window(start, a.mark(ctx))
}

// hold logs every device in once (Count of them when set), Workers at a
// time, keeps the sessions for Duration and closes them. With a Pacer the
// ramp is paced: login i starts no earlier than its due time and its
// latency runs from it, as in the open loop (holdRamp). The window covers
// the ramp; memory per held session is measured after it.
func (a *attacker) hold(ctx context.Context) result.Window {
	cfg := a.cfg
	n := len(a.devs)
	if cfg.Count > 0 && cfg.Count < n {
		n = cfg.Count
	}
	before := heapAndStacks()
	start := a.mark(ctx)
	sessions := make([]closer, n)
	sem := make(chan struct{}, cfg.Workers)
	ramp := newHoldRamp(cfg.Pacer)
	var wg sync.WaitGroup
	for i := range n {
		due, ok := ramp.wait(ctx, uint64(i))
		if !ok || ctx.Err() != nil {
			break
		}
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			continue
		}
		wg.Go(func() {
			defer func() { <-sem }()
			if due.IsZero() { // unpaced: due when a worker takes it
				due = time.Now()
			}
			r, s := a.attempt(ctx, uint64(i), due, false)
			if s != nil {
				sessions[i] = s
				cfg.Metrics.held(1)
			}
			a.results <- r
		})
	}
	wg.Wait()
	end := a.mark(ctx)
	win := a.window(start, end)
	after := heapAndStacks()
	for _, s := range sessions {
		if s != nil {
			win.Held++
		}
	}
	if win.Held > 0 {
		win.HeldMemoryBytes = float64(int64(after)-int64(before)) / float64(win.Held)
	}
	if cfg.Duration > 0 {
		t := time.NewTimer(cfg.Duration)
		select {
		case <-t.C:
		case <-ctx.Done():
		}
		t.Stop()
	}
	var cw sync.WaitGroup
	for i, s := range sessions {
		if s == nil {
			continue
		}
		cw.Go(func() {
			_ = s.close()
			sessions[i] = nil
			cfg.Metrics.held(-1)
		})
		if i%cfg.Workers == cfg.Workers-1 {
			cw.Wait() // close in batches, not thousands at once
		}
	}
	cw.Wait()
	runtime.KeepAlive(sessions)
	return win
}

// heapAndStacks is the Go memory in use after a collection: live heap plus
// goroutine stacks (a held session's reader goroutine lives on a stack).
func heapAndStacks() uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc + ms.StackInuse
}

// closer is a live session: an MQTT session or a tls-only connection.
type closer interface{ close() error }

type mqttSession struct{ s *device.Session }

func (m mqttSession) close() error { return m.s.Close() }

// attempt runs attempt n on device n % len(devs).
func (a *attacker) attempt(ctx context.Context, n uint64, due time.Time, warm bool) (*result.Result, closer) {
	d := &a.devs[n%uint64(len(a.devs))]
	r := &result.Result{
		Seq: n, Server: a.cfg.Server, Device: d.id.Index, Identity: d.id.Kind, Scheduled: due, Warmup: warm,
		Expected: d.expect.Outcome, ExpectedReason: string(d.expect.Reason),
	}
	a.cfg.Metrics.inFlight(1)
	defer a.cfg.Metrics.inFlight(-1)
	var s closer
	var end time.Time
	if a.cfg.testAttempt != nil {
		end = a.cfg.testAttempt(ctx, r)
	} else if a.cfg.Mode == result.ModeTLSOnly || a.cfg.Echo {
		s, end = a.echoLogin(ctx, d, r)
	} else {
		s, end = a.mqttLogin(ctx, d, r)
	}
	r.TotalUs = end.Sub(due).Microseconds()
	r.Unexpected = !d.expect.Matches(r)
	return r, s
}

func (a *attacker) mqttLogin(ctx context.Context, d *deviceState, r *result.Result) (closer, time.Time) {
	now := time.Now()
	cfg := device.Config{
		Addr:           a.cfg.Addr,
		TLS:            d.tls,
		MQTTVersion:    iotda.MQTTVersion(a.cfg.MQTTVersion),
		ClientID:       a.cfg.Names.clientID(d.id, now), // [LOGIN-CLIENTID]
		Username:       a.cfg.Names.username(d.id, now), // [LOGIN-USERNAME]
		Keepalive:      a.cfg.Keepalive,
		ConnectTimeout: a.cfg.ConnectTimeout,
		ResetOnClose:   a.cfg.CloseReset,
	}
	var sess *device.Session
	var res device.Result
	if a.cfg.Mode == result.ModeHold {
		sess, res = device.Login(ctx, cfg)
	} else {
		// Churn: the login ends at once (DISCONNECT), without a session.
		res = device.LoginProbe(ctx, cfg)
	}
	r.Start = res.Start
	r.TCPUs, r.TLSUs, r.ConnackUs = res.TCP.Microseconds(), res.TLSHandshake.Microseconds(), res.Connack.Microseconds()
	r.Outcome, r.Phase, r.Reason = result.Outcome(res.Outcome), string(res.Phase), res.Reason
	r.ConnackCode = int(res.ConnackCode)
	r.TLSVersion, r.Resumed = tlsVersionName(res.TLSVersion), res.DidResume
	if res.ErrText != "" {
		r.Error = res.ErrText
	}
	if res.Outcome == iotda.OutcomeSuccess {
		a.noteTLS(res.TLSVersion, res.CipherSuite)
	}
	end := res.Start.Add(res.Total)
	if sess == nil {
		return nil, end
	}
	return mqttSession{sess}, end
}

func (a *attacker) noteTLS(v, c uint16) {
	a.mu.Lock()
	a.lastTLS, a.lastCipher = v, c
	a.mu.Unlock()
}

// dropped is the result of an open-loop attempt that found no room.
func (a *attacker) dropped(n uint64, due time.Time, warm bool) *result.Result {
	d := &a.devs[n%uint64(len(a.devs))]
	r := &result.Result{
		Seq: n, Server: a.cfg.Server, Device: d.id.Index, Identity: d.id.Kind, Scheduled: due, Start: time.Now(),
		Outcome: result.OutcomeDropped, Phase: result.PhaseSchedule, Reason: "over_capacity", Warmup: warm,
		Expected: d.expect.Outcome, ExpectedReason: string(d.expect.Reason), Unexpected: true,
	}
	r.TotalUs = r.Start.Sub(due).Microseconds()
	return r
}

func cipherName(c uint16) string {
	if c == 0 {
		return ""
	}
	return tls.CipherSuiteName(c)
}
