package loadgen

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strings"
	"testing"
	"time"

	"github.com/certlab/certlab/iotda"
	"github.com/certlab/certlab/loadgen/host"
	"github.com/certlab/certlab/loadgen/result"
	"github.com/certlab/certlab/platform/platformtest"
	"github.com/certlab/certlab/reports"
	"github.com/certlab/certlab/sim/pki"
)

// TestExecute carries out a whole plan against a platform started through
// a Launcher (as cmd/ starts the in-process one): the fleet is minted and
// registered, the attack runs, and the files it reports are the ones on disk.
func TestExecute(t *testing.T) {
	if testing.Short() {
		t.Skip("mints a fleet and runs a load against a platform")
	}
	procs, gc := runtime.GOMAXPROCS(0), debug.SetGCPercent(100)
	defer func() { runtime.GOMAXPROCS(procs); debug.SetGCPercent(gc) }()
	p := platformtest.Start(t)
	launched := 0
	launch := func(context.Context) (*iotda.Target, func() error, error) {
		launched++
		return p.Target(), func() error { return nil }, nil
	}
	out := t.TempDir()
	var stdout, log bytes.Buffer
	o, err := Execute(t.Context(), Plan{
		Server: host.ServerSpec{InProcess: launch},
		Fleet:  FleetPlan{Dir: filepath.Join(out, "fleet"), Devices: 30, CAs: 2, KeyType: pki.ECDSAP256},
		Attack: AttackConfig{Mode: result.ModeChurn, Workers: 4, Count: 60, KeyExchange: KexX25519, ConnectTimeout: 10 * time.Second},
		Bad:    BadPlan{Share: 0.2},
		RunID:  "execute-test", OutDir: out, HTMLPath: filepath.Join(out, "r.html"),
		Stdout: &stdout, Log: &log,
	})
	if err != nil {
		t.Fatalf("Execute: %v\n%s", err, log.String())
	}
	if launched != 1 {
		t.Errorf("launcher called %d times", launched)
	}
	if !strings.Contains(log.String(), "minting 30 ecdsa-p256 devices over 2 CAs") || !strings.Contains(log.String(), "30 registered") {
		t.Errorf("log:\n%s", log.String())
	}
	ps := o.Summary.Server(result.ServerPlatform)
	if ps == nil || ps.Attempts != 60 || ps.Unexpected != 0 || ps.Refused != 12 || ps.ServerCPU != nil {
		t.Fatalf("platform summary %+v: want 60 attempts, 12 refused (a fifth bad), none unexpected, no server CPU", ps)
	}
	saved, err := reports.Load(o.ResultsPath)
	if err != nil {
		t.Fatal(err)
	}
	if got := saved.Server(result.ServerPlatform); got.Success != ps.Success || saved.Runs[0].ID != "execute-test" {
		t.Errorf("results file: %d successes, run %q; summary says %d", got.Success, saved.Runs[0].ID, ps.Success)
	}
	for _, f := range []string{o.SummaryPath, o.HTMLPath} {
		if st, err := os.Stat(f); err != nil || st.Size() == 0 {
			t.Errorf("%s not written: %v", f, err)
		}
		if !strings.Contains(stdout.String(), f) {
			t.Errorf("stdout does not name %s:\n%s", f, stdout.String())
		}
	}
}

// TestExecuteRefusesPlans: a plan that cannot run is an error before
// anything starts.
func TestExecuteRefusesPlans(t *testing.T) {
	launch := func(context.Context) (*iotda.Target, func() error, error) {
		t.Fatal("the platform was started")
		return nil, nil, nil
	}
	for name, p := range map[string]Plan{
		"bad share":      {Server: host.ServerSpec{InProcess: launch}, Bad: BadPlan{Share: 2}, OutDir: t.TempDir()},
		"pin in process": {Server: host.ServerSpec{InProcess: launch}, Pin: true, OutDir: t.TempDir()},
		"pin target":     {Server: host.ServerSpec{TargetFile: "t.json"}, Pin: true, OutDir: t.TempDir()},
		"no out":         {Server: host.ServerSpec{InProcess: launch}},
	} {
		if _, err := Execute(t.Context(), p); err == nil {
			t.Errorf("%s: want an error", name)
		}
	}
}
