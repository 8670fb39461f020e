package loadgen

import (
	"testing"
	"time"

	"github.com/certlab/certlab/loadgen/result"
	"github.com/certlab/certlab/sim/fleet"
)

// testFleet mints a fleet of n devices over cas CAs in a temporary directory.
func testFleet(t *testing.T, n, cas int) *fleet.Fleet {
	t.Helper()
	f, err := fleet.Mint(t.Context(), t.TempDir(), fleet.Spec{Devices: n, CAs: cas})
	if err != nil {
		t.Fatalf("mint fleet: %v", err)
	}
	t.Cleanup(func() { _ = f.Close() })
	return f
}

func testIdentities(t *testing.T, f *fleet.Fleet, o IdentityOptions) []*Identity {
	t.Helper()
	ids, err := BuildIdentities(t.Context(), f, o)
	if err != nil {
		t.Fatalf("build identities: %v", err)
	}
	return ids
}

// requireCounts checks a server summary's outcome counts.
func requireCounts(t *testing.T, s *result.ServerSummary, attempts, success, refused int64) {
	t.Helper()
	if s == nil {
		t.Fatal("no summary for the server")
	}
	if s.Attempts != attempts || s.Success != success || s.Refused != refused || s.Errors != 0 || s.Dropped != 0 || s.Unexpected != 0 {
		t.Fatalf("%s: attempts %d success %d refused %d errors %d dropped %d unexpected %d; want %d, %d, %d and no errors\nbreakdown: %+v",
			s.Server, s.Attempts, s.Success, s.Refused, s.Errors, s.Dropped, s.Unexpected, attempts, success, refused, s.Breakdown)
	}
}

// The tls-only mode against the baseline child: real mutual TLS on
// loopback, a server-confirmed byte, refusals of unknown-CA certificates in
// the TLS phase under both versions, and the child's CPU measured apart.
func TestTLSOnlyAgainstBaseline(t *testing.T) {
	f := testFleet(t, 60, 2)
	ids := testIdentities(t, f, IdentityOptions{Bad: BadPlan{Share: 0.3}}) // 18 bad: 6 of each kind
	tests := []struct {
		name       string
		tls        string
		kex        KeyExchange
		resumption bool
	}{ // the last case verifies the server in full on every handshake
		{"TLS 1.3 X25519", "1.3", KexX25519, false},
		{"TLS 1.2 P-256", "1.2", KexP256, false},
		{"TLS 1.3 hybrid resumed", "1.3", KexHybrid, true},
		{"auto, full server verification", "", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := Run(t.Context(), Config{
				Attack: AttackConfig{Mode: result.ModeTLSOnly, Workers: 4, Count: 120, TLSVersion: tt.tls,
					KeyExchange: tt.kex, Resumption: tt.resumption, ConnectTimeout: 5 * time.Second,
					VerifyServer: map[bool]string{true: VerifyFull, false: VerifyCached}[tt.tls == ""]},
				Baseline: testBaselineOptions(t),
			}, ids)
			if err != nil {
				t.Fatal(err)
			}
			b := s.Server(result.ServerBaseline)
			// Each device twice; only the 6 unknown-CA devices are refused.
			requireCounts(t, b, 120, 108, 12)
			for _, row := range b.Breakdown {
				if row.Outcome == result.OutcomeRefused && row.Phase != result.PhaseTLS {
					t.Errorf("refusal in phase %q (%s), want tls", row.Phase, row.Reason)
				}
			}
			if want := map[bool]string{true: "1.3", false: tt.tls}[tt.tls == ""]; b.TLSVersion[want] != 108 {
				t.Errorf("TLS versions %v, want all %s", b.TLSVersion, tt.tls)
			}
			if tt.resumption != (b.Resumed > 0) {
				t.Errorf("resumed %d logins with resumption=%v", b.Resumed, tt.resumption)
			}
			if b.ServerCPU == nil || b.ServerCPU.Seconds <= 0 || b.ClientCPU.Seconds <= 0 {
				t.Errorf("CPU not measured: client %+v server %+v (%s)", b.ClientCPU, b.ServerCPU, b.ServerCPUNote)
			}
			if s.Server(result.ServerPlatform) != nil {
				t.Error("tls-only mode attacked the platform")
			}
		})
	}
}

func TestHoldAgainstBaseline(t *testing.T) {
	f := testFleet(t, 40, 1)
	ids := testIdentities(t, f, IdentityOptions{})
	s, err := Run(t.Context(), Config{
		Attack:       AttackConfig{Mode: result.ModeHold, Workers: 8, Duration: 100 * time.Millisecond, KeyExchange: KexX25519},
		Baseline:     testBaselineOptions(t),
		BaselineOnly: true,
	}, ids)
	if err != nil {
		t.Fatal(err)
	}
	b := s.Server(result.ServerBaseline)
	requireCounts(t, b, 40, 40, 0)
	if b.Held != 40 || b.HeldMemoryBytes <= 0 {
		t.Errorf("held %d sessions at %.0f bytes each; want 40 and a positive size", b.Held, b.HeldMemoryBytes)
	}
}

func TestRunRefusesNonsense(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		ids  []*Identity
	}{
		{"tls-only without baseline", Config{Attack: AttackConfig{Addr: "127.0.0.1:1", Mode: result.ModeTLSOnly, Count: 1}}, fakeIdentities(1)},
		{"no identities", Config{Attack: AttackConfig{Addr: "127.0.0.1:1", Count: 1}}, nil},
		{"neither duration nor count", Config{Attack: AttackConfig{Addr: "127.0.0.1:1"}}, fakeIdentities(1)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := Run(t.Context(), tt.cfg, tt.ids); err == nil {
				t.Fatal("Run succeeded")
			}
		})
	}
}
