package loadgen

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime/pprof"
	"slices"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/term"

	"github.com/certlab/certlab/loadgen/host"
	"github.com/certlab/certlab/loadgen/result"
	"github.com/certlab/certlab/reports"
	"github.com/certlab/certlab/sim/fleet"
	"github.com/certlab/certlab/sim/pki"
)

// Plan is one whole load run, as `certlab loadgen` describes it with its
// flags: where the platform under test comes from, the fleet, the attack,
// the generator's process settings and the outputs. Execute carries it out.
type Plan struct {
	// Server is where the platform under test comes from (host.OpenServer).
	// A child platform's Command defaults to {Executable, "platform"} and,
	// with Pin, its CPUs to the server's half. Not used in tls-only mode.
	Server host.ServerSpec
	// Executable is the certlab binary that runs the children (platform,
	// baseline server); default os.Executable().
	Executable string

	Fleet FleetPlan
	// Attack is the attack on the platform (and on the baseline, which
	// copies it). Execute fills in the server's address, name, roots, CPU
	// source and the live metrics.
	Attack AttackConfig
	// Storm is the storm of a storm-mode run (Attack.Mode result.ModeStorm);
	// Execute gives it the child platform and the target's metrics endpoint.
	Storm StormConfig
	// Flood, when its Rate is set, makes the run a flood run (floodrun.go):
	// the devices' attack alone, then again under a handshake flood.
	Flood FloodConfig
	Bad   BadPlan      // which devices present a bad identity
	Shard result.Shard // the slice of the fleet this process runs
	// MaxErrorShare is the share (0..1) of a server's measured attempts that
	// may end unexpectedly before the run fails its verdict (Judge); 0
	// allows none. `certlab loadgen` defaults to DefaultMaxErrorShare. Not
	// used by a storm, whose failed reconnect attempts are what it measures.
	MaxErrorShare float64
	// Compare names comparison servers measured next to the platform, each
	// in a child process pinned like it (CompareServers: baseline,
	// baseline-mqtt, mosquitto); Baseline adds the baseline.
	Compare []string
	// Rounds measures the platform and the comparison servers in that many
	// interleaved rounds (result.Bench: medians and spread); default 1.
	Rounds int
	// Baseline also runs the attack against a bare crypto/tls server in a
	// child process (implied by tls-only mode).
	Baseline bool
	RunID    string // shared by the shards of one run; default generated

	// Pin splits this machine's CPUs: the generator on the upper half, the
	// server children it starts (platform, baseline) on the lower half. Only
	// with a child platform (or none: tls-only).
	Pin bool
	// Procs is the generator's GOMAXPROCS (host.Procs); 0 = chosen by where
	// the server under test runs.
	Procs int

	OutDir      string // results JSONL and summary JSON; required
	HTMLPath    string // also render the HTML report here
	MetricsAddr string // serve the generator's Prometheus metrics here
	Progress    bool   // a progress line (a bar on a terminal) on Log
	CPUProfile  string // the generator's CPU profile of the attacks

	Stdout io.Writer // the text summary and the output paths; default io.Discard
	Log    io.Writer // progress and what Execute does; default io.Discard
}

// FleetPlan is the fleet a run uses and how it is registered.
type FleetPlan struct {
	// Dir holds the fleet, reused when it has Devices devices of KeyType,
	// else minted there. "" = a temporary fleet, removed afterwards.
	Dir     string
	Devices int         // devices to use (and to mint)
	CAs     int         // device CAs when minting
	KeyType pki.KeyType // device key type when minting
	// ProductID is the product the fleet is registered under; default
	// DefaultProductID.
	ProductID string
	// SkipPrepare: the fleet is registered already (or its CAs are trusted
	// by a broker without an API); do not call the API. A fleet the run
	// would have to mint is then an error (OpenFleet).
	SkipPrepare    bool
	PrepareWorkers int // concurrent API calls while registering
}

// Output is what a run wrote.
type Output struct {
	Summary     *result.Summary
	ResultsPath string // results JSONL
	SummaryPath string // summary JSON
	HTMLPath    string // "" unless Plan.HTMLPath
}

