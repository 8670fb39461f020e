package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/pprof"
	"strings"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/certlab/certlab/iotda"
	"github.com/certlab/certlab/loadgen"
	"github.com/certlab/certlab/platform"
	"github.com/certlab/certlab/reports"
	"github.com/certlab/certlab/sim/fleet"
	"github.com/certlab/certlab/sim/pki"
)

// loadgenOptions are the flags of `certlab loadgen`.
type loadgenOptions struct {
	target, fleetDir, out, htmlOut string
	inProcess, skipPrepare         bool
	devices, cas                   int
	keyType                        string
	mode, tlsVersion, kex, mqtt    string
	workers, count, backlog        int
	rate                           float64
	duration, warmup, timeout      time.Duration
	keepalive                      uint16
	resume, baseline, noProgress   bool
	badShare                       float64
	badKinds, shard, productID     string
	serverPID                      int
	metricsAddr                    string
	prepareWorkers                 int
	runID                          string
	cpuProfile                     string
	verifyServer                   string
	procs                          int
	pin                            bool
	closeMode                      string
}

func loadgenCmd() *cobra.Command {
	var o loadgenOptions
	cmd := &cobra.Command{
		Use:   "loadgen",
		Short: "Login load: thousands of server-confirmed mutual-TLS logins, with CPU per login on both sides",
		Long: `Run login load against a target and write results (JSONL, one record per attempt)
and a summary (JSON) into --out; render them later with "certlab report".

Without --target, loadgen starts the reference platform as a child process
(so the platform's CPU is measured apart from the generator's). The fleet in
--fleet is reused when it holds enough devices, else minted; it is registered
on the target (CAs uploaded and verified, an MQTT product, devices with their
fingerprints) unless --skip-prepare.

Pacing: a closed loop with --workers, or an open loop with --rate (latency is
measured from each attempt's scheduled time; attempts that find no free worker
are recorded as dropped). --baseline also runs the same identities against a
bare crypto/tls server (child process) and reports the server CPU ratio.

Each summary also states the client-side crypto floor, measured on this machine
after each attack with the same key types, and the generator's CPU per login as a
multiple of it. The generator re-executes itself with sysmon kept out of deep sleep
(GODEBUG=schedtrace; CERTLAB_LOADGEN_RUNTIME=default opts out) and, next to a local
server, uses half the CPUs (--procs); --pin also pins the server children.

Examples:
  certlab loadgen --fleet /tmp/fleet --devices 2000 --duration 20s --workers 16 --baseline
  certlab loadgen --pin --fleet /tmp/fleet --devices 2000 --mode tls-only --kex x25519 --tls 1.3
  certlab loadgen --target target.json --fleet fleet --rate 500 --duration 1m --bad-share 0.1
  certlab loadgen --target target.json --fleet fleet --shard 2/8 --out out/shard-2`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runLoadgen(cmd.Context(), cmd, o) },
	}
	f := cmd.Flags()
	f.StringVar(&o.target, "target", "", "target file (default: start the reference platform as a child process)")
	f.BoolVar(&o.inProcess, "in-process", false, "without --target, run the platform inside this process (its CPU is then not measured)")
	f.StringVar(&o.fleetDir, "fleet", "", "fleet directory, reused or minted (default: a temporary fleet)")
	f.IntVar(&o.devices, "devices", 1000, "devices to use (the fleet is minted with this many when it holds fewer)")
	f.IntVar(&o.cas, "cas", 1, "device CAs when minting a fleet (1..100)")
	f.StringVar(&o.keyType, "key-type", string(pki.ECDSAP256), "device key type when minting: ecdsa-p256, ecdsa-p384, rsa-2048, ed25519")
	f.StringVar(&o.productID, "product-id", loadgen.DefaultProductID, "product the fleet is registered under")
	f.BoolVar(&o.skipPrepare, "skip-prepare", false, "do not register the fleet (it already is)")
	f.IntVar(&o.prepareWorkers, "prepare-workers", 8, "concurrent API calls while registering")

	f.StringVar(&o.mode, "mode", string(loadgen.ModeChurn), "churn (login, CONNACK, disconnect), hold (open and keep logins for --duration), tls-only (baseline server only)")
	f.IntVar(&o.workers, "workers", 16, "closed loop: concurrent workers; open loop: attempts in flight at most")
	f.Float64Var(&o.rate, "rate", 0, "open loop: attempts per second (0 = closed loop)")
	f.IntVar(&o.backlog, "backlog", 0, "open loop: due attempts that may wait for a worker before being dropped (default --workers)")
	f.DurationVar(&o.duration, "duration", 10*time.Second, "measured duration (hold: how long logins are held); 0 with --count")
	f.IntVar(&o.count, "count", 0, "measured attempts (0 = by --duration)")
	f.DurationVar(&o.warmup, "warmup", 0, "warm-up before the measured window (excluded from the summary)")
	f.DurationVar(&o.timeout, "connect-timeout", 10*time.Second, "deadline of one login (TCP + TLS + CONNECT -> CONNACK)")
	f.Uint16Var(&o.keepalive, "keepalive", 0, fmt.Sprintf("MQTT keepalive in seconds (default %d; hold: %d)", iotda.DefaultKeepalive, iotda.MaxKeepalive))

	f.StringVar(&o.tlsVersion, "tls", "auto", "TLS version: 1.2, 1.3 or auto")
	f.StringVar(&o.kex, "kex", string(loadgen.KexHybrid), "key exchange: hybrid (X25519MLKEM768, Go's default), x25519, p256")
	f.StringVar(&o.verifyServer, "verify-server", loadgen.VerifyCached, "server chain check: cached (crypto/x509 once per server certificate; CertificateVerify on every handshake) or full (every handshake)")
	f.BoolVar(&o.resume, "resume", false, "TLS session resumption (one session cache per device)")
	f.StringVar(&o.mqtt, "mqtt", iotda.MQTT311.String(), "MQTT version: 3.1.1 or 5")
	f.Float64Var(&o.badShare, "bad-share", 0, "share of devices presenting a bad identity (0..1), refused by the platform")
	f.StringVar(&o.badKinds, "bad-kinds", "", "bad identities to rotate: fingerprint_mismatch,unregistered,unknown_ca (default all)")

	f.StringVar(&o.runID, "run-id", "", "run ID shared by the shards of one run (default: generated)")
	f.StringVar(&o.shard, "shard", "", "run one shard i/n of the fleet (devices with index % n == i)")
	f.BoolVar(&o.baseline, "baseline", false, "also run against a bare crypto/tls server and report the server CPU ratio")
	f.IntVar(&o.serverPID, "server-pid", 0, "PID of a local platform process, for its CPU (default: the child platform, else the target's metrics endpoint)")
	f.StringVar(&o.metricsAddr, "metrics-addr", "", "serve the generator's Prometheus metrics on this address (e.g. :9465)")
	f.StringVar(&o.out, "out", "loadgen-out", "output directory: results JSONL and summary.json")
	f.StringVar(&o.htmlOut, "html", "", "also render the HTML report to this file")
	f.BoolVar(&o.noProgress, "no-progress", false, "no progress line on stderr")
	f.StringVar(&o.closeMode, "close", "fin", "how a churned (MQTT 3.1.1) or tls-only login's TCP connection ends once the server confirmed it: fin, or reset (SO_LINGER 0: no TIME_WAIT on the generator, whose ephemeral ports would otherwise run out near 470 logins/s per source address against a remote server that closes after it)")
	f.BoolVar(&o.pin, "pin", false, "pin the generator to the upper half of this machine's CPUs and the server children it starts (platform, baseline) to the lower half")
	f.IntVar(&o.procs, "procs", 0, "generator GOMAXPROCS (default $GOMAXPROCS, else half the CPUs when the server under test runs on this machine, else all)")
	f.StringVar(&o.cpuProfile, "cpuprofile", "", "write the generator's CPU profile of the attacks to this file")
	cmd.AddCommand(baselineServerCmd())
	return cmd
}

