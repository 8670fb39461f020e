package loadgen

import (
	"bytes"
	"math"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/certlab/certlab/loadgen/host"
	"github.com/certlab/certlab/loadgen/result"
	"github.com/certlab/certlab/platform"
	"github.com/certlab/certlab/platform/platformtest"
	"github.com/certlab/certlab/reports"
)

// A small flood run against the embedded platform: the devices log in
// alone, then under a flood of unknown-CA and no-certificate handshakes.
// Every attempt lands in its population (results file, summary, a summary
// re-rendered from the file), every flood handshake is refused the way the
// refusal table says (or, at a tight handshake bound, before TLS), and the
// platform's own counters agree with the generator's, reason by reason.
func TestFloodAgainstPlatform(t *testing.T) {
	if testing.Short() {
		t.Skip("starts platforms and floods them")
	}
	f := testFleet(t, 100, 1)
	for _, tc := range []struct {
		name  string
		bound func(*platform.Config)
		rate  FloodRate
		busy  bool // the bound must refuse some handshakes before TLS
	}{
		{"no handshake bound", func(c *platform.Config) { c.MaxHandshakes = -1 }, FloodRate{PerSecond: 200}, false},
		{"a bound of 2 handshakes, no queue", func(c *platform.Config) { c.MaxHandshakes, c.HandshakeQueue = 2, -1 }, FloodRate{Multiple: 1}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := platformtest.Start(t, platformtest.WithMetrics(), tc.bound)
			target := p.Target()
			if _, err := Prepare(t.Context(), target, f, PrepareOptions{Workers: 8}); err != nil {
				t.Fatal(err)
			}
			ids := testIdentities(t, f, IdentityOptions{})
			roots, err := target.RootCAs()
			if err != nil {
				t.Fatal(err)
			}
			ac := AttackConfig{Addr: target.MQTTAddress(), ServerName: target.ServerName(""), RootCAs: roots, KeyExchange: KexX25519,
				Workers: 4, Warmup: 200 * time.Millisecond, Duration: time.Second, ServerCPU: host.MetricsCPU{URL: target.MetricsEndpoint}}
			path := filepath.Join(t.TempDir(), "results.jsonl")
			out, err := os.Create(path)
			if err != nil {
				t.Fatal(err)
			}
			w := result.NewWriter(out)
			before := platformLogins(t, p.Gatherer())
			s, err := RunFlood(t.Context(), Config{Attack: ac, Results: w, Info: result.RunInfo{ID: "flood", Devices: 100}},
				FloodConfig{Rate: tc.rate, Kind: FloodMixed, MetricsURL: target.MetricsEndpoint}, ids, nil)
			if err != nil {
				t.Fatal(err)
			}
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			after := platformLogins(t, p.Gatherer())

			fs, devices := s.Flood, s.UnderTest()
			if fs == nil || fs.Unflooded == nil || fs.Flood == nil || devices == nil {
				t.Fatalf("flood summary incomplete: %+v", fs)
			}
			if fs.Unflooded.Success == 0 || devices.Success == 0 || fs.Capacity <= 0 {
				t.Fatalf("devices logged in %d times before the flood and %d during it (capacity %.0f/s)", fs.Unflooded.Success, devices.Success, fs.Capacity)
			}
			wantRate := tc.rate.PerSecond
			if tc.rate.Multiple > 0 {
				wantRate = tc.rate.Multiple * fs.Capacity
			}
			if fs.Rate != wantRate {
				t.Errorf("flood rate %.1f/s, want %.1f/s", fs.Rate, wantRate)
			}
			// The flood: scheduled over warm-up + duration, never let in,
			// refused as the table says or before TLS; half of each kind.
			fl := fs.Flood
			scheduled := fl.Attempts + fl.Warmup
			if want := int64(wantRate * 1.2); scheduled < want-2 || scheduled > want+2 {
				t.Errorf("flood scheduled %d handshakes, want about %d (%.0f/s for 1.2 s)", scheduled, want, wantRate)
			}
			if fl.Success != 0 || fl.Unexpected != 0 || fl.Errors != 0 || fl.Dropped != 0 {
				t.Errorf("flood: %d let in, %d unexpected, %d errors, %d dropped; want none: %+v", fl.Success, fl.Unexpected, fl.Errors, fl.Dropped, fl.Breakdown)
			}
			byReason := map[string]int64{}
			for _, b := range fl.Breakdown {
				byReason[b.Reason] += b.Count
			}
			if got := byReason[result.AlertBadCertificate] + byReason[result.AlertCertificateRequired] + byReason[result.ReasonClosedBeforeTLS]; got != fl.Attempts {
				t.Errorf("flood outcomes %v do not add up to its %d attempts", byReason, fl.Attempts)
			}
			if tc.busy != (byReason[result.ReasonClosedBeforeTLS] > 0) {
				t.Errorf("flood refused before TLS %d times; want some: %v", byReason[result.ReasonClosedBeforeTLS], tc.busy)
			}
			for _, id := range fl.Identities {
				if id.Identity != result.FloodUnknownCA && id.Identity != result.FloodNoCert || id.Attempts < fl.Attempts/2-1 || id.Attempts > fl.Attempts/2+1 {
					t.Errorf("flood identity row %+v; want half of %d attempts each, unknown_ca and no_cert", id, fl.Attempts)
				}
			}
			// The platform's counters against the generator's, by reason,
			// as the run compared them and as read here.
			c := fs.ServerLogins
			if c == nil || !c.Agree() {
				t.Fatalf("counters disagree or missing: %+v (%s)", c, fs.Note)
			}
			for k, v := range c.Generator {
				if k != result.CountErrors && c.Platform[k] != v {
					t.Errorf("%s: platform counted %d, generator saw %d", k, c.Platform[k], v)
				}
			}
			if c.Generator[result.CountErrors] != 0 {
				t.Errorf("%d attempts ended without a verdict", c.Generator[result.CountErrors])
			}
			want := map[string]float64{"success/ok": float64(c.Generator[result.CountSuccess]),
				"refused/no_client_cert": float64(c.Generator[result.CountNoCert]), "refused/unknown_ca": float64(c.Generator[result.CountUnknownCA])}
			if n := c.Generator[result.CountBusy]; n > 0 {
				want["refused/server_busy"] = float64(n)
			}
			requirePlatformCounted(t, before, after, want)

			// Populations in the results file, and the summary it re-renders to.
			raw, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			pops := map[string]int64{}
			rd := result.NewReader(bytes.NewReader(raw))
			for {
				rec, err := rd.Next()
				if err != nil {
					break
				}
				if rec.Result != nil {
					pops[rec.Result.Population]++
				}
			}
			if pops[result.PopulationUnflooded] != fs.Unflooded.Attempts+fs.Unflooded.Warmup || pops[result.PopulationDevices] != devices.Attempts+devices.Warmup ||
				pops[result.PopulationFlood] != scheduled || len(pops) != 3 {
				t.Errorf("results file populations %v; want unflooded %d, devices %d, flood %d", pops,
					fs.Unflooded.Attempts+fs.Unflooded.Warmup, devices.Attempts+devices.Warmup, scheduled)
			}
			agg := result.NewAggregator()
			if err := agg.Aggregate(bytes.NewReader(raw)); err != nil {
				t.Fatal(err)
			}
			re, err := agg.Summary()
			if err != nil || re.Flood == nil {
				t.Fatalf("re-rendered summary: %v, flood part %v", err, re.Flood)
			}
			if math.Abs(re.Flood.KeptShare-fs.KeptShare) > 1e-6 || counts(re.Flood.Flood) != counts(fl) || counts(re.Flood.Unflooded) != counts(fs.Unflooded) ||
				counts(re.UnderTest()) != counts(devices) || re.Flood.ServerLogins == nil {
				t.Errorf("re-rendered flood summary differs: kept %v vs %v; flood %v vs %v; unflooded %v vs %v; devices %v vs %v",
					re.Flood.KeptShare, fs.KeptShare, counts(re.Flood.Flood), counts(fl), counts(re.Flood.Unflooded), counts(fs.Unflooded), counts(re.UnderTest()), counts(devices))
			}
			// The text report names both populations and the flood.
			var txt bytes.Buffer
			if err := reports.Text(re)(&txt); err != nil {
				t.Fatal(err)
			}
			for _, want := range []string{"DEVICES BEFORE THE FLOOD", "DEVICES DURING THE FLOOD", "FLOOD", "devices kept", "agree with the generator's"} {
				if !bytes.Contains(txt.Bytes(), []byte(want)) {
					t.Errorf("text report lacks %q:\n%s", want, txt.String())
				}
			}
		})
	}
}