// Execute carries out a plan: pin the CPUs, open (or mint) the fleet,
// obtain the platform under test and register the fleet on it, build the
// identities, tune the generator's runtime, run the attacks (Run), then
// write the summary and reports and print the text summary. Failed logins
// are results; the error reports faults of the harness, an invalid plan
// (naming the flag it cannot honour), ctx ending, a server under test that
// refuses every dial (*UnreachableError, which ends the attack at once) or,
// once all went well otherwise, a run that fails its verdict
// (*VerdictError, see Judge). The Output is nil when nothing was measured.
func Execute(ctx context.Context, p Plan) (*Output, error) {
	if err := p.validate(); err != nil {
		return nil, err
	}
	p.withDefaults()
	x := &execution{plan: p, log: p.Log}
	defer x.cleanup()
	if err := x.pin(); err != nil {
		return nil, err
	}
	if err := x.openFleet(ctx); err != nil {
		return nil, err
	}
	if err := x.openServer(ctx); err != nil {
		return nil, err
	}
	ids, err := BuildIdentities(ctx, x.fleet, IdentityOptions{ProductID: p.Fleet.ProductID, Devices: x.devices,
		Shard: p.Shard, Bad: x.plan.Bad}) // openServer may have narrowed the bad kinds
	if err != nil {
		return nil, err
	}
	x.tuneRuntime()
	return x.run(ctx, ids)
}

func (p *Plan) validate() error {
	if p.Bad.Share < 0 || p.Bad.Share > 1 {
		return fmt.Errorf("--bad-share %g: want 0..1", p.Bad.Share)
	}
	if p.MaxErrorShare < 0 || p.MaxErrorShare > 1 {
		return fmt.Errorf("--max-error-share %g: want 0..1", p.MaxErrorShare)
	}
	if p.Pin && (p.Server.TargetFile != "" || p.Server.InProcess != nil) {
		return errors.New("loadgen: --pin pins the server children loadgen starts; it does not go with --target or --in-process (pin those yourself, e.g. taskset)")
	}
	if p.OutDir == "" {
		return errors.New("loadgen: no output directory")
	}
	if err := p.validateModeFlags(); err != nil {
		return err
	}
	if p.Attack.Mode == result.ModeStorm {
		if err := p.validateStorm(); err != nil {
			return err
		}
	}
	if p.flooding() {
		if err := p.validateFlood(); err != nil {
			return err
		}
	}
	return p.validateTarget()
}

func (p *Plan) withDefaults() {
	if p.Stdout == nil {
		p.Stdout = io.Discard
	}
	if p.Log == nil {
		p.Log = io.Discard
	}
	if p.Fleet.ProductID == "" {
		p.Fleet.ProductID = DefaultProductID
	}
	if p.Attack.Mode == "" {
		p.Attack.Mode = result.ModeChurn
	}
	if p.RunID == "" {
		p.RunID = NewRunID()
	}
}

// tlsOnly: the run attacks the baseline server only; no platform is involved.
func (p *Plan) tlsOnly() bool { return p.Attack.Mode == result.ModeTLSOnly }

// NewRunID returns a fresh run ID: the UTC time and 12 random hex digits.
func NewRunID() string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return time.Now().UTC().Format("20060102T150405Z") + "-" + hex.EncodeToString(b)
}

// execution is the state of one Execute.
type execution struct {
	plan     Plan
	log      io.Writer
	split    host.CPUSplit
	fleet    *fleet.Fleet
	devices  int
	server   *host.Server // nil in tls-only mode
	progress *Progress    // nil without Plan.Progress
	cleanups []func()
}

// deferCleanup runs f when the execution ends, last deferred first.
func (x *execution) deferCleanup(f func()) { x.cleanups = append(x.cleanups, f) }

func (x *execution) cleanup() {
	for i := len(x.cleanups) - 1; i >= 0; i-- {
		x.cleanups[i]()
	}
}

// executable is the certlab binary that runs the child processes.
func (x *execution) executable() (string, error) {
	if x.plan.Executable != "" {
		return x.plan.Executable, nil
	}
	exe, err := os.Executable()
	if err != nil {
		return "", fmt.Errorf("loadgen: %w", err)
	}
	x.plan.Executable = exe
	return exe, nil
}

// pin splits the CPUs and pins this process to the generator's half.
func (x *execution) pin() error {
	if !x.plan.Pin {
		return nil
	}
	var err error
	if x.split, err = host.SplitCPUs(); err != nil {
		return fmt.Errorf("loadgen: --pin: %w", err)
	}
	if err := host.PinProcess(x.split.Generator); err != nil {
		return fmt.Errorf("loadgen: --pin: %w", err)
	}
	return nil
}

