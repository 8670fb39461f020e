package check

import (
	"strings"
	"testing"

	"github.com/certlab/certlab/iotda"
	"github.com/certlab/certlab/sim/device"
)

func intp(n int) *int { return &n }

// TestDecideWithoutPlatformRecord: on a target without a login-attempt log
// the verdict comes from the lint, else from the login and the refusal table.
func TestDecideWithoutPlatformRecord(t *testing.T) {
	failFP := Finding{Check: CheckFingerprint, Status: StatusFail, Reason: iotda.ReasonFingerprintMismatch, Message: "mismatch", Remedy: "register it"}
	warnKey := Finding{Check: CheckKey, Status: StatusWarn, Message: "RSA 1024", Remedy: "reissue"}
	refusedConnect := func(version string, code int) Login {
		return Login{MQTTVersion: version, Outcome: iotda.OutcomeRefused, Phase: string(device.PhaseConnect), ConnackCode: intp(code)}
	}
	tests := []struct {
		name         string
		checks       []Finding
		login        Login
		wantOK       bool
		wantReason   iotda.Reason
		wantRemedy   string // substring
		wantInWhy    string // substring of the explanation
		wantProblem  int    // number of problems
		inconclusive bool   // the platform was never reached
	}{
		{name: "success", checks: []Finding{warnKey}, login: Login{Outcome: "success", MQTTVersion: "3.1.1", TLSVersion: "TLS 1.3"},
			wantOK: true, wantReason: iotda.ReasonOK, wantInWhy: "logged in", wantProblem: 1},
		{name: "success despite a lint failure", checks: []Finding{failFP}, login: Login{Outcome: "success", MQTTVersion: "5"},
			wantOK: true, wantReason: iotda.ReasonOK, wantInWhy: "does not enforce", wantProblem: 1},
		{name: "lint explains the refusal", checks: []Finding{warnKey, failFP}, login: refusedConnect("3.1.1", 5),
			wantReason: iotda.ReasonFingerprintMismatch, wantRemedy: "register it", wantInWhy: "mismatch", wantProblem: 2},
		{name: "MQTT 5 code with one reason", login: refusedConnect("5", 0x8A),
			wantReason: iotda.ReasonDeviceFrozen, wantRemedy: "unfreeze", wantInWhy: "CONNACK 0x8a", wantProblem: 1},
		{name: "3.1.1 code shared by reasons", login: refusedConnect("3.1.1", 4),
			wantReason: "", wantInWhy: "one of device_not_found, username_mismatch", wantProblem: 1},
		{name: "TLS alert certificate required", login: Login{Outcome: "refused", Phase: "tls", Alert: "certificate required"},
			wantReason: iotda.ReasonNoClientCert, wantRemedy: "mutual TLS", wantProblem: 1},
		{name: "TLS alert bad certificate", login: Login{Outcome: "refused", Phase: "tls", Alert: "bad certificate"},
			wantReason: "", wantInWhy: "TLS handshake", wantProblem: 1},
		{name: "nobody listens", login: Login{Outcome: "error", Phase: "tcp", ClientReason: device.ReasonRefusedTCP, Error: "connection refused"},
			wantReason: "", wantRemedy: "mqtt_endpoint", wantInWhy: "could not be reached", wantProblem: 1, inconclusive: true},
		{name: "server certificate not trusted", login: Login{Outcome: "error", Phase: "tls", ClientReason: device.ReasonServerCert},
			wantRemedy: "ca_file", wantProblem: 1, inconclusive: true},
		{name: "timeout after TLS", login: Login{Outcome: "error", Phase: "connect", ClientReason: device.ReasonTimeout},
			wantRemedy: "did not answer in time", wantInWhy: "did not complete", wantProblem: 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := &Report{Checks: tc.checks, Login: tc.login}
			r.decide()
			if (r.Inconclusive != "") != tc.inconclusive {
				t.Errorf("inconclusive %q, want inconclusive %v", r.Inconclusive, tc.inconclusive)
			}
			if r.Compatible != tc.wantOK || r.Reason != tc.wantReason {
				t.Errorf("compatible=%v reason=%q, want %v %q", r.Compatible, r.Reason, tc.wantOK, tc.wantReason)
			}
			if !strings.Contains(r.Remedy, tc.wantRemedy) {
				t.Errorf("remedy %q, want it to mention %q", r.Remedy, tc.wantRemedy)
			}
			if !strings.Contains(r.Explanation, tc.wantInWhy) {
				t.Errorf("explanation %q, want it to mention %q", r.Explanation, tc.wantInWhy)
			}
			if len(r.Problems) != tc.wantProblem {
				t.Errorf("%d problems, want %d: %+v", len(r.Problems), tc.wantProblem, r.Problems)
			}
			var b strings.Builder
			if err := r.WriteText(&b); err != nil {
				t.Fatal(err)
			}
			if !tc.wantOK && r.Remedy != "" && !strings.Contains(b.String(), "remedy: "+r.Remedy) {
				t.Errorf("text report lacks the remedy:\n%s", b.String())
			}
		})
	}
}

func TestDecidePrefersThePlatformsReason(t *testing.T) {
	r := &Report{
		Checks:   []Finding{{Check: CheckValidity, Status: StatusFail, Reason: iotda.ReasonCertExpired, Message: "expired", Remedy: "renew"}},
		Login:    Login{Outcome: "refused", Phase: "tls", Alert: "bad certificate"},
		Platform: &iotda.LoginAttempt{Outcome: "refused", Stage: iotda.StageTLS, Reason: iotda.ReasonUnknownCA, Detail: "no CA"},
	}
	r.decide()
	if r.Reason != iotda.ReasonUnknownCA || !strings.Contains(r.Explanation, "no CA") {
		t.Fatalf("reason %q (%s), want the platform's unknown_ca", r.Reason, r.Explanation)
	}
	if r.Remedy != remedyFor(iotda.ReasonUnknownCA) {
		t.Errorf("remedy %q, want the table's for unknown_ca", r.Remedy)
	}
	if len(r.Problems) != 2 {
		t.Errorf("problems %+v: want the lint's and the platform's", r.Problems)
	}
}

func TestRemediesCoverEveryRefusal(t *testing.T) {
	for _, ref := range iotda.Refusals {
		r := ref.Reason
		if remedyFor(r) == "" {
			t.Errorf("no remedy for %s", r)
		}
	}
	for _, r := range []iotda.Reason{iotda.ReasonTLSHandshake, iotda.ReasonConnectTimeout, iotda.ReasonMalformedConnect} {
		if remedyFor(r) == "" {
			t.Errorf("no remedy for %s", r)
		}
	}
}
