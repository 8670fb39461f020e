package loadgen

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/certlab/certlab/loadgen/host"
	"github.com/certlab/certlab/loadgen/result"
	"github.com/certlab/certlab/platform/platformtest"
)

// platformLogins reads certlab_platform_logins_total by "result/reason".
func platformLogins(t *testing.T, g prometheus.Gatherer) map[string]float64 {
	t.Helper()
	fams, err := g.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, mf := range fams {
		if mf.GetName() != "certlab_platform_logins_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			out[label(m, "result")+"/"+label(m, "reason")] += m.GetCounter().GetValue()
		}
	}
	return out
}

func label(m *dto.Metric, name string) string {
	for _, lp := range m.GetLabel() {
		if lp.GetName() == name {
			return lp.GetValue()
		}
	}
	return ""
}

// requirePlatformCounted checks the platform's own counters moved by want
// between two readings: the generator's counts agree with the server's.
func requirePlatformCounted(t *testing.T, before, after map[string]float64, want map[string]float64) {
	t.Helper()
	for k, w := range want {
		if got := after[k] - before[k]; got != w {
			t.Errorf("platform counted %v logins %s, want %v (generator's count)", got, k, w)
		}
	}
	var total, wantTotal float64
	for k := range after {
		total += after[k] - before[k]
	}
	for _, w := range want {
		wantTotal += w
	}
	if total != wantTotal {
		t.Errorf("platform counted %v login attempts in all, want %v", total, wantTotal)
	}
}

// A run against the embedded platform: 1,000 distinct device identities,
// 10% of them bad; success and refusal counts match what each identity
// deserves and what the platform itself counted.
func TestRunAgainstPlatform(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a platform and logs in 1,300 devices")
	}
	p := platformtest.Start(t, platformtest.WithMetrics()) // MetricsCPU reads the platform's CPU there
	target := p.Target()
	f := testFleet(t, 1000, 2)

	prep, err := Prepare(t.Context(), target, f, PrepareOptions{Workers: 8})
	if err != nil {
		t.Fatal(err)
	}
	if prep.Registered != 1000 || prep.FailedDevices() != 0 || len(prep.CAs) != 2 || !prep.CAs[0].Verified {
		t.Fatalf("prepare: %+v", prep)
	}
	// Idempotent: a second Prepare finds everything in place.
	again, err := Prepare(t.Context(), target, f, PrepareOptions{Workers: 8, Devices: 100})
	if err != nil {
		t.Fatal(err)
	}
	if again.Existing != 100 || again.Registered != 0 || again.CAs[0].Uploaded {
		t.Fatalf("second prepare: %+v", again)
	}

	ids := testIdentities(t, f, IdentityOptions{Bad: BadPlan{Share: 0.1}})
	roots, err := target.RootCAs()
	if err != nil {
		t.Fatal(err)
	}
	base := AttackConfig{Addr: target.MQTTAddress(), ServerName: target.ServerName(""), RootCAs: roots,
		KeyExchange: KexX25519, ConnectTimeout: 10 * time.Second, ServerCPU: host.MetricsCPU{URL: target.MetricsEndpoint}}

	t.Run("closed loop MQTT 3.1.1, every device once", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "results.jsonl")
		out, err := os.Create(path)
		if err != nil {
			t.Fatal(err)
		}
		w := result.NewWriter(out)
		ac := base
		ac.Workers, ac.Count, ac.MQTTVersion = 8, 1000, 4
		before := platformLogins(t, p.Gatherer())
		s, err := Run(t.Context(), Config{Attack: ac, Results: w, Info: result.RunInfo{ID: "t", Devices: 1000, BadShare: 0.1}}, ids)
		if err != nil {
			t.Fatal(err)
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		ps := s.Server(result.ServerPlatform)
		requireCounts(t, ps, 1000, 900, 100)
		want := map[result.BadKind]int64{result.Good: 900, result.BadFingerprint: 34, result.BadUnregistered: 33, result.BadUnknownCA: 33}
		for _, row := range ps.Identities {
			if row.Attempts != want[row.Identity] || row.AsExpected != row.Attempts {
				t.Errorf("identity %s: %d attempts, %d as expected; want %d", row.Identity, row.Attempts, row.AsExpected, want[row.Identity])
			}
		}
		requirePlatformCounted(t, before, platformLogins(t, p.Gatherer()), map[string]float64{
			"success/ok": 900, "refused/fingerprint_mismatch": 34, "refused/device_not_found": 33, "refused/unknown_ca": 33,
		})
		if ps.ServerCPU == nil || ps.ClientCPU.PerAttemptUs <= 0 {
			t.Errorf("CPU not measured: client %+v, server %+v (%s)", ps.ClientCPU, ps.ServerCPU, ps.ServerCPUNote)
		}
		if f := ps.ClientFloor; f == nil || f.Us <= 0 || f.Ratio <= 0 || f.Ops == "" {
			t.Errorf("client crypto floor not measured: %+v", f)
		}
		// The saved stream re-renders to the same summary.
		in, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		defer in.Close()
		agg := result.NewAggregator()
		if err := agg.Aggregate(in); err != nil {
			t.Fatal(err)
		}
		re, err := agg.Summary()
		if err != nil {
			t.Fatal(err)
		}
		if r := re.Server(result.ServerPlatform); counts(r) != counts(ps) || r.Latency[result.MetricTotal] != ps.Latency[result.MetricTotal] || r.ServerCPU == nil {
			t.Errorf("re-rendered summary differs: %v %+v vs %v %+v", counts(r), r.Latency[result.MetricTotal], counts(ps), ps.Latency[result.MetricTotal])
		}
	})

	t.Run("open loop MQTT 5 with baseline", func(t *testing.T) {
		ac := base
		ac.Workers, ac.Rate, ac.Count, ac.Backlog, ac.MQTTVersion = 8, 300, 300, 300, 5
		before := platformLogins(t, p.Gatherer())
		s, err := Run(t.Context(), Config{Attack: ac, Baseline: testBaselineOptions(t)}, ids)
		if err != nil {
			t.Fatal(err)
		}
		// Devices 0..299: 30 bad, 10 of each kind, refused with MQTT 5 codes.
		requireCounts(t, s.Server(result.ServerPlatform), 300, 270, 30)
		requirePlatformCounted(t, before, platformLogins(t, p.Gatherer()), map[string]float64{
			"success/ok": 270, "refused/fingerprint_mismatch": 10, "refused/device_not_found": 10, "refused/unknown_ca": 10,
		})
		// The baseline checks chains only: just the unknown-CA devices fail.
		requireCounts(t, s.Server(result.ServerBaseline), 300, 290, 10)
		if s.BaselineRatio <= 0 {
			t.Errorf("no platform/baseline ratio: %+v", s.Server(result.ServerBaseline).ServerCPU)
		}
		for _, w := range s.Windows {
			if w.ServerCertKey != "ECDSA P-256" {
				t.Errorf("%s server key %q, want ECDSA P-256 on both sides", w.Server, w.ServerCertKey)
			}
		}
		for _, row := range s.Server(result.ServerPlatform).Breakdown {
			if row.Outcome == result.OutcomeRefused && row.Phase == result.PhaseConnect && row.Reason != "connack:0x87" && row.Reason != "connack:0x86" {
				t.Errorf("MQTT 5 refusal %s, want CONNACK 0x86 or 0x87", row.Reason)
			}
		}
	})
}

