package host

import (
	"fmt"
	"os"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"strconv"
	"strings"
	"syscall"
)

// The Go runtime's system monitor (sysmon) is the largest cost in a
// generator process that is not a login. Whenever every P is idle (all
// workers wait on the server), sysmon goes to deep sleep; the next system
// call wakes it with a futex and resets its poll interval to 20 µs, so it
// runs about fifty 20 µs sleeps before backing off again. A login generator
// idles and makes system calls thousands of times a second, so sysmon was
// waking ~4,000 times/s and cost 14–17 µs of CPU per login (its thread
// alone, measured from /proc/PID/task; more with the wake-ups it causes).
//
// GODEBUG=schedtrace=N keeps sysmon out of deep sleep (it must stay awake
// to print a trace every N ms), so it settles at its 10 ms poll instead.
// N is the largest value the runtime accepts (24.8 days), so no trace is
// printed in practice; the runtime reads the setting only at start, hence
// the re-execution. See ReexecForLoad.
const quietSysmon = "schedtrace=2147483647"

// Environment variables of the re-execution.
const (
	// EnvRuntime set to "default" keeps the generator on Go's default
	// runtime settings (no re-execution).
	EnvRuntime = "CERTLAB_LOADGEN_RUNTIME"
	// envOrigGODEBUG carries the user's GODEBUG ("=" + value, or "" if it
	// was unset) into the re-executed process, which restores it so that
	// child processes (the platform, the baseline) run with the user's
	// settings, not the generator's.
	envOrigGODEBUG = "CERTLAB_LOADGEN_ORIG_GODEBUG"
)

// ReexecForLoad re-executes this process (same PID, same arguments) with
// sysmon kept out of deep sleep (see quietSysmon) unless that is already
// so, the user's GODEBUG sets schedtrace, or EnvRuntime is "default". In
// the re-executed process it restores the user's GODEBUG in the
// environment and returns. It returns only when it did not re-execute,
// with an error when it tried and failed (the caller goes on untuned).
//
// Call it first thing in main, and only from main: a test binary must not
// replace itself.
func ReexecForLoad(args []string) error {
	if orig, ok := os.LookupEnv(envOrigGODEBUG); ok {
		// The re-executed process: the runtime has read GODEBUG already.
		_ = os.Unsetenv(envOrigGODEBUG)
		if v, set := strings.CutPrefix(orig, "="); set {
			_ = os.Setenv("GODEBUG", v)
		} else {
			_ = os.Unsetenv("GODEBUG")
		}
		return nil
	}
	godebug, hadGODEBUG := os.LookupEnv("GODEBUG")
	if os.Getenv(EnvRuntime) == "default" || strings.Contains(godebug, "schedtrace=") {
		return nil
	}
	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("re-execute with a quiet sysmon: %w", err)
	}
	orig := ""
	tuned := quietSysmon
	if hadGODEBUG {
		orig = "=" + godebug
		if godebug != "" {
			tuned = godebug + "," + quietSysmon
		}
	}
	env := make([]string, 0, len(os.Environ())+2)
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "GODEBUG=") {
			env = append(env, kv)
		}
	}
	env = append(env, "GODEBUG="+tuned, envOrigGODEBUG+"="+orig)
	err = syscall.Exec(exe, args, env)
	return fmt.Errorf("re-execute with a quiet sysmon: %w", err)
}

// RuntimeSettings describes the generator's Go runtime settings for the
// run header, so a report says what the generator's CPU was measured under.
func RuntimeSettings() string {
	gc := "off" // the metric reads -1 as a uint64 when the collector is off
	if p := int64(readUint64Metric("/gc/gogc:percent")); p >= 0 {
		gc = strconv.FormatInt(p, 10)
	}
	s := fmt.Sprintf("GOMAXPROCS=%d GOGC=%s", runtime.GOMAXPROCS(0), gc)
	if sysmonQuiet() {
		s += " sysmon=quiet"
	}
	return s
}