// openFleet reuses the fleet in the plan's directory when it has enough
// devices of the key type asked for, and mints one otherwise (OpenFleet).
func (x *execution) openFleet(ctx context.Context) error {
	fp := x.plan.Fleet
	if fp.Dir == "" {
		dir, err := os.MkdirTemp("", "certlab-fleet-*")
		if err != nil {
			return fmt.Errorf("loadgen: %w", err)
		}
		x.deferCleanup(func() { _ = os.RemoveAll(dir) })
		fp.Dir = dir
	}
	f, err := OpenFleet(ctx, fp, x.log)
	if err != nil {
		return err
	}
	x.fleet = f
	x.deferCleanup(func() { _ = f.Close() })
	x.devices = min(fp.Devices, f.Len())
	if x.devices <= 0 {
		x.devices = f.Len()
	}
	return nil
}

// OpenFleet opens the fleet in fp.Dir when it holds at least fp.Devices
// devices of fp.KeyType, and mints one there otherwise (saying so on log).
// With fp.SkipPrepare a fleet to be minted is an error: its certificates
// (and CAs) would be new, so no server could know them.
func OpenFleet(ctx context.Context, fp FleetPlan, log io.Writer) (*fleet.Fleet, error) {
	f, err := fleet.Load(fp.Dir)
	switch {
	case err == nil && f.Len() >= fp.Devices && f.Spec.KeyType == fp.KeyType:
		return f, nil
	case err != nil && !errors.Is(err, fleet.ErrNoFleet):
		return nil, err
	}
	held := "holds no fleet"
	if err == nil {
		held = fmt.Sprintf("holds %d %s devices", f.Len(), f.Spec.KeyType)
		_ = f.Close()
	}
	if fp.Devices <= 0 {
		return nil, fmt.Errorf("loadgen: %s %s; set --devices to mint one", fp.Dir, held)
	}
	if fp.SkipPrepare {
		return nil, fmt.Errorf("--skip-prepare: %s %s, so this run would mint %d %s devices that no server knows; "+
			"mint the fleet first and register it, or have the broker trust its CAs (certlab pki fleet-ca --fleet %s --devices %d --key-type %s --out fleet-ca.pem), "+
			"or drop --skip-prepare", fp.Dir, held, fp.Devices, fp.KeyType, fp.Dir, fp.Devices, fp.KeyType)
	}
	fmt.Fprintf(log, "loadgen: minting %d %s devices over %d CAs into %s\n", fp.Devices, fp.KeyType, fp.CAs, fp.Dir)
	return fleet.Mint(ctx, fp.Dir, fleet.Spec{Devices: fp.Devices, CAs: fp.CAs, KeyType: fp.KeyType})
}

// openServer obtains the platform under test (not in tls-only mode) and
// registers this shard of the fleet on it unless the plan skips that.
func (x *execution) openServer(ctx context.Context) error {
	p := &x.plan
	if p.tlsOnly() {
		return nil
	}
	spec := p.Server
	switch spec.Kind() {
	case host.ServerInProcess:
		fmt.Fprintln(x.log, "loadgen: platform in this process: its CPU cannot be told from the generator's; server CPU is not measured")
	case host.ServerChild:
		fmt.Fprintln(x.log, "loadgen: starting the reference platform as a child process")
		child := *spec.Child
		if len(child.Command) == 0 {
			exe, err := x.executable()
			if err != nil {
				return err
			}
			child.Command = []string{exe, "platform"}
		}
		if child.CPUs == nil {
			child.CPUs = x.split.Server
		}
		spec.Child = &child
	}
	s, err := host.OpenServer(ctx, spec)
	if err != nil {
		return err
	}
	x.server = s
	x.deferCleanup(func() { _ = s.Close() })
	if !s.Target.HasAPI() {
		fmt.Fprintf(x.log, "loadgen: target %s is an MQTT broker without a REST API: the fleet is not registered there, and it is expected to check certificate chains only\n", s.Target.MQTTAddress())
		if p.Bad.Share > 0 && len(p.Bad.Kinds) == 0 {
			p.Bad.Kinds = brokerBadKinds
			fmt.Fprintf(x.log, "loadgen: bad identities: %s only (a broker without a device registry lets the others in)\n", result.BadUnknownCA)
		}
	}
	if p.Fleet.SkipPrepare {
		return nil
	}
	fmt.Fprintf(x.log, "loadgen: registering %d devices (shard %s) on %s\n", x.devices, p.Shard, s.Target.APIEndpoint)
	pr, err := Prepare(ctx, s.Target, x.fleet, PrepareOptions{ProductID: p.Fleet.ProductID, Devices: x.devices,
		Shard: p.Shard, Workers: p.Fleet.PrepareWorkers})
	if err != nil {
		return err
	}
	fmt.Fprintf(x.log, "loadgen: %d CAs ready; devices: %d registered, %d already there, %d updated, %d failed (%s)\n",
		pr.VerifiedCAs(), pr.Registered, pr.Existing, pr.Updated, pr.FailedDevices(), pr.Elapsed.Round(time.Millisecond))
	for _, df := range pr.Failures {
		fmt.Fprintf(x.log, "  device %d (%s): %s\n", df.Index, df.NodeID, df.Error)
	}
	return nil
}