// JudgeFlood fails a run whose devices kept less than MinKept of their
// unflooded rate, whose flood sent nothing, or whose devices never logged in.
func TestJudgeFlood(t *testing.T) {
	ok := func() *result.Summary {
		return &result.Summary{
			Servers: []result.ServerSummary{{Server: result.ServerPlatform, Attempts: 95, Success: 95, SuccessRate: 95,
				Identities: []result.IdentityRow{{Identity: result.Good, Expected: result.OutcomeSuccess, Attempts: 95, AsExpected: 95}}}},
			Flood: &result.FloodSummary{FloodInfo: result.FloodInfo{MinKept: 0.9}, KeptShare: 0.95,
				Unflooded: &result.ServerSummary{Server: result.ServerPlatform, Attempts: 100, Success: 100, SuccessRate: 100,
					Identities: []result.IdentityRow{{Identity: result.Good, Expected: result.OutcomeSuccess, Attempts: 100, AsExpected: 100}}},
				Flood: &result.ServerSummary{Attempts: 200, Refused: 200}},
		}
	}
	if err := JudgeFlood(ok(), 0.05); err != nil {
		t.Fatalf("a flood run that kept 95%%: %v", err)
	}
	for name, tc := range map[string]struct {
		change func(s *result.Summary)
		want   string
	}{
		"kept too little":       {func(s *result.Summary) { s.Flood.KeptShare = 0.5; s.Servers[0].SuccessRate = 50 }, "kept 50% of their unflooded login rate"},
		"flood sent nothing":    {func(s *result.Summary) { s.Flood.Flood.Dropped = 200 }, "the flood sent no handshake"},
		"no login under flood":  {func(s *result.Summary) { s.Servers[0].Success = 0 }, "no device logged in during the flood"},
		"no flood part":         {func(s *result.Summary) { s.Flood = nil }, "no flood run was measured"},
		"broken before a flood": {func(s *result.Summary) { s.Flood.Unflooded.Unexpected = 50 }, "devices before the flood: 50 of 100 attempts"},
	} {
		s := ok()
		tc.change(s)
		err := JudgeFlood(s, 0.05)
		if err == nil || !bytes.Contains([]byte(err.Error()), []byte(tc.want)) {
			t.Errorf("%s: %v, want an error saying %q", name, err, tc.want)
		}
	}
	s := ok()
	s.Flood.KeptShare, s.Flood.MinKept = 0.1, -1 // not judged
	if err := JudgeFlood(s, 0.05); err != nil {
		t.Errorf("MinKept < 0 still judged the kept share: %v", err)
	}
}
