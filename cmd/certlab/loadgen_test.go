package main

import (
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"runtime/debug"
	"strings"
	"testing"

	"github.com/certlab/certlab/loadgen/host"
	"github.com/certlab/certlab/loadgen/result"
	"github.com/certlab/certlab/platform"
	"github.com/certlab/certlab/platform/platformtest"
	"github.com/certlab/certlab/reports"
)

// cliChildEnv makes the test binary act as the certlab binary (main), so
// that the children `certlab loadgen` starts — `certlab platform` and
// `certlab loadgen baseline-server`, run as os.Executable() — are real.
const cliChildEnv = "CERTLAB_CMD_TEST_CLI_CHILD"

func TestMain(m *testing.M) {
	if os.Getenv(cliChildEnv) == "1" {
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// keepRuntime restores the GOMAXPROCS and GOGC that a loadgen run in this
// process tunes for itself, so the tests after it run as before.
func keepRuntime(t *testing.T) {
	t.Helper()
	procs, gc := runtime.GOMAXPROCS(0), debug.SetGCPercent(100)
	debug.SetGCPercent(gc)
	t.Cleanup(func() {
		runtime.GOMAXPROCS(procs)
		debug.SetGCPercent(gc)
	})
}

// loadSummary reads the summary.json a loadgen run wrote into dir.
func loadSummary(t *testing.T, dir string) *result.Summary {
	t.Helper()
	s, err := reports.Load(filepath.Join(dir, "summary.json"))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestLoadgen runs `certlab loadgen` the three ways it reaches a platform
// (a child platform process, the platform in this process, a target file)
// with a small fleet and a tenth of bad identities, and checks the outputs
// and what each way measures of the server's CPU.
func TestLoadgen(t *testing.T) {
	if testing.Short() {
		t.Skip("mints a fleet and runs three small loads")
	}
	keepRuntime(t)
	t.Setenv(cliChildEnv, "1") // the platform child is this test binary
	t.Setenv("GORACE", "atexit_sleep_ms=0")
	fleetDir := t.TempDir()
	embedded := platformtest.Start(t, platformtest.WithMetrics())
	for _, tc := range []struct {
		name      string
		args      []string
		wantLog   string
		wantCPUOf string // prefix of the server CPU source; "" = not measured
	}{
		{"child platform", nil, "starting the reference platform as a child process", "pid:"},
		{"in process", []string{"--in-process"}, "platform in this process", ""},
		{"target file", []string{"--target", embedded.TargetPath()}, "registering 40 devices", "metrics:"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := t.TempDir()
			html := filepath.Join(out, "report.html")
			args := append([]string{"loadgen", "--fleet", fleetDir, "--devices", "40", "--count", "80", "--workers", "4",
				"--bad-share", "0.1", "--kex", "x25519", "--no-progress", "--out", out, "--html", html}, tc.args...)
			stdout, stderr, err := runCLI(t, args...)
			if err != nil {
				t.Fatalf("loadgen: %v\nstdout:\n%s\nstderr:\n%s", err, stdout, stderr)
			}
			if !strings.Contains(stderr, tc.wantLog) {
				t.Errorf("stderr lacks %q:\n%s", tc.wantLog, stderr)
			}
			for _, want := range []string{"PLATFORM", "results  " + filepath.Join(out, "results.jsonl"), "report   " + html} {
				if !strings.Contains(stdout, want) {
					t.Errorf("stdout lacks %q:\n%s", want, stdout)
				}
			}
			s := loadSummary(t, out)
			ps := s.Server(result.ServerPlatform)
			if ps == nil || ps.Attempts != 80 || ps.Unexpected != 0 || ps.Success == 0 || ps.Refused == 0 {
				t.Fatalf("platform summary %+v: want 80 attempts, successes and refusals, none unexpected", ps)
			}
			switch {
			case tc.wantCPUOf == "" && ps.ServerCPU != nil:
				t.Errorf("server CPU measured from %s; want none for a platform in this process", ps.ServerCPU.Source)
			case tc.wantCPUOf != "" && (ps.ServerCPU == nil || !strings.HasPrefix(ps.ServerCPU.Source, tc.wantCPUOf)):
				t.Errorf("server CPU %+v (%s), want a source %s…", ps.ServerCPU, ps.ServerCPUNote, tc.wantCPUOf)
			}
			if st, err := os.Stat(html); err != nil || st.Size() == 0 {
				t.Errorf("HTML report not written: %v", err)
			}
		})
	}
}

// TestLoadgenTLSOnly runs the baseline server child alone (tls-only mode:
// no platform), sharded, so the files are named after the shard.
func TestLoadgenTLSOnly(t *testing.T) {
	if testing.Short() {
		t.Skip("mints a fleet and starts the baseline child")
	}
	keepRuntime(t)
	t.Setenv(cliChildEnv, "1")
	t.Setenv("GORACE", "atexit_sleep_ms=0")
	out := t.TempDir()
	stdout, stderr, err := runCLI(t, "loadgen", "--mode", "tls-only", "--devices", "20", "--count", "30", "--workers", "2",
		"--shard", "1/2", "--run-id", "r1", "--no-progress", "--out", out)
	if err != nil {
		t.Fatalf("loadgen: %v\nstdout:\n%s\nstderr:\n%s", err, stdout, stderr)
	}
	if strings.Contains(stderr, "platform") {
		t.Errorf("tls-only started or registered on a platform:\n%s", stderr)
	}
	s, err := reports.Load(filepath.Join(out, "summary-1-of-2.json"))
	if err != nil {
		t.Fatal(err)
	}
	bs := s.Server(result.ServerBaseline)
	if s.Server(result.ServerPlatform) != nil || bs == nil || bs.Success != 30 || bs.ServerCPU == nil {
		t.Fatalf("summary servers %+v: want the baseline alone, 30 logins, its CPU measured", s.Servers)
	}
	if r := s.Runs[0]; r.ID != "r1" || r.Shard != (result.Shard{Index: 1, Count: 2}) {
		t.Errorf("run header %+v: want run r1, shard 1/2", r)
	}
	if _, err := os.Stat(filepath.Join(out, "results-1-of-2.jsonl")); err != nil {
		t.Error(err)
	}
}

// TestLoadgenRefusesBadFlags: each flag a run cannot honour is an error
// that names it, before anything is minted or started: bad values, and
// every flag x mode combination the run would otherwise ignore.
func TestLoadgenRefusesBadFlags(t *testing.T) {
	out := t.TempDir()
	// A target with a REST API, and an MQTT broker without one; neither is
	// contacted: the flags are refused first.
	api := filepath.Join(out, "api.json")
	writeTargetFile(t, api, `{"name":"api","api_endpoint":"https://127.0.0.1:1","mqtt_endpoint":"127.0.0.1:1","project_id":"p","access_key":"a","secret_key":"s"}`)
	broker := filepath.Join(out, "broker.json")
	writeTargetFile(t, broker, `{"name":"broker","mqtt_endpoint":"127.0.0.1:1","client_id_template":"{cn}"}`)
	for _, tc := range []struct {
		args []string
		want string
	}{
		// Bad values.
		{[]string{"--mode", "flood"}, `mode "flood"`},
		// A storm holds every device and reconnects it by a policy.
		{[]string{"--mode", "storm", "--duration", "5s"}, "--duration does not go with --mode storm"},
		{[]string{"--mode", "storm", "--bad-share", "0.1"}, "--bad-share does not go with --mode storm"},
		{[]string{"--mode", "storm", "--max-error-share", "0.1"}, "--max-error-share does not go with --mode storm"},
		{[]string{"--mode", "storm", "--outage", "blip"}, `--outage "blip"`},
		{[]string{"--mode", "storm", "--outage", "kill", "--target", api}, "--outage kill stops and starts the platform"},
		{[]string{"--mode", "storm", "--outage", "restart", "--in-process"}, "--outage restart stops and starts the platform"},
		{[]string{"--mode", "storm", "--policy", "huawei", "--backoff-base", "2s"}, "takes no --backoff-base"},
		{[]string{"--mode", "storm", "--policy", "exponential"}, `--policy "exponential"`},
		{[]string{"--mode", "storm", "--storm-at", "tomorrow"}, `--storm-at "tomorrow"`},
		{[]string{"--settle", "1s"}, "--settle is a storm setting"},
		{[]string{"--policy", "immediate"}, "--policy is a storm setting"},
		{[]string{"--platform-flag=--max-handshakes=4", "--target", api}, "--platform-flag"},
		{[]string{"--shard", "3/2"}, `shard "3/2"`},
		{[]string{"--bad-kinds", "nonsense", "--bad-share", "0.1"}, `unknown kind "nonsense"`},
		{[]string{"--mqtt", "3"}, `--mqtt "3"`},
		{[]string{"--close", "rst"}, `--close "rst"`},
		{[]string{"--bad-share", "1.5"}, "--bad-share 1.5"},
		{[]string{"--max-error-share", "2"}, "--max-error-share 2"},
		{[]string{"--max-error-share", "-0.1"}, "--max-error-share -0.1"},
		// The login benchmark: known comparison servers, rounds with something to interleave.
		{[]string{"--compare", "nginx"}, `--compare "nginx"`},
		{[]string{"--rounds", "3"}, "--rounds"},
		{[]string{"--rounds", "101", "--baseline"}, "--rounds 101"},
		{[]string{"--mode", "tls-only", "--compare", "baseline-mqtt"}, "--compare"},
		// Where the platform under test comes from.
		{[]string{"--pin", "--target", api}, "--pin"},
		{[]string{"--pin", "--in-process"}, "--pin"},
		{[]string{"--in-process", "--target", api}, "--in-process"},
		{[]string{"--no-preflight"}, "--no-preflight"},
		// tls-only attacks the baseline alone, without MQTT.
		{[]string{"--mode", "tls-only", "--target", api}, "--target"},
		{[]string{"--mode", "tls-only", "--in-process"}, "--in-process"},
		{[]string{"--mode", "tls-only", "--server-pid", "1"}, "--server-pid"},
		{[]string{"--mode", "tls-only", "--skip-prepare"}, "--skip-prepare"},
		{[]string{"--mode", "tls-only", "--prepare-workers", "2"}, "--prepare-workers"},
		{[]string{"--mode", "tls-only", "--product-id", "p"}, "--product-id"},
		{[]string{"--mode", "tls-only", "--mqtt", "5"}, "--mqtt"},
		{[]string{"--mode", "tls-only", "--mqtt", "3.1.1"}, "--mqtt"},
		{[]string{"--mode", "tls-only", "--keepalive", "60"}, "--keepalive"},
		// hold logs in once, paced by --rate, and waits for a worker.
		{[]string{"--mode", "hold", "--warmup", "1s"}, "--warmup"},
		{[]string{"--mode", "hold", "--rate", "10", "--backlog", "5"}, "--backlog"},
		{[]string{"--mode", "hold", "--close", "reset"}, "--close reset"},
		// A closed loop has no backlog; MQTT 5 logins end through paho.
		{[]string{"--backlog", "5"}, "--backlog"},
		{[]string{"--mqtt", "5", "--close", "reset"}, "--close reset"},
		// Nothing to register, or no bad identity.
		{[]string{"--skip-prepare", "--prepare-workers", "2"}, "--prepare-workers"},
		{[]string{"--bad-kinds", "unknown_ca"}, "--bad-kinds"},
		// --skip-prepare: a fleet this run would mint is known to no server.
		{[]string{"--skip-prepare"}, "--skip-prepare: " + filepath.Join(out, "none") + " holds no fleet, so this run would mint 1000"},
		// A flood run: the devices' churn before and during the flood, timed.
		{[]string{"--flood", "fast"}, `--flood "fast"`},
		{[]string{"--flood", "0x"}, `--flood "0x"`},
		{[]string{"--flood", "-5"}, `--flood "-5"`},
		{[]string{"--flood", "2x", "--flood-kind", "rsa"}, `--flood-kind "rsa"`},
		{[]string{"--flood", "2x", "--flood-min-kept", "1.5"}, "--flood-min-kept 1.5"},
		{[]string{"--flood", "2x", "--flood-conns", "0"}, "--flood-conns 0"},
		{[]string{"--flood-kind", "no-cert"}, "--flood-kind is a flood setting"},
		{[]string{"--flood-conns", "10"}, "--flood-conns is a flood setting"},
		{[]string{"--flood-timeout", "1s"}, "--flood-timeout is a flood setting"},
		{[]string{"--flood-min-kept", "0.5"}, "--flood-min-kept is a flood setting"},
		{[]string{"--flood", "2x", "--mode", "hold"}, "--flood: a flood run measures the devices' churn logins"},
		{[]string{"--flood", "2x", "--mode", "storm"}, "--flood: a flood run measures the devices' churn logins"},
		{[]string{"--flood", "2x", "--count", "100"}, "--count: a flood run is timed"},
		{[]string{"--flood", "2x", "--rate", "100"}, "--flood Nx multiplies the platform's login capacity"},
		{[]string{"--flood", "2x", "--baseline"}, "--flood: a flood run measures the platform alone"},
		{[]string{"--flood", "2x", "--compare", "baseline"}, "--flood: a flood run measures the platform alone"},
		{[]string{"--flood", "2x", "--shard", "1/2"}, "--shard: a flood run"},
		{[]string{"--flood", "500", "--bad-share", "0.1"}, "--bad-share: in a flood run"},
		// A broker without a REST API.
		{[]string{"--target", broker}, "--skip-prepare"},
		{[]string{"--target", broker, "--skip-prepare", "--bad-share", "0.1", "--bad-kinds", "fingerprint_mismatch"}, "--bad-kinds fingerprint_mismatch"},
	} {
		_, _, err := runCLI(t, append([]string{"loadgen", "--no-progress", "--out", out, "--fleet", filepath.Join(out, "none")}, tc.args...)...)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("loadgen %v: err = %v, want one naming %q", tc.args, err, tc.want)
		}
	}
	if left, _ := os.ReadDir(filepath.Join(out, "none")); len(left) != 0 {
		t.Errorf("a refused run minted a fleet")
	}
}

func writeTargetFile(t *testing.T, path, body string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestLoadgenStorm runs two storms through the CLI against child
// platforms whose handshake bound is 4 (--platform-flag): a restart with
// immediate retry and a client-drop with full jitter; then `certlab report
// --compare` sets them side by side and gates on the storm thresholds.
func TestLoadgenStorm(t *testing.T) {
	if testing.Short() {
		t.Skip("two storms against child platforms")
	}
	keepRuntime(t)
	t.Setenv(cliChildEnv, "1")
	t.Setenv("GORACE", "atexit_sleep_ms=0")
	fleetDir, herdOut, jitterOut := t.TempDir(), t.TempDir(), t.TempDir()
	common := []string{"loadgen", "--mode", "storm", "--fleet", fleetDir, "--devices", "60", "--workers", "4", "--kex", "x25519",
		"--capacity-probe", "300ms", "--settle", "200ms", "--storm-deadline", "1m", "--platform-flag=--max-handshakes=4", "--no-progress"}
	stdout, stderr, err := runCLI(t, append(common, "--outage", "restart", "--down", "300ms", "--policy", "immediate",
		"--out", herdOut, "--html", filepath.Join(herdOut, "storm.html"))...)
	if err != nil {
		t.Fatalf("herd storm: %v\nstdout:\n%s\nstderr:\n%s", err, stdout, stderr)
	}
	for _, want := range []string{"RECONNECT STORM", "restart of the platform", "immediate (no wait)", "60 held at the outage, 60 back, 0 never returned"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("stdout lacks %q:\n%s", want, stdout)
		}
	}
	for _, want := range []string{"storm: outage restart", "storm: platform ready again", "storm: all 60 devices back"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, stderr)
		}
	}
	herd := loadSummary(t, herdOut).Storm
	if herd == nil || herd.Returned != 60 || herd.Refused["closed_before_tls"] == 0 {
		t.Fatalf("herd storm %+v: want 60 back and the bound refusing some of the herd", herd)
	}
	if lc := herd.Shards[0].ServerLogins; lc == nil || !lc.Agree() {
		t.Errorf("platform and generator login counts: %+v", lc)
	}
	stdout, stderr, err = runCLI(t, append(common, "--outage", "client-drop", "--policy", "full-jitter",
		"--backoff-base", "200ms", "--backoff-cap", "2s", "--seed", "7", "--out", jitterOut)...)
	if err != nil {
		t.Fatalf("jitter storm: %v\nstdout:\n%s\nstderr:\n%s", err, stdout, stderr)
	}
	if j := loadSummary(t, jitterOut).Storm; j == nil || j.Returned != 60 || j.Shards[0].Seed != 7 || j.PolicyParams != "base=200ms cap=2s" {
		t.Fatalf("jitter storm %+v", j)
	}

	md, junit := filepath.Join(jitterOut, "r.md"), filepath.Join(jitterOut, "j.xml")
	out := mustRunCLI(t, "report", filepath.Join(jitterOut, "summary.json"), "--compare", filepath.Join(herdOut, "summary.json"),
		"--max-regression", "0", "--max-time-to-99", "1m", "--max-never-returned", "0", "--md", md, "--junit", junit)
	for _, want := range []string{"check time to 99%  pass", "check never returned pass", "policy: immediate (no wait) -> full-jitter"} {
		if !strings.Contains(out, want) {
			t.Errorf("report lacks %q:\n%s", want, out)
		}
	}
	if !regexp.MustCompile(`(?m)^storm +time to 99% `).MatchString(out) {
		t.Errorf("report has no storm row for time to 99%%:\n%s", out)
	}
	if b, err := os.ReadFile(junit); err != nil || !strings.Contains(string(b), `name="never returned (storm)"`) {
		t.Errorf("junit: %v\n%s", err, b)
	}
	// A limit the storm cannot meet fails the report with exit status 1.
	_, _, err = runCLI(t, "report", filepath.Join(jitterOut, "summary.json"), "--max-time-to-99", "1ms")
	requireExit(t, err, 1)
}

