package host

import (
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"runtime/debug"
	"strings"
	"testing"
)

// reexecChildEnv makes the test binary run ReexecForLoad as certlab's main
// does, then print what the process ended up with, one "key=value" a line.
const reexecChildEnv = "CERTLAB_LOADGEN_TEST_REEXEC"

func reexecChildMain() {
	if err := ReexecForLoad(os.Args); err != nil {
		fmt.Println("error=" + err.Error())
	}
	godebug, set := os.LookupEnv("GODEBUG")
	_, marker := os.LookupEnv(envOrigGODEBUG)
	fmt.Printf("pid=%d\nquiet=%t\ngodebug=%q\ngodebug_set=%t\nmarker=%t\n", os.Getpid(), sysmonQuiet(), godebug, set, marker)
	os.Exit(0)
}

// TestReexecForLoad runs the test binary as a generator would start: it
// must come back with sysmon quiet and the user's GODEBUG restored (so the
// platform and baseline children get the user's settings), keep its PID,
// and leave the runtime alone when told to or when schedtrace is the user's.
func TestReexecForLoad(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name      string
		env       []string
		wantQuiet bool
		wantDebug string // GODEBUG afterwards; "-" = unset
	}{
		{"no GODEBUG", nil, true, "-"},
		{"user GODEBUG kept", []string{"GODEBUG=madvdontneed=1"}, true, "madvdontneed=1"},
		{"empty GODEBUG kept", []string{"GODEBUG="}, true, ""},
		{"opt out", []string{EnvRuntime + "=default"}, false, "-"},
		{"user schedtrace wins", []string{"GODEBUG=schedtrace=60000"}, true, "schedtrace=60000"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cmd := exec.Command(exe, "-test.run=^$")
			// GORACE: a race-enabled child would otherwise sleep 1 s at exit.
			cmd.Env = append(envWithout(os.Environ(), "GODEBUG", EnvRuntime, envOrigGODEBUG), reexecChildEnv+"=1", "GORACE=atexit_sleep_ms=0")
			cmd.Env = append(cmd.Env, tc.env...)
			out, err := cmd.Output()
			if err != nil {
				t.Fatalf("child: %v\n%s", err, out)
			}
			got := map[string]string{}
			for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
				k, v, _ := strings.Cut(l, "=")
				got[k] = v
			}
			if e := got["error"]; e != "" {
				t.Fatalf("ReexecForLoad: %s", e)
			}
			if got["pid"] != fmt.Sprint(cmd.Process.Pid) {
				t.Errorf("pid = %s, want the started process's %d (exec keeps the PID)", got["pid"], cmd.Process.Pid)
			}
			if got["quiet"] != fmt.Sprint(tc.wantQuiet) {
				t.Errorf("sysmon quiet = %s, want %t", got["quiet"], tc.wantQuiet)
			}
			wantSet := tc.wantDebug != "-"
			if got["godebug_set"] != fmt.Sprint(wantSet) || (wantSet && got["godebug"] != fmt.Sprintf("%q", tc.wantDebug)) {
				t.Errorf("GODEBUG afterwards = %s (set %s), want %q (set %t)", got["godebug"], got["godebug_set"], tc.wantDebug, wantSet)
			}
			if got["marker"] != "false" {
				t.Errorf("%s left in the environment for children", envOrigGODEBUG)
			}
		})
	}
}

func envWithout(env []string, keys ...string) []string {
	var out []string
	for _, kv := range env {
		k, _, _ := strings.Cut(kv, "=")
		drop := false
		for _, key := range keys {
			drop = drop || k == key
		}
		if !drop {
			out = append(out, kv)
		}
	}
	return out
}

// TestTuneGCAndProcs checks the generator's runtime settings: a headroom
// GOGC for churn, 400 for hold, GOGC in the environment respected, and
// GOMAXPROCS halved next to a local server unless set.
func TestTuneGCAndProcs(t *testing.T) {
	t.Cleanup(func() { debug.SetGCPercent(100) })
	procs := runtime.GOMAXPROCS(0)
	t.Cleanup(func() { runtime.GOMAXPROCS(procs) })

	t.Setenv("GOGC", "")
	os.Unsetenv("GOGC")
	ballast := make([]byte, 8<<20) // a live heap of at least 8 MiB
	if p := TuneGC(false); p < 400 || p > 5000 {
		t.Errorf("churn GOGC = %d, want 400..5000", p)
	} else if p > gcHeadroom*100/(8<<20) {
		t.Errorf("churn GOGC = %d: more than %d MiB of headroom over an 8 MiB live heap", p, gcHeadroom>>20)
	}
	runtime.KeepAlive(ballast)
	if p := TuneGC(true); p != 400 {
		t.Errorf("hold GOGC = %d, want 400", p)
	}
	t.Setenv("GOGC", "150")
	if p := TuneGC(false); p != 0 {
		t.Errorf("GOGC in the environment: TuneGC set %d, want it left alone", p)
	}

	t.Setenv("GOMAXPROCS", "")
	os.Unsetenv("GOMAXPROCS")
	if got, want := Procs(0, true), max(1, runtime.NumCPU()/2); got != want {
		t.Errorf("local server: GOMAXPROCS = %d, want %d", got, want)
	}
	if got := Procs(3, true); got != 3 {
		t.Errorf("--procs 3: GOMAXPROCS = %d", got)
	}
	if s := RuntimeSettings(); !strings.Contains(s, "GOMAXPROCS=3 GOGC=") {
		t.Errorf("RuntimeSettings = %q", s)
	}
}

// TestRuntimeSettingsGOGC: the header states the collector's setting as set,
// "off" included.
func TestRuntimeSettingsGOGC(t *testing.T) {
	prev := debug.SetGCPercent(250)
	t.Cleanup(func() { debug.SetGCPercent(prev) })
	if s := RuntimeSettings(); !strings.Contains(s, " GOGC=250") {
		t.Errorf("RuntimeSettings = %q, want GOGC=250", s)
	}
	debug.SetGCPercent(-1)
	if s := RuntimeSettings(); !strings.Contains(s, " GOGC=off") {
		t.Errorf("RuntimeSettings = %q, want GOGC=off", s)
	}
}
