package loadgen

import (
	"bytes"
	"context"
	"crypto/tls"
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
	"github.com/certlab/certlab/platform"
	"github.com/certlab/certlab/platform/platformtest"
	"github.com/certlab/certlab/reports"
	"github.com/certlab/certlab/sim/pki"
)

// requireAllBack checks a storm in which every device came back.
func requireAllBack(t *testing.T, st *result.StormSummary, devices int) {
	t.Helper()
	if st == nil {
		t.Fatal("no storm in the summary")
	}
	if st.Held != devices || st.Returned != devices || st.NeverReturned != 0 {
		t.Fatalf("held %d, returned %d, never returned %d; want all %d back", st.Held, st.Returned, st.NeverReturned, devices)
	}
	for name, v := range map[string]*float64{"50%": st.TimeTo50S, "90%": st.TimeTo90S, "99%": st.TimeTo99S, "100%": st.TimeTo100S} {
		if v == nil || *v <= 0 {
			t.Errorf("time to %s not measured", name)
		}
	}
	if st.Attempts < int64(devices) || st.Succeeded != int64(devices) || st.WastedAttempts != st.Attempts-st.Succeeded {
		t.Errorf("attempts %d succeeded %d wasted %d", st.Attempts, st.Succeeded, st.WastedAttempts)
	}
	if st.Capacity <= 0 || st.PeakAttemptRate <= 0 || st.HerdFactor <= 0 {
		t.Errorf("capacity %v, peak %v, herd factor %v", st.Capacity, st.PeakAttemptRate, st.HerdFactor)
	}
	// The series: every device connected before the outage, fewer from the
	// outage on (the lowest bucket after it: on a busy machine the sample of
	// the outage's own bucket may still be taken before the drop), all at the end.
	var peak, last int
	atOutage := devices
	outage := st.OutageAt.UnixMilli()
	for _, b := range st.Buckets {
		peak = max(peak, b.Connected)
		if b.T+int64(st.BucketMs) > outage {
			atOutage = min(atOutage, b.Connected)
		}
		last = b.Connected
	}
	if peak != devices || last != devices || atOutage >= devices {
		t.Errorf("connected: peak %d, lowest from the outage on %d, at the end %d; want %d, fewer, %d", peak, atOutage, last, devices, devices)
	}
}