// sysmonQuiet reports whether this process started with schedtrace set. The
// GODEBUG in the environment may have been restored to the user's since, so
// this reads the runtime's view: the process's initial environment.
func sysmonQuiet() bool {
	b, err := os.ReadFile("/proc/self/environ")
	if err != nil {
		return false
	}
	for _, kv := range strings.Split(string(b), "\x00") {
		if v, ok := strings.CutPrefix(kv, "GODEBUG="); ok {
			return strings.Contains(v, "schedtrace=")
		}
	}
	return false
}

// gcHeadroom is how far the generator's heap may grow over its live heap
// between collections in churn and tls-only runs.
const gcHeadroom = 256 << 20

// TuneGC sets the generator's collector for a run and returns the GOGC it set (0 when it left the setting alone, because GOGC
// is in the environment).
//
// crypto/tls allocates ≈45 KB per client handshake, so at Go's default the
// generator collected every few hundred logins. A collection's cost grows
// with the live heap and the interval between collections with the
// headroom, so the cost per login is proportional to live/headroom: churn
// and tls-only runs, whose live heap (identities, TLS configs) stays flat,
// get a fixed headroom of 256 MiB over it (GOGC between 400 and 5000).
// Hold runs keep GOGC=400: their live heap grows with every held login.
// Measured on 2 shared cores, tls-only, X25519: GOGC 1600 against 400 took
// 6 µs off the generator's CPU per login.
// heldSessions says the run holds its logins open (hold mode), so its live
// heap grows with every login.
func TuneGC(heldSessions bool) int {
	if os.Getenv("GOGC") != "" {
		return 0
	}
	percent := 400
	if !heldSessions {
		runtime.GC()
		if live := readUint64Metric("/gc/heap/live:bytes"); live > 0 {
			percent = int(min(max(gcHeadroom*100/live, 400), 5000))
		}
	}
	debug.SetGCPercent(percent)
	return percent
}

// readUint64Metric reads one runtime/metrics value (0 if unsupported).
func readUint64Metric(name string) uint64 {
	sample := []metrics.Sample{{Name: name}}
	metrics.Read(sample)
	if sample[0].Value.Kind() != metrics.KindUint64 {
		return 0
	}
	return sample[0].Value.Uint64()
}

// Procs sets the generator's GOMAXPROCS: n if n > 0; otherwise, unless
// GOMAXPROCS is in the environment, half the CPUs (at least one) when the
// server under test runs on this machine, since it needs the rest, and all
// of them when it does not. It returns the setting in force.
//
// Why not all CPUs next to a local server: every idle P is an invitation
// for the runtime to wake a thread to look for work whenever a goroutine
// becomes runnable; with the server busy on the other CPUs those wake-ups
// are pure overhead. Measured on 2 shared cores, tls-only, X25519, quiet
// sysmon: GOMAXPROCS 1 against 2 took 10–35 µs off the generator's CPU per
// login, and the server, with a CPU to itself, confirmed 7–12% more logins/s.
func Procs(n int, localServer bool) int {
	switch {
	case n > 0:
		runtime.GOMAXPROCS(n)
	case os.Getenv("GOMAXPROCS") != "":
	case localServer:
		runtime.GOMAXPROCS(max(1, runtime.NumCPU()/2))
	}
	return runtime.GOMAXPROCS(0)
}

// ServerGOGC is the collector setting of the servers a login benchmark
// compares: `certlab platform` uses it by default (its --gogc flag) and the
// baseline children get it too, so the ratio compares servers, not GC
// settings. 400 lets the heap grow to 5× the live heap between collections:
// a platform holding 100,000 devices (≈100 MB live) collects less often, so
// marking the registry costs less per login, for ≈400 MB more memory at
// most. GOGC in a server's environment wins.
const ServerGOGC = 400

// ApplyServerGOGC sets the collector to gogc unless GOGC is in the
// environment (which wins); gogc <= 0 leaves Go's default. It returns the
// setting in force, as GOGC spells it.
func ApplyServerGOGC(gogc int) string {
	if v := os.Getenv("GOGC"); v != "" {
		return v
	}
	if gogc <= 0 {
		return "100"
	}
	debug.SetGCPercent(gogc)
	return strconv.Itoa(gogc)
}