// TestChildPlatformTargetFile: loadgen/host waits for the file the platform
// writes when it is ready, under a name it cannot import from platform.
func TestChildPlatformTargetFile(t *testing.T) {
	if host.PlatformTargetFile != platform.TargetFile {
		t.Fatalf("host.PlatformTargetFile = %q, platform.TargetFile = %q", host.PlatformTargetFile, platform.TargetFile)
	}
}

// TestLoadgenFlood runs a small flood run through the CLI against a child
// platform that profiles itself (--platform-flag=--cpuprofile): the flood
// summary and report, the exit status of the kept-share verdict, and the
// profile written at the platform's shutdown.
func TestLoadgenFlood(t *testing.T) {
	if testing.Short() {
		t.Skip("mints a fleet and floods a child platform")
	}
	keepRuntime(t)
	t.Setenv(cliChildEnv, "1") // the platform child is this test binary
	t.Setenv("GORACE", "atexit_sleep_ms=0")
	fleetDir, out := t.TempDir(), t.TempDir()
	prof := filepath.Join(out, "platform.prof")
	html := filepath.Join(out, "report.html")
	args := []string{"loadgen", "--fleet", fleetDir, "--devices", "40", "--duration", "1s", "--workers", "4", "--kex", "x25519",
		"--flood", "150", "--flood-kind", "no-cert", "--no-progress", "--out", out, "--html", html,
		"--platform-flag=--cpuprofile=" + prof}
	// --flood-min-kept 0 judges nothing: a shared machine cannot promise a
	// kept share (TestJudgeFlood tests the verdict).
	stdout, stderr, err := runCLI(t, append(args, "--flood-min-kept", "0")...)
	if err != nil {
		t.Fatalf("loadgen: %v\nstdout:\n%s\nstderr:\n%s", err, stdout, stderr)
	}
	for _, want := range []string{"DEVICES BEFORE THE FLOOD", "DEVICES DURING THE FLOOD", "FLOOD", "no certificate: 150 handshakes/s"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("stdout lacks %q:\n%s", want, stdout)
		}
	}
	s := loadSummary(t, out)
	if s.Flood == nil || s.Flood.Flood == nil || s.Flood.Flood.Attempts == 0 || s.Flood.Flood.Success != 0 || s.Flood.Unflooded == nil {
		t.Fatalf("flood summary: %+v", s.Flood)
	}
	for _, id := range s.Flood.Flood.Identities {
		if id.Identity != result.FloodNoCert {
			t.Errorf("--flood-kind no-cert presented %s", id.Identity)
		}
	}
	if c := s.Flood.ServerLogins; c == nil || !c.Agree() {
		t.Errorf("platform counters: %+v (%s)", c, s.Flood.Note)
	}
	if b, err := os.ReadFile(html); err != nil || !strings.Contains(string(b), `data-part="flood"`) {
		t.Errorf("HTML report without the flood part: %v", err)
	}
	// The profile: written when loadgen stopped the platform (SIGTERM), gzip'd protobuf.
	b, err := os.ReadFile(prof)
	if err != nil || len(b) < 2 || b[0] != 0x1f || b[1] != 0x8b {
		t.Errorf("platform CPU profile %s: %v (%d bytes), want a gzip'd pprof profile", prof, err, len(b))
	}
}
