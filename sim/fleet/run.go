package fleet

// run.go: connecting a fleet and holding its sessions. One goroutine per
// device runs login -> behaviour -> (drop: backoff, login again | churn:
// login again | end of run: DISCONNECT). The device package adds one reader
// goroutine per MQTT 3.1.1 session (paho a few per MQTT 5 session). Nothing
// else is kept per device between logins: its identity is read from the
// fleet's files for each login.

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/certlab/certlab/iotda"
	"github.com/certlab/certlab/sim/device"
)

// MQTTVersions selects the MQTT version of each device: one version
// (iotda.MQTTVersion as people write it) or MQTTMix.
type MQTTVersions string

// MQTT version choices.
const (
	MQTT311 MQTTVersions = "3.1.1"
	MQTT5   MQTTVersions = "5"
	MQTTMix MQTTVersions = "mix" // even indexes 3.1.1, odd indexes 5
)

// ParseMQTTVersions parses "mix" or any spelling iotda.ParseMQTTVersion
// accepts ("3.1.1", "5", ...).
func ParseMQTTVersions(s string) (MQTTVersions, error) {
	if s == string(MQTTMix) {
		return MQTTMix, nil
	}
	v, err := iotda.ParseMQTTVersion(s)
	if err != nil {
		return "", fmt.Errorf("%w, or mix", err)
	}
	return MQTTVersions(v.String()), nil
}

// Version returns the MQTT version of device i.
func (v MQTTVersions) Version(i int) iotda.MQTTVersion {
	switch {
	case v == MQTT5, v == MQTTMix && i%2 == 1:
		return iotda.MQTT5
	default:
		return iotda.MQTT311
	}
}

// RunOptions configure Run. Zero values take the defaults noted.
type RunOptions struct {
	// ProductID is the product the devices were enrolled under; default
	// DefaultProductID(f).
	ProductID string
	// Devices is how many of the fleet's devices to run, from index 0;
	// default all.
	Devices int
	// MQTT selects each device's MQTT version; default MQTT311.
	MQTT MQTTVersions
	// Rate is the ramp's pace in first logins started per second; default
	// 200; < 0: as fast as MaxHandshakes allows.
	Rate float64
	// MaxHandshakes bounds logins in flight (TCP + TLS + CONNECT) at once,
	// ramp and reconnections together; default 64.
	MaxHandshakes int
	// Duration is how long the fleet is held after the ramp (after every
	// device's first login ended); default 10 s.
	Duration time.Duration
	// ReportInterval is the period of property reports; default 10 s; < 0:
	// no reports.
	ReportInterval time.Duration
	// ChurnInterval, if > 0, makes each session last a random time in
	// [ChurnInterval/2, ChurnInterval), after which the device disconnects
	// and logs in again.
	ChurnInterval time.Duration
	// Keepalive is the CONNECT keepalive in seconds; default 120. [LOGIN-KEEPALIVE]
	Keepalive uint16
	// ConnectTimeout bounds each login (TCP + TLS + CONNECT -> CONNACK) and
	// each acknowledgement wait; default 10 s.
	ConnectTimeout time.Duration
	// ConnectAttempts is how often a device's first login is tried when it
	// fails with an error (timeout, reset ...); a refusal is final. Default 3.
	ConnectAttempts int
	// ReconnectAttempts is how many logins in a row a device tries after a
	// drop (refused or failed) before it gives up; default 10.
	ReconnectAttempts int
	// BackoffMin and BackoffMax bound the exponential backoff between login
	// attempts (attempt n waits a random time in [d/2, d), d =
	// min(BackoffMin·2^(n-1), BackoffMax)); defaults 500 ms and 30 s.
	BackoffMin, BackoffMax time.Duration
	// CurvePreferences are the TLS key exchanges the devices offer; default
	// X25519 and P-256, as embedded TLS stacks do (no post-quantum hybrid).
	CurvePreferences []tls.CurveID
	// Behaviour returns the behaviour of device i; default Steady for all.
	Behaviour func(i int) Behaviour
	// OnMessage, if set, sees every message a device receives, on the
	// session's reader goroutine: it must not block, and may use d's Index,
	// ID and counters only (not its session).
	OnMessage func(d *Device, m device.Message)
	// Progress, if set, is called every ProgressInterval (default 1 s) and
	// once at the end, from one goroutine.
	Progress         func(Progress)
	ProgressInterval time.Duration
}

// Run defaults.
const (
	DefaultRate              = 200
	DefaultMaxHandshakes     = 64
	DefaultDuration          = 10 * time.Second
	DefaultReportInterval    = 10 * time.Second
	DefaultConnectAttempts   = 3
	DefaultReconnectAttempts = 10
	DefaultBackoffMin        = 500 * time.Millisecond
	DefaultBackoffMax        = 30 * time.Second
	// dropGrace is how long the runner waits for a failing session to end
	// before it calls the failure a behaviour error.
	dropGrace = 2 * time.Second
)