// tuneRuntime sets the generator's GOMAXPROCS and collector, now that its
// long-lived heap (the identities) is built; the run header records both
// (RunInfo.GoRuntime).
func (x *execution) tuneRuntime() {
	p := &x.plan
	switch {
	case p.Server.Kind() == host.ServerInProcess:
		// The platform shares this process and its GOMAXPROCS.
		host.Procs(p.Procs, false)
	case p.Pin && p.Procs == 0 && os.Getenv("GOMAXPROCS") == "":
		host.Procs(len(x.split.Generator), true)
	default:
		host.Procs(p.Procs, x.localServer())
	}
	host.TuneGC(p.Attack.Mode == result.ModeHold || p.Attack.Mode == result.ModeStorm)
}

// localServer: a server under test shares this machine's CPUs with the
// generator (a baseline child, a child platform, a given PID, a target on
// loopback).
func (x *execution) localServer() bool {
	return x.plan.Baseline || len(x.plan.Compare) > 0 || x.plan.tlsOnly() || (x.server != nil && x.server.Local)
}

// run runs the attacks with the results file, metrics and progress set up,
// then writes the summary and reports.
func (x *execution) run(ctx context.Context, ids []*Identity) (*Output, error) {
	p := &x.plan
	if err := os.MkdirAll(p.OutDir, 0o755); err != nil {
		return nil, fmt.Errorf("loadgen: %w", err)
	}
	base := "results"
	if p.Shard.Count > 1 {
		base = fmt.Sprintf("results-%d-of-%d", p.Shard.Index, p.Shard.Count)
	}
	out := &Output{ResultsPath: filepath.Join(p.OutDir, base+".jsonl"),
		SummaryPath: filepath.Join(p.OutDir, strings.Replace(base, "results", "summary", 1)+".json")}
	rf, err := os.Create(out.ResultsPath)
	if err != nil {
		return nil, fmt.Errorf("loadgen: %w", err)
	}
	results := result.NewWriter(rf)
	defer results.Close()

	cfg, err := x.runConfig(ctx, results)
	if err != nil {
		return nil, err
	}
	stopProfile, err := startCPUProfile(p.CPUProfile)
	if err != nil {
		return nil, err
	}
	var summary *result.Summary
	var runErr error
	switch {
	case p.Attack.Mode == result.ModeStorm:
		summary, runErr = RunStorm(ctx, cfg, x.stormConfig(), ids)
	case p.flooding():
		summary, runErr = RunFlood(ctx, cfg, x.floodConfig(), ids, x.log)
	default:
		summary, runErr = Run(ctx, cfg, ids)
	}
	stopProfile()
	if x.progress != nil {
		x.progress.End()
	}
	if ue, ok := errors.AsType[*UnreachableError](runErr); ok {
		runErr = ue // one clear line, not the attack's wrapping
	}
	if err := results.Close(); err != nil {
		runErr = errors.Join(runErr, err)
	}
	if summary == nil {
		return nil, runErr
	}
	out.Summary = summary
	if err := x.writeReports(out); err != nil {
		return out, errors.Join(runErr, err)
	}
	switch {
	case runErr != nil:
	case p.Attack.Mode == result.ModeStorm:
		runErr = JudgeStorm(summary)
	case p.flooding():
		runErr = JudgeFlood(summary, p.MaxErrorShare)
	default:
		runErr = Judge(summary, p.MaxErrorShare)
	}
	return out, runErr
}

