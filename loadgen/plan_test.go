package loadgen

import (
	"testing"

	"github.com/certlab/certlab/iotda"
	"github.com/certlab/certlab/loadgen/result"
)

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
			kinds := map[result.BadKind]int{}
			bad := 0
			for i := range tt.n {
				if k := p.Kind(i); k != result.Good {
					bad++
					kinds[k]++
				}
			}
			if bad != tt.want {
				t.Fatalf("bad devices = %d, want %d", bad, tt.want)
			}
			// The rotation spreads kinds within one of each other.
			for _, k := range result.DefaultBadKinds {
				if d := kinds[k] - bad/len(result.DefaultBadKinds); d < 0 || d > 1 {
					t.Errorf("kind %s: %d of %d bad devices", k, kinds[k], bad)
				}
			}
		})
	}
}

func TestExpectations(t *testing.T) {
	tests := []struct {
		name string
		kind result.BadKind
		mqtt int
		want Expectation
	}{
		{"good", result.Good, 4, Expectation{Outcome: result.OutcomeSuccess}},
		{"fingerprint v3.1.1", result.BadFingerprint, 4, Expectation{result.OutcomeRefused, result.PhaseConnect, iotda.ReasonFingerprintMismatch, 0x05}},
		{"fingerprint v5", result.BadFingerprint, 5, Expectation{result.OutcomeRefused, result.PhaseConnect, iotda.ReasonFingerprintMismatch, 0x87}},
		{"unregistered v3.1.1", result.BadUnregistered, 4, Expectation{result.OutcomeRefused, result.PhaseConnect, iotda.ReasonDeviceNotFound, 0x04}},
		{"unregistered v5", result.BadUnregistered, 5, Expectation{result.OutcomeRefused, result.PhaseConnect, iotda.ReasonDeviceNotFound, 0x86}},
		{"unknown CA", result.BadUnknownCA, 5, Expectation{result.OutcomeRefused, result.PhaseTLS, iotda.ReasonUnknownCA, 0}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := ExpectPlatform(tt.kind, tt.mqtt); got != tt.want {
				t.Fatalf("ExpectPlatform = %+v, want %+v", got, tt.want)
			}
		})
	}
	e := ExpectPlatform(result.BadFingerprint, 5)
	for name, r := range map[string]result.Result{
		"wrong code":    {Outcome: result.OutcomeRefused, Phase: result.PhaseConnect, ConnackCode: 0x86},
		"wrong phase":   {Outcome: result.OutcomeRefused, Phase: result.PhaseTLS},
		"success":       {Outcome: result.OutcomeSuccess},
		"timeout error": {Outcome: result.OutcomeError, Phase: result.PhaseConnect, ConnackCode: 0x87},
	} {
		if e.Matches(&r) {
			t.Errorf("%s: Matches = true, want false", name)
		}
	}
	if !e.Matches(&result.Result{Outcome: result.OutcomeRefused, Phase: result.PhaseConnect, ConnackCode: 0x87}) {
		t.Error("the expected refusal does not match")
	}
}