// A storm of 200 devices against the embedded platform (the library API):
// every session is cut at once (client-drop). Unbounded, the platform takes
// the herd of immediate retries; with the handshake bound on (2 in flight,
// 2 waiting), it refuses much of a full-jitter herd before TLS (server_busy)
// and the devices, backing off, still all come back. Either way the platform's own login
// counters agree with the generator's, outcome by outcome.
func TestStormEmbedded(t *testing.T) {
	if testing.Short() {
		t.Skip("two storms of 200 devices")
	}
	const devices = 200
	f := testFleet(t, devices, 1)
	ids := testIdentities(t, f, IdentityOptions{})
	for _, tc := range []struct {
		name          string
		maxHandshakes int
		policy        Policy
	}{
		{"unbounded", -1, Immediate{}},
		{"admission bound on", 2, FullJitter{Base: 50 * time.Millisecond, Cap: time.Second}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := platformtest.Start(t, platformtest.WithMetrics(), func(c *platform.Config) {
				c.MaxHandshakes, c.HandshakeQueue = tc.maxHandshakes, 2
			})
			target := p.Target()
			if _, err := Prepare(t.Context(), target, f, PrepareOptions{Workers: 8}); err != nil {
				t.Fatal(err)
			}
			roots, err := target.RootCAs()
			if err != nil {
				t.Fatal(err)
			}
			ac := AttackConfig{Addr: target.MQTTAddress(), ServerName: target.ServerName(""), RootCAs: roots, Workers: 8,
				KeyExchange: KexX25519, ConnectTimeout: 20 * time.Second, ServerCPU: host.MetricsCPU{URL: target.MetricsEndpoint}}
			if tc.maxHandshakes > 0 {
				// The ramp logs in Workers at a time: no more than the bound
				// and its queue take, or a slow (-race, shared) machine can
				// refuse one device all its ramp tries and hold 199.
				ac.Workers = tc.maxHandshakes + 2
			}
			// A login the platform refuses before the storm (as a pre-flight's
			// probe is): the comparison covers this run's logins only.
			if c, err := tls.Dial("tcp", target.MQTTAddress(), &tls.Config{RootCAs: roots, ServerName: target.ServerName("")}); err == nil {
				_, _ = c.Read(make([]byte, 1))
				_ = c.Close()
			}
			var log bytes.Buffer
			sc := StormConfig{Outage: OutageClientDrop, Policy: tc.policy, CapacityProbe: 300 * time.Millisecond,
				Settle: 300 * time.Millisecond, Deadline: time.Minute, MetricsURL: target.MetricsEndpoint, Log: &log}
			var results bytes.Buffer
			w := result.NewWriter(&results)
			s, err := RunStorm(t.Context(), Config{Attack: ac, Results: w, Info: result.RunInfo{ID: "storm", Devices: devices}}, sc, ids)
			if err != nil {
				t.Fatalf("storm: %v\n%s", err, log.String())
			}
			st := s.Storm
			requireAllBack(t, st, devices)
			busy := st.Refused[result.ReasonClosedBeforeTLS]
			switch {
			case tc.maxHandshakes < 0 && busy != 0:
				t.Errorf("unbounded platform refused %d logins before TLS", busy)
			case tc.maxHandshakes > 0 && busy == 0:
				t.Errorf("bounded platform refused no login of the herd: %+v", st.Refused)
			}
			lc := st.Shards[0].ServerLogins
			if lc == nil || !lc.Agree() || lc.PlatformSuccess != float64(lc.Success) || lc.Success < 2*devices {
				t.Errorf("login counts platform vs generator: %+v", lc)
			}
			if lc != nil && float64(lc.Busy) != lc.PlatformBusy {
				t.Errorf("server_busy: platform %v, generator %d", lc.PlatformBusy, lc.Busy)
			}
			ps := s.Server(result.ServerPlatform)
			if ps.Attempts != st.Attempts || ps.ServerCPU == nil || ps.ClientCPU.Seconds <= 0 {
				t.Errorf("platform summary: %d attempts (storm %d), server CPU %+v (%s)", ps.Attempts, st.Attempts, ps.ServerCPU, ps.ServerCPUNote)
			}
			if !strings.Contains(log.String(), "all 200 devices back") {
				t.Errorf("log:\n%s", log.String())
			}
			// The results file re-renders to the same storm.
			if err := w.Flush(); err != nil {
				t.Fatal(err)
			}
			agg := result.NewAggregator()
			if err := agg.Aggregate(&results); err != nil {
				t.Fatal(err)
			}
			again, err := agg.Summary()
			if err != nil {
				t.Fatal(err)
			}
			if a := again.Storm; a == nil || a.Returned != st.Returned || a.Attempts != st.Attempts || *a.TimeTo99S != *st.TimeTo99S || len(a.Buckets) != len(st.Buckets) {
				t.Errorf("re-read storm differs: %+v", a)
			}
			t.Logf("%s: time to 99%% %.1fs, peak %.0f attempts/s vs capacity %.0f/s (herd factor %.1f), %d refused before TLS, %d wasted handshakes",
				tc.name, *st.TimeTo99S, st.PeakAttemptRate, st.Capacity, st.HerdFactor, busy, st.WastedHandshakes)
		})
	}
}