func (o RunOptions) withDefaults(f *Fleet) (RunOptions, error) {
	if o.ProductID == "" {
		o.ProductID = DefaultProductID(f)
	}
	if o.Devices == 0 {
		o.Devices = f.Len()
	}
	if o.Devices < 0 || o.Devices > f.Len() {
		return o, fmt.Errorf("devices = %d, the fleet has %d", o.Devices, f.Len())
	}
	if o.MQTT == "" {
		o.MQTT = MQTT311
	}
	if _, err := ParseMQTTVersions(string(o.MQTT)); err != nil {
		return o, err
	}
	if o.Rate == 0 {
		o.Rate = DefaultRate
	}
	if o.MaxHandshakes <= 0 {
		o.MaxHandshakes = DefaultMaxHandshakes
	}
	if o.Duration <= 0 {
		o.Duration = DefaultDuration
	}
	if o.ReportInterval == 0 {
		o.ReportInterval = DefaultReportInterval
	}
	if o.Keepalive == 0 {
		o.Keepalive = iotda.DefaultKeepalive
	}
	if o.ConnectTimeout <= 0 {
		o.ConnectTimeout = device.DefaultConnectTimeout
	}
	if o.ConnectAttempts <= 0 {
		o.ConnectAttempts = DefaultConnectAttempts
	}
	if o.ReconnectAttempts <= 0 {
		o.ReconnectAttempts = DefaultReconnectAttempts
	}
	if o.BackoffMin <= 0 {
		o.BackoffMin = DefaultBackoffMin
	}
	if o.BackoffMax <= 0 {
		o.BackoffMax = DefaultBackoffMax
	}
	o.BackoffMax = max(o.BackoffMax, o.BackoffMin)
	if o.CurvePreferences == nil {
		o.CurvePreferences = []tls.CurveID{tls.X25519, tls.CurveP256}
	}
	if o.Behaviour == nil {
		o.Behaviour = func(int) Behaviour { return Steady{} }
	}
	if o.ProgressInterval <= 0 {
		o.ProgressInterval = time.Second
	}
	return o, nil
}

// Progress is a snapshot of a run for progress displays.
type Progress struct {
	Phase      string        // "ramp", "hold" or "done"
	Elapsed    time.Duration // since the ramp started
	Total      int           // devices in the run
	Started    int           // devices whose first login was started
	Online     int           // sessions up now
	Connected  int           // devices that logged in at least once
	Refused    int           // refused login attempts
	Errors     int           // failed login attempts
	Drops      int           // sessions ended by the server or the network
	Reconnects int           // logins after a drop
}

// errRunOver is the cause of the run context's end when the run finishes normally.
var errRunOver = errors.New("run over")

// Run connects the first opts.Devices devices of f (enrolled with Enrol) to
// the target's MQTTS endpoint and drives them: a paced ramp of first logins
// (Rate, MaxHandshakes), then every device runs its Behaviour for Duration,
// reconnecting with exponential backoff and jitter after a drop and, with
// ChurnInterval, disconnecting and reconnecting on its own. Refused and
// failed logins, drops and denied publishes are results in the Summary.
//
// Run returns an error (with the summary so far) only for harness faults:
// ctx ended before the run did, the target has no usable TLS settings, or
// the fleet's files cannot be read.
//
// Summary.Memory is measured in this process after the ramp: it includes
// the platform's share when the platform runs in the same process.
func Run(ctx context.Context, target *iotda.Target, f *Fleet, opts RunOptions) (Summary, error) {
	opts, err := opts.withDefaults(f)
	if err != nil {
		return Summary{}, fmt.Errorf("fleet run: %w", err)
	}
	base, err := target.TLSConfig()
	if err != nil {
		return Summary{}, fmt.Errorf("fleet run: %w", err)
	}
	base.CurvePreferences = opts.CurvePreferences
	r := &runner{opts: opts, f: f, addr: target.MQTTAddress(), base: base,
		sem: make(chan struct{}, opts.MaxHandshakes), stats: newStats()}
	r.phase.Store("ramp")
	sum, err := r.run(ctx)
	if err != nil {
		return sum, fmt.Errorf("fleet run: %w", err)
	}
	return sum, nil
}

type runner struct {
	opts  RunOptions
	f     *Fleet
	addr  string
	base  *tls.Config // shared RootCAs, ServerName, curves; cloned per login
	sem   chan struct{}
	stats *stats
	phase atomic.Value // string
	start time.Time
	fault func(error) // cancels the run with a harness fault
}