// baselineServerCmd is the child process of --baseline.
func baselineServerCmd() *cobra.Command {
	return &cobra.Command{
		Use:                "baseline-server",
		Short:              "Serve the bare crypto/tls baseline (started by loadgen --baseline)",
		Hidden:             true,
		DisableFlagParsing: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			return loadgen.BaselineMain(cmd.Context(), args, os.Stdin, cmd.OutOrStdout())
		},
	}
}

func runLoadgen(ctx context.Context, cmd *cobra.Command, o loadgenOptions) error {
	stderr := cmd.ErrOrStderr()
	mode, err := loadgen.ParseMode(o.mode)
	if err != nil {
		return err
	}
	shard, err := loadgen.ParseShard(o.shard)
	if err != nil {
		return err
	}
	kinds, err := loadgen.ParseBadKinds(o.badKinds)
	if err != nil {
		return err
	}
	mqttVersion, err := iotda.ParseMQTTVersion(o.mqtt)
	if err != nil {
		return fmt.Errorf("--mqtt: %w", err)
	}
	if o.closeMode != "fin" && o.closeMode != "reset" {
		return fmt.Errorf("--close %q: want fin or reset", o.closeMode)
	}
	if o.badShare < 0 || o.badShare > 1 {
		return fmt.Errorf("--bad-share %g: want 0..1", o.badShare)
	}
	if o.count > 0 && !cmd.Flags().Changed("duration") {
		o.duration = 0
	}
	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("loadgen: %w", err)
	}
	var split loadgen.CPUSplit
	if o.pin {
		if o.target != "" || o.inProcess {
			return errors.New("loadgen: --pin pins the server children loadgen starts; it does not go with --target or --in-process (pin those yourself, e.g. taskset)")
		}
		if split, err = loadgen.SplitCPUs(); err != nil {
			return fmt.Errorf("loadgen: --pin: %w", err)
		}
		if err := loadgen.PinProcess(split.Generator); err != nil {
			return fmt.Errorf("loadgen: --pin: %w", err)
		}
	}

	// Fleet.
	fleetDir := o.fleetDir
	if fleetDir == "" {
		if fleetDir, err = os.MkdirTemp("", "certlab-fleet-*"); err != nil {
			return fmt.Errorf("loadgen: %w", err)
		}
		defer os.RemoveAll(fleetDir)
	}
	fl, err := openFleet(ctx, fleetDir, o, stderr)
	if err != nil {
		return err
	}
	defer fl.Close()
	devices := min(o.devices, fl.Len())
	if devices <= 0 {
		devices = fl.Len()
	}

	// Target and the server's CPU source.
	var target *iotda.Target
	var serverCPU loadgen.CPUSource
	// localServer: a server under test shares this machine's CPUs (not the
	// in-process platform, which shares this process and its GOMAXPROCS).
	localServer := o.baseline || mode == loadgen.ModeTLSOnly || o.serverPID > 0
	if mode != loadgen.ModeTLSOnly {
		var stop func()
		var pid int
		switch {
		case o.target != "":
			if target, err = iotda.LoadTarget(o.target); err != nil {
				return err
			}
			stop = func() {}
		case o.inProcess:
			if target, _, stop, err = resolveTarget(ctx, "", embeddedOptions{}); err != nil {
				return err
			}
			fmt.Fprintln(stderr, "loadgen: platform in this process: its CPU cannot be told from the generator's; server CPU is not measured")
		default:
			fmt.Fprintln(stderr, "loadgen: starting the reference platform as a child process")
			if target, pid, stop, err = startChildPlatform(ctx, exe, split.Server); err != nil {
				return err
			}
		}
		defer stop()
		switch {
		case o.serverPID > 0:
			serverCPU = loadgen.PIDCPU{PID: o.serverPID}
		case pid > 0:
			serverCPU = loadgen.PIDCPU{PID: pid}
			localServer = true
		case !o.inProcess && target.MetricsEndpoint != "":
			serverCPU = loadgen.MetricsCPU{URL: target.MetricsEndpoint}
		}
		if !o.skipPrepare {
			fmt.Fprintf(stderr, "loadgen: registering %d devices (shard %s) on %s\n", devices, shard, target.APIEndpoint)
			pr, err := loadgen.Prepare(ctx, target, fl, loadgen.PrepareOptions{ProductID: o.productID, Devices: devices,
				Shard: shard, Workers: o.prepareWorkers})
			if err != nil {
				return err
			}
			fmt.Fprintf(stderr, "loadgen: %d CAs ready; devices: %d registered, %d already there, %d updated, %d failed (%s)\n",
				pr.VerifiedCAs(), pr.Registered, pr.Existing, pr.Updated, pr.FailedDevices(), pr.Elapsed.Round(time.Millisecond))
			for _, df := range pr.Failures {
				fmt.Fprintf(stderr, "  device %d (%s): %s\n", df.Index, df.NodeID, df.Error)
			}
		}
	}

	ids, err := loadgen.BuildIdentities(ctx, fl, loadgen.IdentityOptions{ProductID: o.productID, Devices: devices,
		Shard: shard, Bad: loadgen.BadPlan{Share: o.badShare, Kinds: kinds}})
	if err != nil {
		return err
	}
	// The generator's runtime, now that its long-lived heap is built; the
	// run header records both (RunInfo.GoRuntime).
	if target != nil && !o.inProcess && isLoopback(target.MQTTAddress()) {
		localServer = true
	}
	switch {
	case o.inProcess:
		loadgen.Procs(o.procs, false)
	case o.pin && o.procs == 0 && os.Getenv("GOMAXPROCS") == "":
		loadgen.Procs(len(split.Generator), true)
	default:
		loadgen.Procs(o.procs, localServer)
	}
	loadgen.TuneGC(mode)

	// Outputs.
	if err := os.MkdirAll(o.out, 0o755); err != nil {
		return fmt.Errorf("loadgen: %w", err)
	}
	base := "results"
	if shard.Count > 1 {
		base = fmt.Sprintf("results-%d-of-%d", shard.Index, shard.Count)
	}
	resultsPath := filepath.Join(o.out, base+".jsonl")
	rf, err := os.Create(resultsPath)
	if err != nil {
		return fmt.Errorf("loadgen: %w", err)
	}
	results := loadgen.NewWriter(rf)
	defer results.Close()

	reg := prometheus.NewRegistry()
	metrics, err := loadgen.NewPromMetrics(reg)
	if err != nil {
		return err
	}
	if o.metricsAddr != "" {
		stopMetrics, err := serveMetrics(o.metricsAddr, reg)
		if err != nil {
			return err
		}
		defer stopMetrics()
	}
	var progress *loadgen.Progress
	if !o.noProgress {
		f, ok := stderr.(*os.File)
		progress = loadgen.NewProgress(stderr, ok && term.IsTerminal(int(f.Fd())), 5*time.Second)
	}

	ac := loadgen.AttackConfig{
		Mode: mode, Workers: o.workers, Rate: o.rate, Backlog: o.backlog, Warmup: o.warmup,
		Duration: o.duration, Count: o.count, ConnectTimeout: o.timeout, MQTTVersion: int(mqttVersion),
		Keepalive: o.keepalive, TLSVersion: normTLS(o.tlsVersion), KeyExchange: loadgen.KeyExchange(o.kex),
		Resumption: o.resume, VerifyServer: o.verifyServer, ServerCPU: serverCPU, Metrics: metrics,
		CloseReset: o.closeMode == "reset",
	}
	if o.runID == "" {
		o.runID = runID()
	}
	info := loadgen.RunInfo{ID: o.runID, Devices: devices, BadShare: o.badShare, Shard: shard, KeyType: string(fl.Spec.KeyType)}
	if o.pin {
		info.Pinning = fmt.Sprintf("pinned: generator on CPUs %v, server under test on CPUs %v", split.Generator, split.Server)
	}
	if target != nil {
		roots, err := target.RootCAs()
		if err != nil {
			return err
		}
		ac.Addr, ac.ServerName, ac.RootCAs = target.MQTTAddress(), target.ServerName(""), roots
		info.Target, info.MQTTEndpoint = target.Name, target.MQTTAddress()
	}
	cfg := loadgen.Config{Attack: ac, Info: info, Results: results}
	if progress != nil {
		cfg.Sink = progress
		cfg.OnAttack = func(server string) {
			length := o.warmup + o.duration
			progress.Begin(server, length, int64(o.count))
		}
	}
	if o.baseline || mode == loadgen.ModeTLSOnly {
		cfg.Baseline = &loadgen.BaselineOptions{Command: []string{exe, "loadgen", "baseline-server"}, CPUs: split.Server}
	}

	if o.cpuProfile != "" {
		pf, err := os.Create(o.cpuProfile)
		if err != nil {
			return fmt.Errorf("loadgen: %w", err)
		}
		defer pf.Close()
		if err := pprof.StartCPUProfile(pf); err != nil {
			return fmt.Errorf("loadgen: %w", err)
		}
		defer pprof.StopCPUProfile()
	}
	summary, runErr := loadgen.Run(ctx, cfg, ids)
	if progress != nil {
		progress.End()
	}
	if err := results.Close(); err != nil {
		runErr = errors.Join(runErr, err)
	}
	if summary == nil {
		return runErr
	}
	summaryPath := filepath.Join(o.out, strings.Replace(base, "results", "summary", 1)+".json")
	if err := reports.WriteFile(summaryPath, reports.JSON(summary)); err != nil {
		return errors.Join(runErr, err)
	}
	if o.htmlOut != "" {
		if err := reports.WriteFile(o.htmlOut, reports.HTML(summary, reports.HTMLOptions{})); err != nil {
			return errors.Join(runErr, err)
		}
	}
	out := cmd.OutOrStdout()
	if err := reports.Text(summary)(out); err != nil {
		return err
	}
	fmt.Fprintf(out, "\nresults  %s\nsummary  %s\n", resultsPath, summaryPath)
	if o.htmlOut != "" {
		fmt.Fprintf(out, "report   %s\n", o.htmlOut)
	}
	return runErr
}