// Nothing is lost in a kill storm: `certlab platform` as a child process is
// killed with 200 sessions held and started again on its data directory;
// every device comes back, the registry holds every device, and the
// platform's login counters (both processes) agree with the generator's.
func TestStormKillNothingLost(t *testing.T) {
	if testing.Short() {
		t.Skip("a kill storm of 200 devices against a child platform")
	}
	procs, gc := runtime.GOMAXPROCS(0), debug.SetGCPercent(100)
	defer func() { runtime.GOMAXPROCS(procs); debug.SetGCPercent(gc) }()
	const devices = 200
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	data, out := t.TempDir(), t.TempDir()
	var stdout, log bytes.Buffer
	o, err := Execute(t.Context(), Plan{
		Server: host.ServerSpec{Child: &host.PlatformOptions{
			Command: []string{exe, "--max-handshakes", "8"}, DataDir: data,
			Env: []string{platformChildEnv + "=1", "GORACE=atexit_sleep_ms=0"}}},
		Fleet:  FleetPlan{Dir: filepath.Join(out, "fleet"), Devices: devices, CAs: 2, KeyType: pki.ECDSAP256},
		Attack: AttackConfig{Mode: result.ModeStorm, Workers: 8, KeyExchange: KexX25519, ConnectTimeout: 20 * time.Second},
		Storm: StormConfig{Outage: OutageKill, Down: 300 * time.Millisecond, Settle: 300 * time.Millisecond,
			Policy: FullJitter{Base: 100 * time.Millisecond, Cap: time.Second}, CapacityProbe: 300 * time.Millisecond, Deadline: time.Minute},
		RunID: "kill-storm", OutDir: out, HTMLPath: filepath.Join(out, "storm.html"), Stdout: &stdout, Log: &log,
	})
	if err != nil {
		t.Fatalf("Execute: %v\n%s", err, log.String())
	}
	st := o.Summary.Storm
	requireAllBack(t, st, devices)
	if st.Outage != string(OutageKill) || st.ServerBackAt.Before(st.OutageAt.Add(300*time.Millisecond)) {
		t.Errorf("outage %s, platform back at %v (outage at %v)", st.Outage, st.ServerBackAt, st.OutageAt)
	}
	lc := st.Shards[0].ServerLogins
	if lc == nil || !lc.Agree() {
		t.Fatalf("the platform's login counters (both processes) and the generator's differ: %+v", lc)
	}
	if lc.PlatformSuccess != float64(lc.Success) || lc.UncertainSuccess != 0 || lc.Success < 2*devices {
		t.Errorf("sessions: platform %v, generator %d (uncertain %d); want equal, the ramp's and the returns' at least",
			lc.PlatformSuccess, lc.Success, lc.UncertainSuccess)
	}
	// The refused-TCP attempts while the platform was down are the generator's alone.
	if st.Failed[result.PhaseTCP] == 0 && st.Attempts == st.Succeeded {
		t.Logf("no attempt met the platform down (all waited past it)")
	}
	ps := o.Summary.Server(result.ServerPlatform)
	if ps.ServerCPU == nil || !strings.HasPrefix(ps.ServerCPU.Source, "pid:") || ps.ServerCPU.Seconds <= 0 {
		t.Errorf("server CPU across the restart: %+v (%s)", ps.ServerCPU, ps.ServerCPUNote)
	}
	if !strings.Contains(stdout.String(), "RECONNECT STORM") {
		t.Errorf("text summary without the storm:\n%s", stdout.String())
	}
	html, err := os.ReadFile(filepath.Join(out, "storm.html"))
	if err != nil || !bytes.Contains(html, []byte("Reconnect storm")) {
		t.Errorf("HTML report without the storm (%v)", err)
	}

	// The registry after the kill and the restart holds every device.
	p := platformtest.Start(t, platformtest.WithDataDir(data))
	c := platformtest.Client(t, p)
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	ds, err := c.ListDevices(ctx, iotda.DeviceListOptions{ListOptions: iotda.ListOptions{Limit: 1}})
	if err != nil {
		t.Fatal(err)
	}
	n := int(ds.Page.Count)
	if n != devices {
		t.Errorf("the registry holds %d devices after the kill storm, want %d", n, devices)
	}
	saved, err := reports.Load(o.ResultsPath)
	if err != nil {
		t.Fatal(err)
	}
	if saved.Storm == nil || saved.Storm.Returned != devices {
		t.Errorf("results file: storm %+v", saved.Storm)
	}
	t.Logf("kill storm: time to 99%% %.2fs, %d attempts, %d refused before TLS, %d failed at TCP (platform down)",
		*st.TimeTo99S, st.Attempts, st.Refused[result.ReasonClosedBeforeTLS], st.Failed[result.PhaseTCP])
}