// A fleet re-minted in place (same node IDs, new keys and CA) is prepared
// again: the devices exist, so their fingerprints are reset; the old
// identities are then refused, and counted as unexpected.
func TestPrepareAfterRemint(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a platform")
	}
	p := platformtest.Start(t)
	target := p.Target()
	roots, err := target.RootCAs()
	if err != nil {
		t.Fatal(err)
	}
	run := func(ids []*Identity) *result.ServerSummary {
		t.Helper()
		s, err := Run(t.Context(), Config{Attack: AttackConfig{Addr: target.MQTTAddress(), ServerName: target.ServerName(""),
			RootCAs: roots, Workers: 4, Count: len(ids), KeyExchange: KexX25519}}, ids)
		if err != nil {
			t.Fatal(err)
		}
		return s.Server(result.ServerPlatform)
	}
	old := testFleet(t, 20, 1)
	if _, err := Prepare(t.Context(), target, old, PrepareOptions{}); err != nil {
		t.Fatal(err)
	}
	oldIDs := testIdentities(t, old, IdentityOptions{})
	requireCounts(t, run(oldIDs), 20, 20, 0)

	// One shard of the first 10 devices, under a product of its own.
	sh, err := Prepare(t.Context(), target, old, PrepareOptions{ProductID: "shard-product", Devices: 10, Shard: result.Shard{Index: 1, Count: 2}})
	if err != nil {
		t.Fatal(err)
	}
	if sh.Devices != 5 || sh.Registered != 5 || sh.ProductID != "shard-product" {
		t.Fatalf("prepare shard 1/2 of 10 devices: %+v, want 5 devices registered under shard-product", sh)
	}

	remint := testFleet(t, 20, 1)
	pr, err := Prepare(t.Context(), target, remint, PrepareOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if pr.Updated != 20 || pr.Registered != 0 || pr.FailedDevices() != 0 || !pr.CAs[0].Uploaded {
		t.Fatalf("prepare after re-mint: %+v", pr)
	}
	requireCounts(t, run(testIdentities(t, remint, IdentityOptions{})), 20, 20, 0)

	stale := run(oldIDs)
	if stale.Refused != 20 || stale.Unexpected != 20 {
		t.Fatalf("old identities: %d refused, %d unexpected; want 20 and 20 (fingerprints were reset)", stale.Refused, stale.Unexpected)
	}
}

// counts are a server summary's outcome counts, for comparing two summaries.
func counts(s *result.ServerSummary) [6]int64 {
	return [6]int64{s.Attempts, s.Success, s.Refused, s.Errors, s.Dropped, s.Unexpected}
}
