package reports

import (
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/certlab/certlab/loadgen/result"
)

var update = flag.Bool("update", false, "rewrite the .golden files under testdata")

// t0 anchors the synthetic run; nothing in the fixture reads the clock.
var t0 = time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)

// fixtureResults is a fixed synthetic run of one server: 10% bad identities
// (refused as expected), a few timeouts and drops, latencies spread over
// a few milliseconds, ~4 s long.
func fixtureResults(server string, n int, scale float64) []*result.Result {
	out := make([]*result.Result, 0, n)
	for i := range n {
		due := t0.Add(time.Duration(i) * 4 * time.Millisecond)
		r := &result.Result{Seq: uint64(i), Server: server, Device: i % 500, Identity: result.Good, Scheduled: due,
			Start: due, TCPUs: int64(60 + i%9), TLSUs: int64(float64(900+(i*37)%700) * scale),
			ConnackUs: int64(float64(250+(i*13)%200) * scale), Outcome: result.OutcomeSuccess,
			Expected: result.OutcomeSuccess, TLSVersion: "1.3"}
		switch {
		case i%10 == 3:
			r.Identity, r.Expected, r.ExpectedReason = result.BadFingerprint, result.OutcomeRefused, "fingerprint_mismatch"
			r.Outcome, r.Phase, r.Reason, r.ConnackCode = result.OutcomeRefused, result.PhaseConnect, "connack:0x05", 5
		case i%10 == 7:
			r.Identity, r.Expected, r.ExpectedReason = result.BadUnknownCA, result.OutcomeRefused, "unknown_ca"
			r.Outcome, r.Phase, r.Reason = result.OutcomeRefused, result.PhaseTLS, "tls_alert:unknown certificate authority"
		case i%211 == 11:
			r.Outcome, r.Phase, r.Reason, r.Unexpected = result.OutcomeError, result.PhaseConnect, "timeout", true
		case i%307 == 13:
			r.Outcome, r.Phase, r.Reason, r.Unexpected = result.OutcomeDropped, result.PhaseSchedule, "over_capacity", true
		}
		r.TotalUs = r.TCPUs + r.TLSUs + r.ConnackUs + int64(i%40)*25
		if r.Outcome == result.OutcomeDropped {
			r.TCPUs, r.TLSUs, r.ConnackUs, r.TotalUs = 0, 0, 0, 0
		}
		out = append(out, r)
	}
	return out
}

// fixture is the summary every golden file renders: a platform run and its
// baseline, with CPU windows on both sides.
func fixture(t *testing.T) *result.Summary {
	t.Helper()
	a := result.NewAggregator()
	a.AddRun(fixtureRun(result.Shard{Index: 0, Count: 1}))
	for _, r := range fixtureResults(result.ServerPlatform, 1000, 1) {
		_ = a.Record(r)
	}
	for _, r := range fixtureResults(result.ServerBaseline, 1000, 0.8) {
		_ = a.Record(r)
	}
	a.AddWindow(result.Window{Server: result.ServerPlatform, Start: t0, End: t0.Add(4 * time.Second),
		ClientCPUSeconds: 0.41, ServerCPUSource: "pid:100@bench", ServerCPUStart: 12.5, ServerCPUEnd: 12.82,
		ClientFloorUs: 176, ClientFloorOps: "X25519 + ECDSA P-256 sign + 2× ECDSA P-256 verify"})
	a.AddWindow(result.Window{Server: result.ServerBaseline, Start: t0, End: t0.Add(4 * time.Second),
		ClientCPUSeconds: 0.38, ServerCPUSource: "pid:200@bench", ServerCPUStart: 0.1, ServerCPUEnd: 0.35,
		ClientFloorUs: 180, ClientFloorOps: "X25519 + ECDSA P-256 sign + 2× ECDSA P-256 verify"})
	s, err := a.Summary()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func fixtureRun(shard result.Shard) result.RunInfo {
	return result.RunInfo{Format: result.FormatVersion, ID: "fixture", Started: t0, Target: "embedded",
		MQTTEndpoint: "127.0.0.1:8883", Mode: result.ModeChurn, Loop: "open", Rate: 250, Workers: 16, DurationS: 4,
		TLSVersion: "1.3", KeyExchange: "x25519", MQTTVersion: 4, BadShare: 0.2, Devices: 500, Shard: shard,
		Baseline: true, Host: "bench", CPUs: 2, GoVersion: "go1.26"}
}

// requireGolden compares got with testdata/name, or rewrites it with -update.
func requireGolden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./reports -update to create it)", err)
	}
	if string(got) != string(want) {
		_ = os.WriteFile(path+".got", got, 0o644)
		t.Fatalf("%s differs from the golden file; got written to %s.got (run with -update if the change is intended)", path, path)
	}
}
