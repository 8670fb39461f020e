package device

import (
	"crypto/tls"
	"testing"
	"time"

	"github.com/certlab/certlab/iotda"
)

// BenchmarkLogin churns full logins (TCP + mutual TLS + CONNECT/CONNACK) and
// DISCONNECTs against the in-process mochi broker: ns/op is client and broker
// together on this machine, allocs/op the client's and the broker's. The
// -probe case churns with LoginProbe, as the load generator does.
//
//	go test -run '^$' -bench BenchmarkLogin -benchmem ./sim/device
func BenchmarkLogin(b *testing.B) {
	br := startBroker(b)
	d := newDevice(b, br.deviceCA, "prod_bench")
	cert := d.leaf.TLSCertificate()
	for _, v := range []struct {
		name   string
		mqtt   iotda.MQTTVersion
		tls    uint16
		curves []tls.CurveID
		resume bool
		probe  bool // LoginProbe: DISCONNECT at once, no session
	}{
		{"mqtt311-tls13", 4, tls.VersionTLS13, nil, false, false},
		{"mqtt311-tls13-x25519", 4, tls.VersionTLS13, []tls.CurveID{tls.X25519}, false, false},
		{"mqtt311-tls13-x25519-probe", 4, tls.VersionTLS13, []tls.CurveID{tls.X25519}, false, true},
		{"mqtt311-tls13-resumed", 4, tls.VersionTLS13, nil, true, false},
		{"mqtt311-tls12", 4, tls.VersionTLS12, nil, false, false},
		{"mqtt5-tls13", 5, tls.VersionTLS13, nil, false, false},
	} {
		b.Run(v.name, func(b *testing.B) {
			tc := &tls.Config{ // ready: no per-login clone
				RootCAs: certPool(br.serverCA.Cert), ServerName: "localhost",
				GetClientCertificate: AlwaysPresent(cert),
				MinVersion:           v.tls, MaxVersion: v.tls, CurvePreferences: v.curves,
			}
			if v.resume {
				tc.ClientSessionCache = tls.NewLRUClientSessionCache(1)
			}
			cfg := Config{
				Addr: br.addr, TLS: tc, MQTTVersion: v.mqtt,
				ClientID: iotda.ClientIDFor(d.id, time.Now()), Username: d.id, ConnectTimeout: 5 * time.Second,
			}
			var tlsTime, connack time.Duration
			resumed := 0
			b.ReportAllocs()
			for b.Loop() {
				if v.probe {
					res := LoginProbe(b.Context(), cfg)
					if !res.OK() {
						b.Fatalf("login: %s %s %s %v", res.Outcome, res.Phase, res.Reason, res.Err)
					}
					tlsTime += res.TLSHandshake
					connack += res.Connack
					continue
				}
				s, res := Login(b.Context(), cfg)
				if !res.OK() {
					b.Fatalf("login: %s %s %s %v", res.Outcome, res.Phase, res.Reason, res.Err)
				}
				if v.resume {
					// A round trip makes sure the ticket sent after the
					// handshake has been read before the next login.
					if _, err := s.Subscribe(b.Context(), iotda.DeviceTopic(d.id, iotda.TopicMessagesDown), 0); err != nil {
						b.Fatal(err)
					}
				}
				_ = s.Close()
				tlsTime += res.TLSHandshake
				connack += res.Connack
				if res.DidResume {
					resumed++
				}
			}
			b.ReportMetric(float64(tlsTime.Microseconds())/float64(b.N), "tls-µs/op")
			b.ReportMetric(float64(connack.Microseconds())/float64(b.N), "connack-µs/op")
			if v.resume {
				b.ReportMetric(float64(resumed)/float64(b.N), "resumed/op")
			}
		})
	}
}