func (r *runner) run(parent context.Context) (Summary, error) {
	ctx, cancel := context.WithCancelCause(parent)
	defer cancel(nil)
	r.fault = func(err error) { cancel(err) }

	before := measureMemory()
	r.start = time.Now()
	stopProgress := r.startProgress()

	var devices, first sync.WaitGroup
	interval := time.Duration(0)
	if r.opts.Rate > 0 {
		interval = time.Duration(float64(time.Second) / r.opts.Rate)
	}
ramp:
	for i := range r.opts.Devices {
		if !sleepCtx(ctx, time.Until(r.start.Add(time.Duration(i)*interval))) {
			break
		}
		select {
		case r.sem <- struct{}{}: // released by the device after its first login
		case <-ctx.Done():
			break ramp
		}
		d := &Device{Index: i, ID: r.f.DeviceID(r.opts.ProductID, i), MQTTVersion: r.opts.MQTT.Version(i), r: r,
			behave: r.opts.Behaviour(i)}
		r.stats.started.Add(1)
		devices.Add(1)
		first.Add(1)
		go func() {
			defer devices.Done()
			r.runDevice(ctx, d, first.Done)
		}()
	}
	first.Wait()
	ramp := time.Since(r.start)

	// Every first login has ended: the sessions up now are the fleet's
	// steady state, measured before the hold adds traffic.
	after := measureMemory()
	onlineAtRamp := r.stats.online.Load()

	r.phase.Store("hold")
	sleepCtx(ctx, r.opts.Duration)
	onlineAtEnd := r.stats.online.Load()
	cancel(errRunOver)
	devices.Wait()
	r.phase.Store("done")
	stopProgress()

	sum := r.stats.summary(r.opts)
	sum.Ramp, sum.Hold, sum.Elapsed = ramp, time.Since(r.start)-ramp, time.Since(r.start)
	sum.OnlineAtEnd = int(onlineAtEnd)
	sum.Memory = memorySummary(before, after, onlineAtRamp)
	if cause := context.Cause(ctx); !errors.Is(cause, errRunOver) {
		return sum, cause // the caller's ctx ended, or a harness fault
	}
	return sum, nil
}

// memSample is the process's live memory after a GC.
type memSample struct {
	heap, stack uint64
	goroutines  int
}

// measureMemory collects garbage and samples the live heap, the goroutine
// stacks and the goroutine count.
func measureMemory() memSample {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return memSample{heap: ms.HeapAlloc, stack: ms.StackInuse, goroutines: runtime.NumGoroutine()}
}

func (r *runner) startProgress() (stop func()) {
	if r.opts.Progress == nil {
		return func() {}
	}
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		t := time.NewTicker(r.opts.ProgressInterval)
		defer t.Stop()
		for {
			select {
			case <-done:
				r.opts.Progress(r.progress())
				return
			case <-t.C:
				r.opts.Progress(r.progress())
			}
		}
	}()
	return func() {
		close(done)
		<-finished
	}
}

func (r *runner) progress() Progress {
	s := r.stats
	return Progress{
		Phase: r.phase.Load().(string), Elapsed: time.Since(r.start), Total: r.opts.Devices,
		Started: int(s.started.Load()), Online: int(s.online.Load()), Connected: int(s.connected.Load()),
		Refused: int(s.refusedN.Load()), Errors: int(s.errorsN.Load()),
		Drops: int(s.drops.Load()), Reconnects: int(s.reconnects.Load()),
	}
}

// sessionEnd says how a session ended.
type sessionEnd int

const (
	endRun   sessionEnd = iota // the run is over
	endStop                    // the device stops (behaviour error or behaviour done)
	endDrop                    // the server or the network ended the session
	endChurn                   // the device ended it to log in again
)

// runDevice is the life of one device. firstDone is called once its first
// login has ended, either way.
func (r *runner) runDevice(ctx context.Context, d *Device, firstDone func()) {
	ok := r.login(ctx, d, true, false)
	firstDone()
	for ok {
		switch r.session(ctx, d) {
		case endDrop:
			if ok = r.login(ctx, d, false, true); ok {
				r.stats.reconnects.Add(1)
			}
		case endChurn:
			ok = r.login(ctx, d, false, false)
		default:
			return
		}
	}
}

// login logs d in and subscribes it to its down topic, retrying with
// backoff. The first login of a device (initial) uses the handshake slot the
// ramp took for it, stops at a refusal (the platform's verdict) and retries
// errors ConnectAttempts times in all; a login after a drop or churn retries
// both ReconnectAttempts times, waiting first if waitFirst.
func (r *runner) login(ctx context.Context, d *Device, initial, waitFirst bool) bool {
	attempts := r.opts.ReconnectAttempts
	if initial {
		attempts = r.opts.ConnectAttempts
	}
	for n := 1; ; n++ {
		if (n > 1 || waitFirst) && !sleepCtx(ctx, r.backoff(n)) {
			return false
		}
		if !initial || n > 1 {
			select {
			case r.sem <- struct{}{}:
			case <-ctx.Done():
				return false
			}
		}
		sess, res := r.dial(ctx, d)
		<-r.sem
		if sess != nil {
			d.sess = sess
			if r.subscribe(ctx, d) {
				return true
			}
			r.closeSession(d) // it ended while subscribing
		}
		switch {
		case ctx.Err() != nil:
			return false
		case initial && res.Outcome == iotda.OutcomeRefused:
			return false
		case n >= attempts:
			r.stats.gaveUp.Add(1)
			return false
		}
	}
}

