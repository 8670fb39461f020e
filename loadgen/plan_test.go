package loadgen

import (
	"testing"

	"github.com/certlab/certlab/iotda"
)

func TestParseShard(t *testing.T) {
	tests := []struct {
		in      string
		want    Shard
		wantErr bool
	}{
		{"", Shard{0, 1}, false},
		{"0/1", Shard{0, 1}, false},
		{"2/4", Shard{2, 4}, false},
		{"4/4", Shard{}, true},
		{"-1/4", Shard{}, true},
		{"1/0", Shard{}, true},
		{"1", Shard{}, true},
		{"a/b", Shard{}, true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseShard(tt.in)
			if (err != nil) != tt.wantErr || got != tt.want {
				t.Fatalf("ParseShard(%q) = %v, %v; want %v, err=%v", tt.in, got, err, tt.want, tt.wantErr)
			}
		})
	}
}

func TestShardsPartitionTheFleet(t *testing.T) {
	const n = 1001
	for _, count := range []int{1, 2, 3, 7} {
		seen := make([]int, n)
		for i := range count {
			for _, d := range (Shard{Index: i, Count: count}).Indexes(n) {
				seen[d]++
				if d%count != i {
					t.Fatalf("shard %d/%d holds device %d", i, count, d)
				}
			}
		}
		for d, c := range seen {
			if c != 1 {
				t.Fatalf("%d shards: device %d is in %d shards, want exactly 1", count, d, c)
			}
		}
	}
}

func TestBadPlanCountsAndKinds(t *testing.T) {
	tests := []struct {
		name  string
		n     int
		share float64
		want  int
	}{
		{"none", 1000, 0, 0},
		{"tenth of 1000", 1000, 0.1, 100},
		{"tenth of 1001", 1001, 0.1, 100},
		{"quarter of 1002", 1002, 0.25, 250},
		{"third of 999 (ppm resolution)", 999, 1.0 / 3, 332},
		{"all", 50, 1, 50},
		{"tiny", 10, 0.01, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := BadPlan{Share: tt.share}
			kinds := map[BadKind]int{}
			bad := 0
			for i := range tt.n {
				if k := p.Kind(i); k != Good {
					bad++
					kinds[k]++
				}
			}
			if bad != tt.want {
				t.Fatalf("bad devices = %d, want %d", bad, tt.want)
			}
			// The rotation spreads kinds within one of each other.
			for _, k := range DefaultBadKinds {
				if d := kinds[k] - bad/len(DefaultBadKinds); d < 0 || d > 1 {
					t.Errorf("kind %s: %d of %d bad devices", k, kinds[k], bad)
				}
			}
		})
	}
}

func TestExpectations(t *testing.T) {
	tests := []struct {
		name string
		kind BadKind
		mqtt int
		want Expectation
	}{
		{"good", Good, 4, Expectation{Outcome: OutcomeSuccess}},
		{"fingerprint v3.1.1", BadFingerprint, 4, Expectation{OutcomeRefused, PhaseConnect, iotda.ReasonFingerprintMismatch, 0x05}},
		{"fingerprint v5", BadFingerprint, 5, Expectation{OutcomeRefused, PhaseConnect, iotda.ReasonFingerprintMismatch, 0x87}},
		{"unregistered v3.1.1", BadUnregistered, 4, Expectation{OutcomeRefused, PhaseConnect, iotda.ReasonDeviceNotFound, 0x04}},
		{"unregistered v5", BadUnregistered, 5, Expectation{OutcomeRefused, PhaseConnect, iotda.ReasonDeviceNotFound, 0x86}},
		{"unknown CA", BadUnknownCA, 5, Expectation{OutcomeRefused, PhaseTLS, iotda.ReasonUnknownCA, 0}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := ExpectPlatform(tt.kind, tt.mqtt); got != tt.want {
				t.Fatalf("ExpectPlatform = %+v, want %+v", got, tt.want)
			}
		})
	}
	e := ExpectPlatform(BadFingerprint, 5)
	for name, r := range map[string]Result{
		"wrong code":    {Outcome: OutcomeRefused, Phase: PhaseConnect, ConnackCode: 0x86},
		"wrong phase":   {Outcome: OutcomeRefused, Phase: PhaseTLS},
		"success":       {Outcome: OutcomeSuccess},
		"timeout error": {Outcome: OutcomeError, Phase: PhaseConnect, ConnackCode: 0x87},
	} {
		if e.Matches(&r) {
			t.Errorf("%s: Matches = true, want false", name)
		}
	}
	if !e.Matches(&Result{Outcome: OutcomeRefused, Phase: PhaseConnect, ConnackCode: 0x87}) {
		t.Error("the expected refusal does not match")
	}
}
