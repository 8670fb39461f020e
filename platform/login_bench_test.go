package platform_test

import (
	"crypto/tls"
	"fmt"
	"testing"
	"time"

	"github.com/certlab/certlab/iotda"
	"github.com/certlab/certlab/platform/internal/proccpu"
	"github.com/certlab/certlab/platform/platformtest"
	"github.com/certlab/certlab/platform/registry"
)

// BenchmarkLoginRegistrySize measures one device login (TCP, TLS 1.3 mutual
// handshake with X25519, MQTT 3.1.1 CONNECT -> CONNACK 0x00, close) on the
// whole in-process platform (real registry file, status flushes, attempt
// log), with 2,000 and with 100,000 registered devices, in one run. Client
// and server share the process, so cpu-us/login counts both; the client's
// share is the same at both sizes, so the difference is what the registry's
// size costs a login: 2,000 devices take turns among 2,000 and among
// 100,000 registered, and 20,000 among 100,000 (every login a first one).
// This is the controlled version of scripts/bench-login.sh's 2,000 against
// 100,000 comparison, without a separate generator's noise.
func BenchmarkLoginRegistrySize(b *testing.B) {
	for _, bc := range []struct{ devices, active int }{{2000, 2000}, {100_000, 2000}, {100_000, 20_000}} {
		b.Run(fmt.Sprintf("devices=%d/active=%d", bc.devices, bc.active), func(b *testing.B) {
			tg, logins := registerForLogins(b, bc.devices, bc.active)
			b.ReportAllocs()
			cpu := proccpu.Start(b)
			i := 0
			for b.Loop() {
				l := logins[i%len(logins)]
				i++
				code, err := attackLogin(b, tg, l.cfg, l.connect)
				if err != nil || code != 0 {
					b.Fatalf("login: CONNACK 0x%02x, %v; want 0x00", code, err)
				}
			}
			cpu.Report("cpu-us/login")
		})
	}
}

// benchLogin is one device's login: its TLS configuration and its CONNECT,
// encoded once.
type benchLogin struct {
	cfg     *tls.Config
	connect []byte
}

// registerForLogins starts a platform with n devices registered under one
// verified CA and returns its target and active of them, spread evenly over
// the registration order, ready to log in. The others are bound to
// fingerprints no certificate here has and never log in, as in a large
// fleet; at 100,000 devices each status write of the active ones lands on a
// database page of its own. With more
// active devices than logins, every login is a device's first (its
// activation), as in scripts/bench-login.sh at 100,000 devices.
func registerForLogins(b *testing.B, n, active int) (*iotda.Target, []benchLogin) {
	b.Helper()
	p := platformtest.Start(b)
	tg, err := iotda.LoadTarget(p.TargetPath())
	if err != nil {
		b.Fatalf("target.json: %v", err)
	}
	ctx := b.Context()
	c := client(b, tg)
	ca := enrolCA(b, ctx, c, "bench CA")
	mqttProduct(b, ctx, c, "bench")
	roots, err := tg.RootCAs()
	if err != nil {
		b.Fatal(err)
	}
	every := n / active
	var out []benchLogin
	const chunk = 5000
	for start := 0; start < n; start += chunk {
		batch := make([]registry.NewDevice, 0, chunk)
		for i := start; i < start+chunk && i < n; i++ {
			nd := registry.NewDevice{NodeID: fmt.Sprintf("node-%07d", i), ProductID: "bench",
				AuthType: iotda.AuthCertificates, Fingerprint: fmt.Sprintf("%064x", i)}
			if i%every == 0 && len(out) < active {
				leaf, err := ca.NewDeviceCert(nd.NodeID)
				if err != nil {
					b.Fatal(err)
				}
				nd.Fingerprint = leaf.FingerprintSHA256()
				id := "bench_" + nd.NodeID
				out = append(out, benchLogin{
					cfg: &tls.Config{RootCAs: roots, ServerName: "localhost", Certificates: []tls.Certificate{leaf.TLSCertificate()},
						MinVersion: tls.VersionTLS13, CurvePreferences: []tls.CurveID{tls.X25519}},
					connect: connectPacket(b, iotda.ClientIDFor(id, time.Now()), id),
				})
			}
			batch = append(batch, nd)
		}
		if _, err := p.Registry().CreateDevices(ctx, tg.ProjectID, batch); err != nil {
			b.Fatalf("register devices: %v", err)
		}
	}
	return tg, out
}