// openFleet reuses the fleet in dir when it has enough devices of the key
// type asked for, and mints one otherwise.
func openFleet(ctx context.Context, dir string, o loadgenOptions, log io.Writer) (*fleet.Fleet, error) {
	f, err := fleet.Load(dir)
	switch {
	case err == nil && f.Len() >= o.devices && f.Spec.KeyType == pki.KeyType(o.keyType):
		return f, nil
	case err == nil:
		_ = f.Close()
	case !errors.Is(err, fleet.ErrNoFleet):
		return nil, err
	}
	if o.devices <= 0 {
		return nil, fmt.Errorf("loadgen: %s holds no fleet; set --devices to mint one", dir)
	}
	fmt.Fprintf(log, "loadgen: minting %d %s devices over %d CAs into %s\n", o.devices, o.keyType, o.cas, dir)
	return fleet.Mint(ctx, dir, fleet.Spec{Devices: o.devices, CAs: o.cas, KeyType: pki.KeyType(o.keyType)})
}

// startChildPlatform runs `certlab platform` on loopback ports in a
// temporary data directory and waits for its target file.
// With cpus set the child is pinned to them from birth.
func startChildPlatform(ctx context.Context, exe string, cpus []int) (*iotda.Target, int, func(), error) {
	dir, err := os.MkdirTemp("", "certlab-platform-*")
	if err != nil {
		return nil, 0, nil, fmt.Errorf("start platform: %w", err)
	}
	c := exec.Command(exe, "platform", "--data", dir, "--api-addr", "127.0.0.1:0", "--mqtt-addr", "127.0.0.1:0",
		"--metrics-addr", "127.0.0.1:0", "--log-level", "warn")
	c.Stdout, c.Stderr = io.Discard, os.Stderr
	c.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM} // never outlive the generator
	if err := loadgen.StartOn(cpus, c.Start); err != nil {
		os.RemoveAll(dir)
		return nil, 0, nil, fmt.Errorf("start platform: %w", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- c.Wait() }()
	stop := func() {
		_ = c.Process.Signal(syscall.SIGTERM)
		t := time.NewTimer(10 * time.Second)
		select {
		case <-exited:
		case <-t.C:
			_ = c.Process.Kill()
			<-exited
		}
		t.Stop()
		os.RemoveAll(dir)
	}
	path := filepath.Join(dir, platform.TargetFile)
	deadline := time.NewTimer(30 * time.Second)
	defer deadline.Stop()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		if _, err := os.Stat(path); err == nil {
			t, err := iotda.LoadTarget(path)
			if err != nil {
				stop()
				return nil, 0, nil, fmt.Errorf("start platform: %w", err)
			}
			return t, c.Process.Pid, stop, nil
		}
		select {
		case err := <-exited:
			os.RemoveAll(dir)
			return nil, 0, nil, fmt.Errorf("start platform: exited before it was ready: %v", err)
		case <-deadline.C:
			stop()
			return nil, 0, nil, errors.New("start platform: not ready after 30s")
		case <-ctx.Done():
			stop()
			return nil, 0, nil, fmt.Errorf("start platform: %w", context.Cause(ctx))
		case <-tick.C:
		}
	}
}

// serveMetrics serves reg (plus Go and process collectors) on addr.
func serveMetrics(addr string, reg *prometheus.Registry) (func(), error) {
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("metrics: %w", err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	return func() {
		sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}, nil
}

func normTLS(s string) string {
	if s == "auto" {
		return ""
	}
	return s
}

func runID() string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return time.Now().UTC().Format("20060102T150405Z") + "-" + hex.EncodeToString(b)
}

// isLoopback reports whether addr (host:port) names this machine's loopback.
func isLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
