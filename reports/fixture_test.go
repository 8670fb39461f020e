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

// fixtureOffset puts the fixture's measured span off whole seconds, as in a
// real run: its first and last seconds are partial.
const fixtureOffset = 600 * time.Millisecond

// fixtureResults is a fixed synthetic run of one server: 10% bad identities
// (refused as expected), a few timeouts and drops, latencies spread over
// a few milliseconds, ~4 s long from t0 + fixtureOffset.
func fixtureResults(server string, n int, scale float64) []*result.Result {
	return fixtureResultsFrom(t0.Add(fixtureOffset), server, n, scale)
}

func fixtureResultsFrom(start time.Time, server string, n int, scale float64) []*result.Result {
	out := make([]*result.Result, 0, n)
	for i := range n {
		due := start.Add(time.Duration(i) * 4 * time.Millisecond)
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
	return fixtureAt(t, t0, 1)
}

// olderFixture is an earlier run (a day before) whose platform logins took
// 1.5 times as long: the run a comparison sets the fixture against.
func olderFixture(t *testing.T) *result.Summary {
	t.Helper()
	return fixtureAt(t, t0.Add(-24*time.Hour), 1.5)
}

func fixtureAt(t *testing.T, t0 time.Time, scale float64) *result.Summary {
	t.Helper()
	a := result.NewAggregator()
	run := fixtureRun(result.Shard{Index: 0, Count: 1})
	run.Started = t0
	a.AddRun(run)
	start, end := t0.Add(fixtureOffset), t0.Add(fixtureOffset+4*time.Second)
	for _, r := range fixtureResultsFrom(start, result.ServerPlatform, 1000, scale) {
		_ = a.Record(r)
	}
	for _, r := range fixtureResultsFrom(start, result.ServerBaseline, 1000, 0.8) {
		_ = a.Record(r)
	}
	a.AddWindow(result.Window{Server: result.ServerPlatform, Start: start, End: end,
		ClientCPUSeconds: 0.41, ServerCPUSource: "pid:100@bench", ServerCPUStart: 12.5, ServerCPUEnd: 12.82,
		ClientFloorUs: 176, ClientFloorOps: "X25519 + ECDSA P-256 sign + 2× ECDSA P-256 verify"})
	a.AddWindow(result.Window{Server: result.ServerBaseline, Start: start, End: end,
		ClientCPUSeconds: 0.38, ServerCPUSource: "pid:200@bench", ServerCPUStart: 0.1, ServerCPUEnd: 0.35,
		ClientFloorUs: 180, ClientFloorOps: "X25519 + ECDSA P-256 sign + 2× ECDSA P-256 verify"})
	s, err := a.Summary()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// fixtureBDD is a Gherkin run with one failed scenario.
func fixtureBDD() *BDD {
	return &BDD{Source: "out/bdd-cucumber.json", Scenarios: 6, Passed: 4, Failed: 1, Skipped: 1,
		Requirements: []BDDRequirement{
			{ID: "CA-UPLOAD", Behaviour: "A device CA certificate (PEM) can be uploaded", Status: "PASS", Passed: 2},
			{ID: "CA-QUOTA", Behaviour: "At most 100 device CA certificates per project", Status: "FAIL", Passed: 1, Failed: 1},
			{ID: "LOGIN-TLS", Behaviour: "The client certificate is required <and verified>", Status: "SKIP", Skipped: 1},
			{ID: "DEV-FREEZE", Behaviour: "A frozen device cannot log in", Status: "NOT RUN"},
		},
		Failures: []BDDFailure{{Feature: "features/ca/quota.feature", Line: 12, Scenario: "The 101st CA is refused",
			Tags: []string{"CA-QUOTA"}, Step: "Then the upload is refused with IOTDA.014303", Error: "got HTTP 201 <created>"}},
	}
}

// fixtureFleet is a fleet run with a few refusals and drops.
func fixtureFleet() *Fleet {
	return &Fleet{Source: "out/sim.json", MQTT: "mix", Enrolled: 40, EnrolDevices: 40, VerifiedCAs: 2, CAs: 2,
		EnrolElapsed: 48844219, Devices: 40, Connected: 39, PeakOnline: 39, OnlineAtEnd: 38,
		LoginAttempts: 44, LoginSucceeded: 41, LoginRefused: 2, LoginFailed: 1,
		RefusedByReason: map[string]int{"connack:0x86": 1, "connack:0x04": 1}, FailedByReason: map[string]int{"timeout": 1},
		Drops: 2, DropsByCause: map[string]int{"disconnect:0x8e": 2}, Reconnects: 2,
		MessagesSent: 199, MessagesReceived: 4,
		Connect: FleetLatency{Count: 41, P50: 1666000, P90: 2271000, P99: 4863000, Max: 4863000},
		Elapsed: 8*time.Second + 123*time.Millisecond}
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
