package loadgen

import (
	"strings"
	"testing"
	"time"

	"github.com/certlab/certlab/loadgen/host"
	"github.com/certlab/certlab/loadgen/result"
	"github.com/certlab/certlab/platform/platformtest"
)

// TestCompareInRounds measures the platform, the bare crypto/tls baseline,
// the bare MQTT baseline (CONNECT -> CONNACK) and mosquitto in two
// interleaved rounds over real mutual TLS on loopback, on MQTT 3.1.1 and 5:
// every server confirms every login, every round of every server has its
// CPU per login, and the ratios are taken per round.
func TestCompareInRounds(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a platform, two baseline children and mosquitto")
	}
	compare := []string{result.ServerBaseline, result.ServerBaselineMQTT}
	if _, err := host.FindMosquitto(); err == nil {
		compare = append(compare, result.ServerMosquitto)
	} else {
		platformtest.Missing(t, err.Error())
	}
	p := platformtest.Start(t, platformtest.WithMetrics())
	target := p.Target()
	f := testFleet(t, 30, 1)
	if _, err := Prepare(t.Context(), target, f, PrepareOptions{Workers: 4}); err != nil {
		t.Fatal(err)
	}
	ids := testIdentities(t, f, IdentityOptions{})
	roots, err := target.RootCAs()
	if err != nil {
		t.Fatal(err)
	}
	all := compare
	for _, version := range []int{4, 5} {
		compare := all
		if version == 5 { // the bare MQTT server's CONNACK in MQTT 5's format; the rest is as on 3.1.1
			compare = []string{result.ServerBaselineMQTT}
		}
		t.Run(map[int]string{4: "MQTT 3.1.1", 5: "MQTT 5"}[version], func(t *testing.T) {
			ac := AttackConfig{Addr: target.MQTTAddress(), ServerName: target.ServerName(""), RootCAs: roots,
				KeyExchange: KexX25519, ConnectTimeout: 10 * time.Second, ServerCPU: host.MetricsCPU{URL: target.MetricsEndpoint},
				Workers: 4, Count: 20, MQTTVersion: version}
			s, err := Run(t.Context(), Config{Attack: ac, Baseline: testBaselineOptions(t), Compare: compare, Rounds: 2}, ids)
			if err != nil {
				t.Fatal(err)
			}
			for _, name := range append([]string{result.ServerPlatform}, compare...) {
				requireCounts(t, s.Server(name), 40, 40, 0) // 20 logins in each of 2 rounds
			}
			b := s.Bench
			if b == nil || b.Rounds != 2 || len(b.Servers) != len(compare)+1 {
				t.Fatalf("bench %+v, want 2 rounds of %d servers", b, len(compare)+1)
			}
			for _, bs := range b.Servers {
				for r, us := range bs.CPUPerLoginUs {
					if us <= 0 || bs.LoginsPerS[r] <= 0 {
						t.Errorf("%s round %d: %.0f µs per login at %.0f logins/s; want both measured", bs.Server, r+1, us, bs.LoginsPerS[r])
					}
				}
			}
			var names []string
			for _, r := range b.Ratios {
				names = append(names, r.Name)
				if r.N != 2 || r.Median <= 0 {
					t.Errorf("ratio %s: %+v, want a median over 2 rounds", r.Name, r.Spread)
				}
			}
			want := map[int]string{1: "platform / baseline-mqtt", 2: "platform / baseline,platform / baseline-mqtt",
				3: "platform / baseline,platform / baseline-mqtt,mosquitto / platform"}[len(compare)]
			if got := strings.Join(names, ","); got != want {
				t.Errorf("ratios %s, want %s", got, want)
			}
			for _, w := range s.Windows {
				if w.Round < 1 || w.Round > 2 || w.Logins != 20 {
					t.Errorf("window %s: round %d, %d logins; want round 1 or 2 and 20 logins", w.Server, w.Round, w.Logins)
				}
			}
		})
	}
}