// backoff is the wait before attempt n: a random time in [d/2, d) with
// d = min(BackoffMin·2^(n-1), BackoffMax).
func (r *runner) backoff(n int) time.Duration {
	d := r.opts.BackoffMin
	for i := 1; i < n && d < r.opts.BackoffMax; i++ {
		d *= 2
	}
	return jitter(min(d, r.opts.BackoffMax))
}

// dial performs one login of d and records its result.
func (r *runner) dial(ctx context.Context, d *Device) (*device.Session, device.Result) {
	id, err := r.f.Device(d.Index)
	if err != nil {
		r.fault(fmt.Errorf("device %d: %w", d.Index, err))
		return nil, device.Result{Outcome: iotda.OutcomeError, Reason: "identity", Err: err}
	}
	// Only the DER and the key: the parsed certificate is not kept alive by
	// the session's TLS config.
	cert := tls.Certificate{Certificate: [][]byte{id.Leaf.Cert.Raw}, PrivateKey: id.Leaf.Key}
	for _, c := range id.Leaf.Chain {
		cert.Certificate = append(cert.Certificate, c.Raw)
	}
	tc := r.base.Clone()
	tc.GetClientCertificate = device.AlwaysPresent(cert)
	cfg := device.Config{
		Addr:           r.addr,
		TLS:            tc,
		MQTTVersion:    d.MQTTVersion,
		ClientID:       iotda.ClientIDFor(d.ID, time.Now()), // [LOGIN-CLIENTID]
		Username:       d.ID,                                // [LOGIN-USERNAME]
		Keepalive:      r.opts.Keepalive,
		ConnectTimeout: r.opts.ConnectTimeout,
		OnMessage:      d.onMessage,
	}
	sess, res := device.Login(ctx, cfg)
	if ctx.Err() != nil && !res.OK() {
		return nil, res // cut short by the end of the run: not a result
	}
	r.stats.login(res, d)
	return sess, res
}

// subscribe subscribes d's session to its messages/down topic. It returns
// false when the session ended meanwhile.
func (r *runner) subscribe(ctx context.Context, d *Device) bool {
	code, err := d.sess.Subscribe(ctx, iotda.DeviceTopic(d.ID, iotda.TopicMessagesDown), 1)
	if err != nil {
		if ctx.Err() == nil {
			r.stats.drop(d.sess.Err())
		}
		return false
	}
	if code >= 0x80 {
		r.stats.subRefused.Add(1) // [ACL-OWN-TOPICS] a result, not a fault
	}
	return true
}

// session runs d's behaviour on its live session and closes it.
func (r *runner) session(ctx context.Context, d *Device) sessionEnd {
	sctx, cancel := ctx, context.CancelFunc(func() {})
	if r.opts.ChurnInterval > 0 {
		sctx, cancel = context.WithTimeout(ctx, jitter(r.opts.ChurnInterval))
	}
	err := d.behave.Run(sctx, d)
	cancel()
	sess := d.sess
	dropped := isDone(sess.Done())
	if !dropped && err != nil && !errors.Is(err, ErrReconnect) && ctx.Err() == nil {
		dropped = waitDone(sess.Done(), dropGrace) // a publish failed because the session is ending
	}
	switch {
	case ctx.Err() != nil:
		r.closeSession(d)
		return endRun
	case dropped:
		r.stats.drop(sess.Err())
		r.closeSession(d)
		return endDrop
	case errors.Is(err, ErrReconnect), err == nil && sctx.Err() != nil:
		r.stats.churns.Add(1)
		r.closeSession(d)
		return endChurn
	case err != nil:
		r.stats.behaviourError(err)
		r.closeSession(d)
		return endStop
	default: // the behaviour is done with the device
		r.closeSession(d)
		return endStop
	}
}

// closeSession closes d's session (idempotent) and counts it offline.
func (r *runner) closeSession(d *Device) {
	if d.sess == nil {
		return
	}
	_ = d.sess.Close()
	d.sess = nil
	r.stats.online.Add(-1)
}

func isDone(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

func waitDone(ch <-chan struct{}, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ch:
		return true
	case <-t.C:
		return false
	}
}

// sleepCtx sleeps for d (nothing if d ≤ 0) and reports whether ctx is still live.
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
