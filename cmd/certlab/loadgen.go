package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/certlab/certlab/iotda"
	"github.com/certlab/certlab/loadgen"
	"github.com/certlab/certlab/loadgen/host"
	"github.com/certlab/certlab/loadgen/result"
	"github.com/certlab/certlab/sim/pki"
)

// exitLoadgenFailed is loadgen's exit status for a run that measured but
// failed its verdict (loadgen.Judge); 1 is a run that could not be made.
const exitLoadgenFailed = 2

// loadgenOptions are the flags of `certlab loadgen`: most bind straight into
// the plan, the rest are parsed into it by runLoadgen.
type loadgenOptions struct {
	plan loadgen.Plan

	target                string
	noPreflight           bool
	inProcess             bool
	serverPID             int
	keyType               string
	mode, shard, badKinds string
	compare               string
	mqtt, tlsVersion, kex string
	closeMode             string
	noProgress            bool

	// storm mode
	outage, policy, stormAt string
	capacityProbe           time.Duration
	backoffBase, backoffCap time.Duration
	platformFlags           []string

	// flood
	flood, floodKind string
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

Any mTLS MQTT broker can be the target: a target file without api_endpoint
(then --skip-prepare is required, and the broker must trust the fleet's CAs:
"certlab pki fleet-ca"), with its ClientId and username conventions as
client_id_template / username_template ({device_id}, {node_id}, {product_id},
{cn}, {YYYYMMDDHH}; IoTDA's by default). Its results are labelled "target"; it
is expected to check certificate chains only, so --bad-kinds is unknown_ca.

Pacing: a closed loop with --workers, or an open loop with --rate (latency is
measured from each attempt's scheduled time; attempts that find no free worker
are recorded as dropped). In hold mode --rate paces the ramp-up of the held
logins (at most --workers in flight). A flag the mode cannot honour is an error. --baseline also runs the same identities against a
bare crypto/tls server (child process) and reports the server CPU ratio.

Each summary also states the client-side crypto floor, measured on this machine
after each attack with the same key types, and the generator's CPU per login as a
multiple of it. The generator re-executes itself with sysmon kept out of deep sleep
(GODEBUG=schedtrace; CERTLAB_LOADGEN_RUNTIME=default opts out) and, next to a local
server, uses half the CPUs (--procs); --pin also pins the server children.

Storm mode (--mode storm) measures a reconnect storm: it measures the steady
login capacity (--capacity-probe), logs every device in and holds it, cuts every
session at once (--outage client-drop: each device resets its connection, against
any target; restart or kill: the child platform gets SIGTERM or SIGKILL, stays down
for --down and starts again on its data directory), and lets every device reconnect
by --policy until all are back or --storm-deadline. The summary gives the time to
50/90/99/100% reconnected, the peak attempt rate against the capacity (herd factor),
wasted handshakes and devices that never came back; the HTML report draws the storm.
Sharded storms share the outage instant with --storm-at.

A flood run (--flood RATE or --flood Nx) measures the devices' churn logins
twice: alone, then while unauthenticated peers open mutual-TLS handshakes at
RATE per second (Nx: N times the login rate measured alone, the platform's
capacity in a closed loop) with a certificate of an unknown CA, none, or both
in turn (--flood-kind). The summary keeps the populations apart and gives the
share of their login rate the devices kept (the run fails, exit 2, below
--flood-min-kept, default 0.9) and the platform's counters against the
generator's.

Exit status: 0 when the run passed; 2 when it measured but failed: no login
succeeded, or more than --max-error-share (default 0.05) of a server's
attempts ended unexpectedly (errors, drops, good identities refused, bad
identities let in or refused the wrong way; the expected refusals of
--bad-share identities are not errors) — a storm fails when no device held a
session or none came back (gate it with certlab report --max-time-to-99 and
--max-never-returned); 1 when it could not run (bad flags, a target that fails
its pre-flight, or an MQTT endpoint that refuses the first 50 dials: the run
stops at once instead of dialling for the whole duration).

Examples:
  certlab loadgen --fleet /tmp/fleet --devices 2000 --duration 20s --workers 16 --baseline
  certlab loadgen --mode storm --fleet /tmp/fleet --devices 5000 --outage kill --policy full-jitter --html storm.html
  certlab loadgen --mode storm --target target.json --fleet fleet --shard 2/8 --storm-at 2026-12-05T10:00:00Z
  certlab loadgen --pin --fleet /tmp/fleet --devices 2000 --mode tls-only --kex x25519 --tls 1.3
  certlab loadgen --pin --fleet /tmp/fleet --devices 2000 --duration 20s --warmup 3s --kex x25519 --flood 2x --html flood.html
  certlab loadgen --target target.json --fleet fleet --rate 500 --duration 1m --bad-share 0.1
  certlab loadgen --target target.json --fleet fleet --shard 2/8 --out out/shard-2
  certlab loadgen --target mosquitto.json --skip-prepare --fleet fleet --devices 200 --duration 20s`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runLoadgen(cmd.Context(), cmd, o) },
	}
	p := &o.plan
	f := cmd.Flags()
	f.StringVar(&o.target, "target", "", "target file (default: start the reference platform as a child process)")
	f.BoolVar(&o.noPreflight, "no-preflight", false, "skip the target pre-flight (certlab target check)")
	f.BoolVar(&o.inProcess, "in-process", false, "without --target, run the platform inside this process (its CPU is then not measured)")
	f.StringVar(&p.Fleet.Dir, "fleet", "", "fleet directory, reused or minted (default: a temporary fleet)")
	f.IntVar(&p.Fleet.Devices, "devices", 1000, "devices to use (the fleet is minted with this many when it holds fewer)")
	f.IntVar(&p.Fleet.CAs, "cas", 1, "device CAs when minting a fleet (1..100)")
	f.StringVar(&o.keyType, "key-type", string(pki.ECDSAP256), "device key type when minting: ecdsa-p256, ecdsa-p384, rsa-2048, ed25519")
	f.StringVar(&p.Fleet.ProductID, "product-id", loadgen.DefaultProductID, "product the fleet is registered under")
	f.BoolVar(&p.Fleet.SkipPrepare, "skip-prepare", false, "do not register the fleet (it already is)")
	f.IntVar(&p.Fleet.PrepareWorkers, "prepare-workers", 8, "concurrent API calls while registering")

	f.StringVar(&o.mode, "mode", string(result.ModeChurn), "churn (login, CONNACK, disconnect), hold (open and keep logins for --duration), tls-only (baseline server only), storm (hold, outage, reconnect)")
	f.IntVar(&p.Attack.Workers, "workers", 16, "closed loop: concurrent workers; open loop: attempts in flight at most")
	f.Float64Var(&p.Attack.Rate, "rate", 0, "open loop: attempts per second (0 = closed loop); hold: logins started per second during the ramp-up")
	f.IntVar(&p.Attack.Backlog, "backlog", 0, "open loop (churn, tls-only): due attempts that may wait for a worker before being dropped (default --workers)")
	f.DurationVar(&p.Attack.Duration, "duration", 10*time.Second, "measured duration (hold: how long logins are held); 0 with --count")
	f.IntVar(&p.Attack.Count, "count", 0, "measured attempts (0 = by --duration)")
	f.DurationVar(&p.Attack.Warmup, "warmup", 0, "warm-up before the measured window (excluded from the summary; not in hold mode)")
	f.DurationVar(&p.Attack.ConnectTimeout, "connect-timeout", 10*time.Second, "deadline of one login (TCP + TLS + CONNECT -> CONNACK)")
	f.Uint16Var(&p.Attack.Keepalive, "keepalive", 0, fmt.Sprintf("MQTT keepalive in seconds (default %d; hold: %d)", iotda.DefaultKeepalive, iotda.MaxKeepalive))

	f.StringVar(&o.tlsVersion, "tls", "auto", "TLS version: 1.2, 1.3 or auto")
	f.StringVar(&o.kex, "kex", string(loadgen.KexHybrid), "key exchange: hybrid (X25519MLKEM768, Go's default), x25519, p256")
	f.StringVar(&p.Attack.VerifyServer, "verify-server", loadgen.VerifyCached, "server chain check: cached (crypto/x509 once per server certificate; CertificateVerify on every handshake) or full (every handshake)")
	f.BoolVar(&p.Attack.Resumption, "resume", false, "TLS session resumption (one session cache per device)")
	f.StringVar(&o.mqtt, "mqtt", iotda.MQTT311.String(), "MQTT version: 3.1.1 or 5")
	f.Float64Var(&p.Bad.Share, "bad-share", 0, "share of devices presenting a bad identity (0..1), which the server must refuse")
	f.Float64Var(&p.MaxErrorShare, "max-error-share", loadgen.DefaultMaxErrorShare, "fail the run (exit 2) when more than this share (0..1) of a server's attempts end unexpectedly: errors, drops, good identities refused, bad ones let in")
	f.StringVar(&o.badKinds, "bad-kinds", "", "bad identities to rotate: fingerprint_mismatch,unregistered,unknown_ca (default all)")

	f.StringVar(&p.RunID, "run-id", "", "run ID shared by the shards of one run (default: generated)")
	f.StringVar(&o.shard, "shard", "", "run one shard i/n of the fleet (devices with index % n == i)")
	f.BoolVar(&p.Baseline, "baseline", false, "also run against a bare crypto/tls server and report the server CPU ratio")
	f.StringVar(&o.compare, "compare", "", "comparison servers measured next to the platform, each pinned like it: baseline (bare crypto/tls handshake), baseline-mqtt (handshake + CONNECT/CONNACK), mosquitto (Debian's broker, same client CAs)")
	f.IntVar(&p.Rounds, "rounds", 1, "measure the platform and the comparison servers in this many interleaved rounds; ratios are taken per round and summarised by median and spread")
	f.IntVar(&o.serverPID, "server-pid", 0, "PID of a local platform process, for its CPU (default: the child platform, else the target's metrics endpoint)")
	f.StringVar(&p.MetricsAddr, "metrics-addr", "", "serve the generator's Prometheus metrics on this address (e.g. :9465)")
	f.StringVar(&p.OutDir, "out", "loadgen-out", "output directory: results JSONL and summary.json")
	f.StringVar(&p.HTMLPath, "html", "", "also render the HTML report to this file")
	f.BoolVar(&o.noProgress, "no-progress", false, "no progress line on stderr")
	f.StringVar(&o.closeMode, "close", "fin", "how a churned (MQTT 3.1.1) or tls-only login's TCP connection ends once the server confirmed it: fin, or reset (SO_LINGER 0: no TIME_WAIT on the generator, whose ephemeral ports would otherwise run out near 470 logins/s per source address against a remote server that closes after it)")
	f.BoolVar(&p.Pin, "pin", false, "pin the generator to the upper half of this machine's CPUs and the server children it starts (platform, baseline) to the lower half")
	f.IntVar(&p.Procs, "procs", 0, "generator GOMAXPROCS (default $GOMAXPROCS, else half the CPUs when the server under test runs on this machine, else all)")
	f.StringVar(&p.CPUProfile, "cpuprofile", "", "write the generator's CPU profile of the attacks to this file")

	f.StringVar(&o.outage, "outage", string(loadgen.OutageClientDrop), "storm: client-drop (every device resets its connection at once; any target), restart or kill (SIGTERM / SIGKILL to the child platform, started again after --down)")
	f.DurationVar(&p.Storm.Down, "down", loadgen.DefaultStormDown, "storm, restart or kill: how long the platform stays down (from the signal to the new start)")
	f.StringVar(&o.stormAt, "storm-at", "", "storm: the outage's wall-clock instant (RFC 3339, e.g. 2026-12-05T10:00:00Z, or Unix seconds), shared by the shards of a run (default: --settle after the ramp)")
	f.DurationVar(&p.Storm.Settle, "settle", loadgen.DefaultStormSettle, "storm: how long every device holds its session before the outage (without --storm-at)")
	f.DurationVar(&p.Storm.Deadline, "storm-deadline", loadgen.DefaultStormDeadline, "storm: how long after the outage devices may take to come back")
	f.StringVar(&o.policy, "policy", loadgen.PolicyFullJitter, "storm: reconnect policy: immediate, fixed, full-jitter, equal-jitter, decorrelated, huawei (C device SDK), huawei-python")
	f.DurationVar(&o.backoffBase, "backoff-base", loadgen.DefaultBackoffBase, "storm: the backoff's base (fixed: its delay)")
	f.DurationVar(&o.backoffCap, "backoff-cap", loadgen.DefaultBackoffCap, "storm: the backoff's cap")
	f.Uint64Var(&p.Storm.Seed, "seed", 0, "storm: seed of the devices' jitter (default: random, recorded in the results)")
	f.DurationVar(&o.capacityProbe, "capacity-probe", loadgen.DefaultCapacityProbe, "storm: how long the steady login capacity is measured before the ramp (0 = not measured: no herd factor)")
	f.StringVar(&o.flood, "flood", "", "a handshake flood while the devices log in: unauthenticated TLS 1.3 handshakes per second (2000), or a multiple of the platform's login capacity measured first (2x); the devices log in alone first, then under the flood")
	f.StringVar(&o.floodKind, "flood-kind", string(loadgen.FloodMixed), "flood: what the flood's peers present: unknown-ca (a certificate of a CA the platform does not know), no-cert, mixed (both in turn)")
	f.IntVar(&p.Flood.Conns, "flood-conns", loadgen.DefaultFloodConns, "flood: handshakes in flight at most; one due beyond it is recorded as dropped")
	f.DurationVar(&p.Flood.Timeout, "flood-timeout", 0, "flood: deadline of one flood handshake (default --connect-timeout)")
	f.Float64Var(&p.Flood.MinKept, "flood-min-kept", loadgen.DefaultFloodMinKept, "flood: fail the run (exit 2) when the devices keep less than this share (0..1) of their unflooded login rate under the flood")
	f.StringArrayVar(&o.platformFlags, "platform-flag", nil, "a flag for the child platform, e.g. --platform-flag=--max-handshakes=16 (repeatable)")
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
			return host.BaselineMain(cmd.Context(), args, os.Stdin, cmd.OutOrStdout())
		},
	}
}

// runLoadgen parses the flags that need it into the plan and executes it.
func runLoadgen(ctx context.Context, cmd *cobra.Command, o loadgenOptions) error {
	p := o.plan
	var err error
	if p.Attack.Mode, err = result.ParseMode(o.mode); err != nil {
		return err
	}
	if p.Shard, err = result.ParseShard(o.shard); err != nil {
		return err
	}
	if o.compare != "" {
		p.Compare = strings.Split(o.compare, ",")
	}
	if o.badKinds != "" { // else nil: the default kinds (for a broker target, unknown_ca only)
		if p.Bad.Kinds, err = result.ParseBadKinds(o.badKinds); err != nil {
			return err
		}
	}
	mqttVersion, err := iotda.ParseMQTTVersion(o.mqtt)
	if err != nil {
		return fmt.Errorf("--mqtt %q: %w", o.mqtt, err)
	}
	p.Attack.MQTTVersion = int(mqttVersion)
	if p.Attack.CloseReset, err = parseCloseMode(o.closeMode); err != nil {
		return err
	}
	if err := refuseUnhonouredFlags(cmd, p.Attack.Mode); err != nil {
		return err
	}
	if p.Attack.Count > 0 && !cmd.Flags().Changed("duration") {
		p.Attack.Duration = 0 // --count alone ends the run
	}
	// The platform under test: --target, else --in-process, else a child.
	p.Server = host.ServerSpec{TargetFile: o.target, PID: o.serverPID, Child: &host.PlatformOptions{}, NoPreflight: o.noPreflight}
	if o.inProcess {
		p.Server.InProcess = startEmbedded
	}
	if len(o.platformFlags) > 0 {
		if o.target != "" || o.inProcess {
			return fmt.Errorf("--platform-flag goes to the child platform loadgen starts; it does not go with --target or --in-process")
		}
		exe, err := os.Executable()
		if err != nil {
			return err
		}
		p.Server.Child.Command = append([]string{exe, "platform"}, o.platformFlags...)
	}
	if err := stormFlags(cmd, o, &p); err != nil {
		return err
	}
	if err := floodFlags(cmd, o, &p); err != nil {
		return err
	}
	p.Fleet.KeyType = pki.KeyType(o.keyType)
	p.Attack.TLSVersion, p.Attack.KeyExchange = normTLS(o.tlsVersion), loadgen.KeyExchange(o.kex)
	p.Progress = !o.noProgress
	p.Stdout, p.Log = cmd.OutOrStdout(), cmd.ErrOrStderr()
	_, err = loadgen.Execute(ctx, p)
	if ve, ok := errors.AsType[*loadgen.VerdictError](err); ok {
		fmt.Fprintln(cmd.ErrOrStderr(), "certlab:", ve)
		return exitError{code: exitLoadgenFailed}
	}
	return err
}

// parseCloseMode parses --close: fin, or reset (AttackConfig.CloseReset).
func parseCloseMode(s string) (reset bool, err error) {
	switch s {
	case "fin":
		return false, nil
	case "reset":
		return true, nil
	}
	return false, fmt.Errorf("--close %q: want fin or reset", s)
}

func normTLS(s string) string {
	if s == "auto" {
		return ""
	}
	return s
}

// stormFlags parses the storm flags into the plan, and refuses them
// outside storm mode, and the flags storm mode cannot honour in it.
func stormFlags(cmd *cobra.Command, o loadgenOptions, p *loadgen.Plan) error {
	stormOnly := []string{"outage", "down", "storm-at", "settle", "storm-deadline", "policy", "backoff-base", "backoff-cap", "seed", "capacity-probe"}
	if p.Attack.Mode != result.ModeStorm {
		for _, name := range stormOnly {
			if cmd.Flags().Changed(name) {
				return fmt.Errorf("--%s is a storm setting: it goes with --mode storm", name)
			}
		}
		return nil
	}
	for _, name := range []string{"duration", "count", "rate", "warmup", "backlog", "close", "bad-share", "bad-kinds", "baseline", "max-error-share"} {
		if cmd.Flags().Changed(name) {
			return fmt.Errorf("--%s does not go with --mode storm (a storm holds every device and ends when all are back or at --storm-deadline)", name)
		}
	}
	var err error
	if p.Storm.Outage, err = loadgen.ParseOutage(o.outage); err != nil {
		return err
	}
	if p.Storm.Policy, err = loadgen.ParsePolicy(o.policy, o.backoffBase, o.backoffCap,
		cmd.Flags().Changed("backoff-base"), cmd.Flags().Changed("backoff-cap")); err != nil {
		return err
	}
	if o.stormAt != "" {
		if p.Storm.At, err = parseInstant(o.stormAt); err != nil {
			return fmt.Errorf("--storm-at %q: %w", o.stormAt, err)
		}
	}
	p.Storm.CapacityProbe = o.capacityProbe
	if o.capacityProbe <= 0 {
		p.Storm.CapacityProbe = -1 // not measured
	}
	p.Attack.Duration = 0
	return nil
}

// floodFlags parses the flood flags into the plan, and refuses them
// without --flood (the plan refuses what a flood run cannot honour).
func floodFlags(cmd *cobra.Command, o loadgenOptions, p *loadgen.Plan) error {
	if o.flood == "" {
		for _, name := range []string{"flood-kind", "flood-conns", "flood-timeout", "flood-min-kept"} {
			if cmd.Flags().Changed(name) {
				return fmt.Errorf("--%s is a flood setting: it goes with --flood RATE or --flood Nx", name)
			}
		}
		return nil
	}
	var err error
	if p.Flood.Rate, err = loadgen.ParseFloodRate(o.flood); err != nil {
		return err
	}
	if p.Flood.Kind, err = loadgen.ParseFloodKind(o.floodKind); err != nil {
		return err
	}
	if p.Flood.Conns <= 0 {
		return fmt.Errorf("--flood-conns %d: want at least 1", p.Flood.Conns)
	}
	if p.Flood.MinKept < 0 || p.Flood.MinKept > 1 {
		return fmt.Errorf("--flood-min-kept %g: want 0..1", p.Flood.MinKept)
	}
	if p.Flood.MinKept == 0 {
		p.Flood.MinKept = -1 // 0: not judged
	}
	return nil
}

// parseInstant reads an RFC 3339 time or Unix seconds.
func parseInstant(s string) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	if sec, err := strconv.ParseInt(s, 10, 64); err == nil {
		return time.Unix(sec, 0), nil
	}
	return time.Time{}, fmt.Errorf("want an RFC 3339 time (2026-12-05T10:00:00Z) or Unix seconds")
}
