package main

import (
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"strings"
	"testing"

	"github.com/certlab/certlab/loadgen"
	"github.com/certlab/certlab/loadgen/result"
	"github.com/certlab/certlab/platform/platformtest"
)

// deadPort returns a loopback address where nothing listens: dials to it
// are refused.
func deadPort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	_ = l.Close()
	return addr
}

// TestLoadgenDeadMQTTPort: a target whose MQTT port refuses connections
// ends the run at once with one line naming the endpoint, after the first
// DefaultUnreachableAfter dials, instead of dialling it for the whole
// duration and exiting 0.
func TestLoadgenDeadMQTTPort(t *testing.T) {
	keepRuntime(t)
	dir := t.TempDir()
	addr := deadPort(t)
	target := filepath.Join(dir, "dead.json")
	// A full IoTDA-style target; --no-preflight and --skip-prepare leave
	// its API alone, so only the MQTT endpoint is ever dialled.
	writeTargetFile(t, target, fmt.Sprintf(`{"name":"dead","api_endpoint":"https://127.0.0.1:1","mqtt_endpoint":%q,"project_id":"p","access_key":"a","secret_key":"s"}`, addr))
	out := filepath.Join(dir, "out")
	mustRunCLI(t, "pki", "fleet-ca", "--fleet", filepath.Join(dir, "fleet"), "--devices", "4", "--out", filepath.Join(dir, "ca.pem"))
	_, stderr, err := runCLI(t, "loadgen", "--target", target, "--no-preflight", "--skip-prepare", "--devices", "4",
		"--fleet", filepath.Join(dir, "fleet"), "--duration", "30s", "--workers", "4", "--no-progress", "--out", out)
	want := fmt.Sprintf("loadgen: MQTT endpoint %s refuses connections (%d consecutive refused dials, no login succeeded): is the broker running?",
		addr, loadgen.DefaultUnreachableAfter)
	if err == nil || err.Error() != want {
		t.Fatalf("err = %v\nwant %s\nstderr:\n%s", err, want, stderr)
	}
	if errors.As(err, new(exitError)) {
		t.Errorf("exit status %v, want 1 (the run could not be made)", err)
	}
	// The attack stopped at the dial that tripped the guard: the results
	// hold exactly those dials, not a storm.
	s := loadSummary(t, out)
	if ps := s.Server(result.ServerPlatform); ps == nil || ps.Attempts != int64(loadgen.DefaultUnreachableAfter) || ps.Errors != ps.Attempts {
		t.Errorf("platform summary %+v: want %d refused dials recorded", ps, loadgen.DefaultUnreachableAfter)
	}
}

// TestLoadgenExitStatus: a run that measured but failed exits 2 with one
// line saying why: no login succeeded, or more than --max-error-share of
// the attempts ended unexpectedly. A run within the share exits 0.
func TestLoadgenExitStatus(t *testing.T) {
	if testing.Short() {
		t.Skip("mints a fleet and runs four small loads")
	}
	keepRuntime(t)
	p := platformtest.Start(t)
	dir := t.TempDir()
	fleetDir := filepath.Join(dir, "fleet")
	base := []string{"loadgen", "--fleet", fleetDir, "--devices", "20", "--workers", "4", "--kex", "x25519", "--no-progress"}
	run := func(args ...string) (string, error) {
		t.Helper()
		_, stderr, err := runCLI(t, append(append(append([]string{}, base...), "--out", t.TempDir()), args...)...)
		return stderr, err
	}

	// Register the even half of the fleet (shard 0/2, which also logs it in).
	if stderr, err := run("--target", p.TargetPath(), "--shard", "0/2", "--count", "10"); err != nil {
		t.Fatalf("registering half the fleet: %v\n%s", err, stderr)
	}
	t.Run("nothing registered: no login succeeded", func(t *testing.T) {
		// The in-process platform knows neither the fleet's CA nor its devices.
		stderr, err := run("--in-process", "--skip-prepare", "--count", "20")
		requireExit(t, err, exitLoadgenFailed)
		if want := "certlab: loadgen: the run failed: platform: no login succeeded in 20 attempts (mostly refused tls"; !strings.Contains(stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, stderr)
		}
	})
	t.Run("half the devices unknown: error share 50%", func(t *testing.T) {
		stderr, err := run("--target", p.TargetPath(), "--skip-prepare", "--count", "40")
		requireExit(t, err, exitLoadgenFailed)
		if want := "platform: 20 of 40 attempts (50.0%) ended unexpectedly, more than --max-error-share 0.05 (mostly refused connect"; !strings.Contains(stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, stderr)
		}
	})
	t.Run("within --max-error-share: exit 0", func(t *testing.T) {
		if stderr, err := run("--target", p.TargetPath(), "--skip-prepare", "--count", "40", "--max-error-share", "0.5"); err != nil {
			t.Fatalf("err = %v, want a pass at 50%% unexpected with --max-error-share 0.5\n%s", err, stderr)
		}
	})
}

// TestLoadgenHoldRate: --mode hold --rate paces the ramp-up, and the run
// header says so (it used to be ignored).
func TestLoadgenHoldRate(t *testing.T) {
	if testing.Short() {
		t.Skip("mints a fleet and holds its logins")
	}
	keepRuntime(t)
	out := t.TempDir()
	if _, stderr, err := runCLI(t, "loadgen", "--in-process", "--mode", "hold", "--rate", "200", "--devices", "8", "--duration", "0s",
		"--workers", "4", "--kex", "x25519", "--no-progress", "--out", out); err != nil {
		t.Fatalf("loadgen: %v\n%s", err, stderr)
	}
	s := loadSummary(t, out)
	if r := s.Runs[0]; r.Mode != result.ModeHold || r.Loop != "open" || r.Rate != 200 {
		t.Errorf("run header mode %s, loop %q, rate %g; want hold paced at 200/s", r.Mode, r.Loop, r.Rate)
	}
	if ps := s.Server(result.ServerPlatform); ps == nil || ps.Success != 8 || ps.Held != 8 {
		t.Errorf("platform summary %+v: want 8 held logins", ps)
	}
}