// runConfig is the Config of Run: the attack aimed at the server, the run
// header, the live metrics (served when asked), progress and the baseline.
func (x *execution) runConfig(ctx context.Context, results *result.Writer) (Config, error) {
	p := &x.plan
	reg := prometheus.NewRegistry()
	metrics, err := NewPromMetrics(reg)
	if err != nil {
		return Config{}, err
	}
	if p.MetricsAddr != "" {
		stop, err := ServeMetrics(ctx, p.MetricsAddr, reg)
		if err != nil {
			return Config{}, err
		}
		x.deferCleanup(stop)
	}
	ac := p.Attack
	ac.Metrics = metrics
	info := result.RunInfo{ID: p.RunID, Devices: x.devices, BadShare: p.Bad.Share, Shard: p.Shard, KeyType: string(x.fleet.Spec.KeyType)}
	if p.Pin {
		info.Pinning = fmt.Sprintf("pinned: generator on CPUs %v, server under test on CPUs %v", x.split.Generator, x.split.Server)
	}
	if s := x.server; s != nil {
		roots, err := s.Target.RootCAs()
		if err != nil {
			return Config{}, err
		}
		ac.Addr, ac.ServerName, ac.RootCAs, ac.ServerCPU = s.Target.MQTTAddress(), s.Target.ServerName(""), roots, s.CPU
		info.Target, info.MQTTEndpoint = s.Target.Name, s.Target.MQTTAddress()
		if ac.Names, err = LoginNamesOf(s.Target); err != nil {
			return Config{}, err
		}
		if !s.Target.HasAPI() {
			ac.Server, ac.Expect = result.ServerTarget, ExpectBroker
		}
	}
	cfg := Config{Attack: ac, Info: info, Results: results}
	var guard result.Sink
	if x.server != nil {
		guard = newReachGuard(ac.Addr, DefaultUnreachableAfter)
	}
	cfg.Sink = guard
	if p.Progress && ac.Mode != result.ModeStorm { // a storm logs its stages instead
		f, ok := p.Log.(*os.File)
		progress := NewProgress(p.Log, ok && term.IsTerminal(int(f.Fd())), 5*time.Second)
		x.progress = progress
		cfg.Sink = result.Tee(progress, guard)
		cfg.OnAttack = func(server string) { progress.Begin(server, ac.Warmup+ac.Duration, int64(ac.Count)) }
	}
	compare := slices.Clone(p.Compare)
	if p.Baseline && !slices.Contains(compare, result.ServerBaseline) {
		compare = append(compare, result.ServerBaseline)
	}
	if p.Baseline || p.tlsOnly() || slices.Contains(compare, result.ServerBaselineMQTT) {
		exe, err := x.executable()
		if err != nil {
			return Config{}, err
		}
		cfg.Baseline = &host.BaselineOptions{Command: []string{exe, "loadgen", "baseline-server"}, CPUs: x.split.Server}
	}
	if len(p.Compare) > 0 {
		cfg.Compare = compare
	}
	if slices.Contains(compare, result.ServerMosquitto) {
		cfg.Mosquitto = &host.MosquittoOptions{CPUs: x.split.Server}
	}
	cfg.Rounds = p.Rounds
	return cfg, nil
}

// startCPUProfile profiles this process into path until the returned func
// is called ("" profiles nothing).
func startCPUProfile(path string) (stop func(), err error) {
	if path == "" {
		return func() {}, nil
	}
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("loadgen: %w", err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("loadgen: %w", err)
	}
	return func() {
		pprof.StopCPUProfile()
		_ = f.Close()
	}, nil
}

// writeReports writes the summary JSON and the HTML report, then prints the
// text summary and where the files are.
func (x *execution) writeReports(out *Output) error {
	p := &x.plan
	if err := reports.WriteFile(out.SummaryPath, reports.JSON(out.Summary)); err != nil {
		return err
	}
	if p.HTMLPath != "" {
		if err := reports.WriteFile(p.HTMLPath, reports.HTML(out.Summary, reports.HTMLOptions{})); err != nil {
			return err
		}
		out.HTMLPath = p.HTMLPath
	}
	if err := reports.Text(out.Summary)(p.Stdout); err != nil {
		return err
	}
	fmt.Fprintf(p.Stdout, "\nresults  %s\nsummary  %s\n", out.ResultsPath, out.SummaryPath)
	if out.HTMLPath != "" {
		fmt.Fprintf(p.Stdout, "report   %s\n", out.HTMLPath)
	}
	return nil
}
