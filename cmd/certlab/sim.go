package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/certlab/certlab/iotda"
	"github.com/certlab/certlab/loadgen/host"
	"github.com/certlab/certlab/sim/fleet"
	"github.com/certlab/certlab/sim/pki"
)

// simFlags are the flags of `certlab sim`.
type simFlags struct {
	devices, cas   int
	keyType        string
	fleetDir       string
	target         string
	noPreflight    bool
	mqtt           string
	rate           float64
	maxHandshakes  int
	duration       time.Duration
	reportInterval time.Duration
	churn          time.Duration
	product        string
	behaviour      string
	concurrency    int
	jsonPath       string
}

func simCmd() *cobra.Command {
	var fl simFlags
	cmd := &cobra.Command{
		Use:   "sim",
		Short: "Mint, register and connect a device fleet; run device behaviours; print a summary",
		Long: `Mint (or reuse) a fleet of device identities, register it on the target
(device CAs uploaded and verified, MQTT product, one CERTIFICATES device per
identity), log every device in over MQTTS at a paced rate and hold the
sessions for --duration while each device runs its behaviour: report
properties, receive messages down, reconnect with backoff after a drop.

Without --target an embedded reference platform runs in this process (its
memory is then included in the memory per device). The fleet is cached under
the user cache directory, keyed by --devices and --cas, so reruns skip minting
and registration is idempotent. Exits 1 if no device connected.`,
		Example: `  certlab sim --devices 1000 --cas 4 --mqtt mix --duration 1m
  certlab sim --target lab/target.json --devices 200 --churn 30s --json sim.json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runSim(cmd.Context(), cmd.OutOrStdout(), fl) },
	}
	f := cmd.Flags()
	f.IntVar(&fl.devices, "devices", 100, "number of devices")
	f.IntVar(&fl.cas, "cas", 1, "number of device CAs the fleet is spread over (1-100)")
	f.StringVar(&fl.keyType, "key-type", string(pki.ECDSAP256), "device key type: ecdsa-p256, ecdsa-p384, rsa-2048, rsa-3072, rsa-4096, ed25519")
	f.StringVar(&fl.fleetDir, "fleet", "", "fleet directory (default: <user cache dir>/certlab/fleet-N-K)")
	f.StringVar(&fl.target, "target", "", "target file (default: start an embedded platform)")
	f.BoolVar(&fl.noPreflight, "no-preflight", false, "skip the target pre-flight (certlab target check)")
	f.StringVar(&fl.mqtt, "mqtt", iotda.MQTT311.String(), "MQTT version: 3.1.1, 5 or mix (alternating)")
	f.Float64Var(&fl.rate, "rate", fleet.DefaultRate, "ramp pace in logins started per second (0: as fast as --max-handshakes allows)")
	f.IntVar(&fl.maxHandshakes, "max-handshakes", fleet.DefaultMaxHandshakes, "logins in flight at once")
	f.DurationVar(&fl.duration, "duration", 30*time.Second, "how long to hold the fleet after the ramp")
	f.DurationVar(&fl.reportInterval, "report-interval", fleet.DefaultReportInterval, "property report period (0: no reports)")
	f.DurationVar(&fl.churn, "churn", 0, "disconnect and reconnect each device about this often (0: never)")
	f.StringVar(&fl.product, "product", "", "product ID (default: certlab-fleet-<fleet id>)")
	f.StringVar(&fl.behaviour, "behaviour", "steady", "device behaviour: "+strings.Join(fleet.BehaviourNames(), ", "))
	f.IntVar(&fl.concurrency, "enrol-concurrency", fleet.DefaultEnrolConcurrency, "device registrations in flight")
	f.StringVar(&fl.jsonPath, "json", "", `write the summary as JSON to this file ("-": stdout)`)
	return cmd
}

func runSim(ctx context.Context, stdout io.Writer, fl simFlags) error {
	versions, err := fleet.ParseMQTTVersions(fl.mqtt)
	if err != nil {
		return err
	}
	behaviour, err := fleet.ParseBehaviour(fl.behaviour)
	if err != nil {
		return err
	}
	dir := fl.fleetDir
	if dir == "" {
		base, err := os.UserCacheDir()
		if err != nil {
			base = os.TempDir()
		}
		dir = filepath.Join(base, "certlab", fmt.Sprintf("fleet-%d-%d", fl.devices, fl.cas))
	}

	status := newStatus(os.Stderr)
	status.printf("fleet: %d devices over %d CAs in %s (minted on first use)", fl.devices, fl.cas, dir)
	start := time.Now()
	f, err := fleet.LoadOrMint(ctx, dir, fleet.Spec{Devices: fl.devices, CAs: fl.cas, KeyType: pki.KeyType(fl.keyType)})
	if err != nil {
		return err
	}
	defer f.Close()
	status.printf("fleet %s ready in %s", f.ID, time.Since(start).Round(time.Millisecond))

	server, err := openServer(ctx, fl.target, fl.noPreflight, "certlab sim (it registers the fleet)")
	if err != nil {
		return err
	}
	defer server.Close()
	target := server.Target
	client, err := target.Client()
	if err != nil {
		return err
	}
	status.printf("target %s: API %s, MQTTS %s", target.Name, target.APIEndpoint, target.MQTTEndpoint)

	bar := status.bar("enrol", f.Len())
	rep, err := fleet.Enrol(ctx, client, f, fleet.EnrolOptions{
		ProductID: fl.product, Concurrency: fl.concurrency,
		OnProgress: func(done, _ int) { bar.set(done, "") },
	})
	bar.finish()
	if err != nil {
		return err
	}
	status.printf("enrolled %d of %d devices (%d new) under product %s in %s",
		rep.Enrolled(), rep.Devices, rep.Registered, rep.ProductID, rep.Elapsed.Round(time.Millisecond))

	rate := fl.rate
	if rate <= 0 {
		rate = -1 // unpaced
	}
	reportInterval := fl.reportInterval
	if reportInterval <= 0 {
		reportInterval = -1 // no reports
	}
	prog := newRunProgress(status, f.Len(), fl.duration)
	sum, runErr := fleet.Run(ctx, target, f, fleet.RunOptions{
		ProductID: rep.ProductID, MQTT: versions, Rate: rate, MaxHandshakes: fl.maxHandshakes,
		Duration: fl.duration, ReportInterval: reportInterval, ChurnInterval: fl.churn,
		Behaviour: func(int) fleet.Behaviour { return behaviour },
		Progress:  prog.update,
	})
	prog.finish()
	sum.Enrol = &rep
	sum.Memory.InProcessPlatform = server.Kind == host.ServerInProcess
	if err := sum.WriteText(stdout); err != nil {
		return err
	}
	if fl.jsonPath != "" {
		if err := writeSummaryJSON(fl.jsonPath, stdout, sum); err != nil {
			return err
		}
	}
	if runErr != nil {
		return runErr
	}
	if sum.Connected == 0 {
		fmt.Fprintln(os.Stderr, "certlab sim: no device connected")
		return exitError{1}
	}
	return nil
}

func writeSummaryJSON(path string, stdout io.Writer, sum fleet.Summary) error {
	if path == "-" {
		return sum.WriteJSON(stdout)
	}
	var b strings.Builder
	if err := sum.WriteJSON(&b); err != nil {
		return err
	}
	if err := pki.WriteFileAtomic(path, []byte(b.String()), 0o644); err != nil {
		return fmt.Errorf("write summary JSON: %w", err)
	}
	return nil
}

// status writes progress to stderr: progress bars on a terminal, plain
// lines at most every plainEvery otherwise (CI logs).
type status struct {
	w        io.Writer
	terminal bool
}

const plainEvery = 2 * time.Second

func newStatus(f *os.File) *status {
	return &status{w: f, terminal: term.IsTerminal(int(f.Fd()))}
}

func (s *status) printf(format string, args ...any) {
	fmt.Fprintf(s.w, "certlab sim: "+format+"\n", args...)
}

// progress is one bar (or its plain-line stand-in).
type progress struct {
	s     *status
	label string
	total int

	mu    sync.Mutex
	bar   *progressbar.ProgressBar
	last  time.Time
	n     int
	extra string
}

func (s *status) bar(label string, total int) *progress {
	p := &progress{s: s, label: label, total: total, last: time.Now()}
	if s.terminal {
		p.bar = progressbar.NewOptions(total, progressbar.OptionSetWriter(s.w), progressbar.OptionSetDescription(label),
			progressbar.OptionShowCount(), progressbar.OptionSetWidth(30), progressbar.OptionThrottle(100*time.Millisecond),
			progressbar.OptionSetPredictTime(false), progressbar.OptionOnCompletion(func() { fmt.Fprintln(s.w) }))
	}
	return p
}

// set moves the bar to n with an optional detail.
func (p *progress) set(n int, detail string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.n, p.extra = n, detail
	if p.bar != nil {
		if detail != "" {
			p.bar.Describe(p.label + " " + detail)
		}
		_ = p.bar.Set(n)
		return
	}
	if time.Since(p.last) >= plainEvery {
		p.last = time.Now()
		p.plain()
	}
}

func (p *progress) plain() {
	line := fmt.Sprintf("%s %d/%d", p.label, p.n, p.total)
	if p.extra != "" {
		line += " " + p.extra
	}
	p.s.printf("%s", line)
}

func (p *progress) finish() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.bar != nil {
		_ = p.bar.Finish()
		return
	}
	p.plain()
}

// runProgress shows the ramp (devices started) then the hold (seconds held).
type runProgress struct {
	s        *status
	devices  int
	duration time.Duration

	mu         sync.Mutex
	ramp, hold *progress
	holdStart  time.Time
}

func newRunProgress(s *status, devices int, duration time.Duration) *runProgress {
	return &runProgress{s: s, devices: devices, duration: duration, ramp: s.bar("ramp", devices)}
}

func (r *runProgress) update(p fleet.Progress) {
	r.mu.Lock()
	defer r.mu.Unlock()
	detail := fmt.Sprintf("online %d, refused %d, failed %d, drops %d, reconnects %d", p.Online, p.Refused, p.Errors, p.Drops, p.Reconnects)
	switch {
	case p.Phase == "ramp":
		r.ramp.set(p.Started, detail)
	case r.hold == nil:
		r.ramp.set(p.Started, detail)
		r.ramp.finish()
		r.hold = r.s.bar("hold (s)", int(r.duration.Seconds()))
		r.holdStart = time.Now()
		fallthrough
	default:
		r.hold.set(min(int(time.Since(r.holdStart).Seconds()), r.hold.total), detail)
	}
}

func (r *runProgress) finish() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.hold == nil {
		r.ramp.finish()
		return
	}
	r.hold.mu.Lock()
	r.hold.n = r.hold.total
	r.hold.mu.Unlock()
	r.hold.finish()
}
