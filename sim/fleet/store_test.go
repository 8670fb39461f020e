package fleet

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/certlab/certlab/sim/pki"
)

var nodeIDRule = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`) // [DEV-NODEID]

func TestNodeID(t *testing.T) {
	tests := []struct {
		name   string
		prefix string
		i      int
		want   string
		kind   NodeIDKind
	}{
		{"first MAC", "", 0, "a4c138000000", KindMAC},
		{"first serial", "", 1, "SN0000000000", KindSerial},
		// IMEI check digits computed by hand: 35209900000000 -> Luhn sum 24 -> 6.
		{"first IMEI", "", 2, "352099000000006", KindIMEI},
		{"second MAC", "", 3, "a4c138000001", KindMAC},
		{"MAC hex digits", "", 3 * 255, "a4c1380000ff", KindMAC},
		{"serial 12345", "", 1 + 3*12345, "SN0000012345", KindSerial},
		{"IMEI before TAC step", "", 2 + 3*999_999, "352099009999992", KindIMEI},
		{"IMEI after TAC step", "", 2 + 3*1_000_000, "352099010000004", KindIMEI},
		{"prefixed", "lab-7_", 4, "lab-7_SN0000000001", KindSerial},
		{"last MAC", "", MaxDevices - 3, "a4c138ffffff", KindMAC},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := NodeID(tc.prefix, tc.i)
			if got != tc.want {
				t.Errorf("NodeID(%q, %d) = %q, want %q", tc.prefix, tc.i, got, tc.want)
			}
			if KindOf(tc.i) != tc.kind {
				t.Errorf("KindOf(%d) = %s, want %s", tc.i, KindOf(tc.i), tc.kind)
			}
			if !nodeIDRule.MatchString(got) {
				t.Errorf("%q breaks the node_id rule", got)
			}
			if tc.kind == KindIMEI && (len(got) != 15 || !LuhnValid(got)) {
				t.Errorf("%q is not a 15-digit Luhn-valid IMEI", got)
			}
		})
	}
	// A published IMEI example: 49015420323751 has check digit 8.
	if d := LuhnCheckDigit("49015420323751"); d != 8 {
		t.Errorf("LuhnCheckDigit = %d, want 8", d)
	}
	if LuhnValid("490154203237517") || !LuhnValid("490154203237518") || LuhnValid("49015420323751x") {
		t.Error("LuhnValid disagrees with the published example")
	}
	seen := make(map[string]int, 30_000)
	for i := range 30_000 {
		id := NodeID("", i)
		if j, dup := seen[id]; dup {
			t.Fatalf("devices %d and %d share node ID %q", j, i, id)
		}
		seen[id] = i
		if len(id) > MaxNodeIDLen {
			t.Fatalf("%q is longer than MaxNodeIDLen", id)
		}
	}
}

func TestSpecValidation(t *testing.T) {
	tests := []struct {
		name string
		spec Spec
		ok   bool
	}{
		{"defaults", Spec{Devices: 1}, true},
		{"100 CAs", Spec{Devices: 1, CAs: 100}, true}, // [CA-QUOTA]
		{"101 CAs", Spec{Devices: 1, CAs: 101}, false},
		{"negative CAs", Spec{Devices: 1, CAs: -1}, false},
		{"no devices", Spec{Devices: 0}, false},
		{"too many devices", Spec{Devices: MaxDevices + 1}, false},
		{"prefix with colon", Spec{Devices: 1, NodeIDPrefix: "a4:c1"}, false},
		{"longest prefix", Spec{Devices: 1, NodeIDPrefix: "p234567890123456789012345678901234567890123456789"}, true},
		{"prefix too long", Spec{Devices: 1, NodeIDPrefix: "p2345678901234567890123456789012345678901234567890"}, false},
		{"unknown key type", Spec{Devices: 1, KeyType: "dsa"}, false},
		{"weak RSA refused", Spec{Devices: 1, KeyType: pki.RSA1024}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.spec.withDefaults().validate()
			if (err == nil) != tc.ok {
				t.Errorf("validate = %v, want ok=%v", err, tc.ok)
			}
		})
	}
	// Mint refuses an invalid spec before touching the disk.
	dir := filepath.Join(t.TempDir(), "fleet")
	if _, err := Mint(t.Context(), dir, Spec{Devices: 1, CAs: 101}); err == nil {
		t.Error("Mint accepted 101 CAs")
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Mint created %s for an invalid spec", dir)
	}
}

func mintFleet(t *testing.T, dir string, spec Spec) *Fleet {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	f, err := Mint(ctx, dir, spec)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

func TestMintAndLoad(t *testing.T) {
	dir := t.TempDir()
	spec := Spec{Devices: 601, CAs: 3, NodeIDPrefix: "t-", Workers: 2} // 601: chunks of 256 with a ragged tail
	minted := mintFleet(t, dir, spec)

	for _, name := range []string{ManifestFile, "ca-000/ca.pem", "ca-002/" + DevicesFile, "ca-002/" + IndexFile} {
		if _, err := os.Stat(filepath.Join(dir, name)); err != nil {
			t.Errorf("missing %s: %v", name, err)
		}
	}
	for _, name := range []string{"ca-001/ca.key", "ca-001/" + DevicesFile} {
		if fi, err := os.Stat(filepath.Join(dir, name)); err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("%s holds private keys: mode %v (%v), want 0600", name, fi.Mode(), err)
		}
	}

	f, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if f.ID != minted.ID || f.Len() != 601 || len(f.CAs()) != 3 {
		t.Fatalf("loaded fleet %s with %d devices and %d CAs, want %s, 601, 3", f.ID, f.Len(), len(f.CAs()), minted.ID)
	}
	if got := []int{f.Info[0].Devices, f.Info[1].Devices, f.Info[2].Devices}; got[0] != 201 || got[1] != 200 || got[2] != 200 {
		t.Errorf("devices per CA %v, want [201 200 200]", got)
	}
	if f.CA(0).Cert.Subject.CommonName == f.CA(1).Cert.Subject.CommonName {
		t.Error("two CAs share a subject name")
	}

	fingerprints := map[string]bool{}
	n := 0
	for id, err := range f.All() {
		if err != nil {
			t.Fatal(err)
		}
		if id.Index != n || id.NodeID != NodeID("t-", n) || id.CAIndex != n%3 {
			t.Fatalf("device %d: got index %d node %q CA %d", n, id.Index, id.NodeID, id.CAIndex)
		}
		requireIssuedBy(t, id, f.CA(id.CAIndex))
		if fingerprints[id.FingerprintSHA256] {
			t.Fatalf("device %d repeats a fingerprint", n)
		}
		fingerprints[id.FingerprintSHA256] = true
		n++
	}
	if n != 601 {
		t.Fatalf("All yielded %d identities, want 601", n)
	}
	if _, err := f.Device(601); err == nil {
		t.Error("Device(601) succeeded on a 601-device fleet")
	}
	if _, err := f.Device(-1); err == nil {
		t.Error("Device(-1) succeeded")
	}
}

// requireIssuedBy checks that id is a usable device identity of ca.
func requireIssuedBy(t *testing.T, id Identity, ca *pki.CA) {
	t.Helper()
	roots := x509.NewCertPool()
	roots.AddCert(ca.Cert)
	if _, err := id.Leaf.Cert.Verify(x509.VerifyOptions{Roots: roots, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		t.Fatalf("device %d does not verify under CA %d: %v", id.Index, id.CAIndex, err)
	}
	if !id.Leaf.KeyMatches() {
		t.Fatalf("device %d: key does not match its certificate", id.Index)
	}
	if id.FingerprintSHA256 != id.Leaf.FingerprintSHA256() {
		t.Fatalf("device %d: stored fingerprint %s, certificate's %s", id.Index, id.FingerprintSHA256, id.Leaf.FingerprintSHA256())
	}
	if id.Leaf.Cert.Subject.CommonName != id.NodeID {
		t.Fatalf("device %d: CN %q, want the node ID %q", id.Index, id.Leaf.Cert.Subject.CommonName, id.NodeID)
	}
}

// TestFleetIdentityLogsIn uses stored identities in real mutual-TLS
// handshakes against a server trusting all the fleet's CAs.
func TestFleetIdentityLogsIn(t *testing.T) {
	f := mintFleet(t, t.TempDir(), Spec{Devices: 4, CAs: 2, KeyType: pki.Ed25519})
	pool := x509.NewCertPool()
	for _, ca := range f.CAs() {
		pool.AddCert(ca.Cert)
	}
	srvCA, err := pki.NewRootCA("server CA")
	if err != nil {
		t.Fatal(err)
	}
	srv, err := srvCA.NewServerCert("localhost", []string{"localhost"})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	srvConf := &tls.Config{Certificates: []tls.Certificate{srv.TLSCertificate()}, ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: pool}
	var wg sync.WaitGroup
	wg.Go(func() {
		for range f.Len() {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
			tc := tls.Server(conn, srvConf)
			if tc.Handshake() == nil {
				_, _ = tc.Write([]byte{1})
			}
			tc.Close()
		}
	})
	defer wg.Wait()
	srvRoots := x509.NewCertPool()
	srvRoots.AddCert(srvCA.Cert)
	for id, err := range f.All() {
		if err != nil {
			t.Fatal(err)
		}
		if got := pki.KeyDescription(id.Leaf.Cert.PublicKey); got != "Ed25519" {
			t.Errorf("device %d key %s, want Ed25519", id.Index, got)
		}
		ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
		d := tls.Dialer{Config: &tls.Config{RootCAs: srvRoots, ServerName: "localhost", Certificates: []tls.Certificate{id.Leaf.TLSCertificate()}}}
		conn, err := d.DialContext(ctx, "tcp", ln.Addr().String())
		if err == nil {
			_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
			_, err = io.ReadFull(conn, make([]byte, 1)) // TLS 1.3: the server's verdict arrives after Dial
			conn.Close()
		}
		cancel()
		if err != nil {
			t.Errorf("device %d (%s) login: %v", id.Index, id.NodeID, err)
		}
	}
}

func TestLoadOrMint(t *testing.T) {
	dir := t.TempDir()
	ctx := t.Context()
	first, err := LoadOrMint(ctx, dir, Spec{Devices: 10, CAs: 3})
	if err != nil {
		t.Fatal(err)
	}
	first.Close()

	// Same spec (Workers does not count): the stored fleet is reused.
	again, err := LoadOrMint(ctx, dir, Spec{Devices: 10, CAs: 3, KeyType: pki.ECDSAP256, Workers: 7})
	if err != nil {
		t.Fatal(err)
	}
	again.Close()
	if again.ID != first.ID {
		t.Errorf("same spec re-minted: ID %s, then %s", first.ID, again.ID)
	}

	// Another spec: Matches explains, LoadOrMint re-mints and drops stale CA dirs.
	changed := Spec{Devices: 5, CAs: 1}
	if err := again.Matches(changed); !errors.Is(err, ErrSpecMismatch) {
		t.Errorf("Matches(other spec) = %v, want ErrSpecMismatch", err)
	}
	re, err := LoadOrMint(ctx, dir, changed)
	if err != nil {
		t.Fatal(err)
	}
	defer re.Close()
	if re.ID == first.ID || re.Len() != 5 || len(re.CAs()) != 1 {
		t.Errorf("re-minted fleet %s with %d devices, %d CAs", re.ID, re.Len(), len(re.CAs()))
	}
	if _, err := os.Stat(filepath.Join(dir, "ca-002")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("stale ca-002 left behind: %v", err)
	}
	id, err := re.Device(4)
	if err != nil {
		t.Fatal(err)
	}
	requireIssuedBy(t, id, re.CA(0))
}

func TestLoadRefusesBrokenFleets(t *testing.T) {
	if _, err := Load(t.TempDir()); !errors.Is(err, ErrNoFleet) {
		t.Errorf("empty dir: %v, want ErrNoFleet", err)
	}
	tests := []struct {
		name   string
		damage func(t *testing.T, dir string)
		onLoad bool // the damage shows at Load (else at Device)
	}{
		{"truncated index", func(t *testing.T, dir string) {
			truncate(t, filepath.Join(dir, "ca-001", IndexFile), 8)
		}, true},
		{"CA replaced", func(t *testing.T, dir string) {
			ca, err := pki.NewRootCA("impostor")
			if err != nil {
				t.Fatal(err)
			}
			if err := ca.WriteFiles(filepath.Join(dir, "ca-000"), "ca"); err != nil {
				t.Fatal(err)
			}
		}, true},
		{"manifest garbage", func(t *testing.T, dir string) {
			if err := os.WriteFile(filepath.Join(dir, ManifestFile), []byte("{"), 0o644); err != nil {
				t.Fatal(err)
			}
		}, true},
		{"truncated devices", func(t *testing.T, dir string) {
			truncate(t, filepath.Join(dir, "ca-001", DevicesFile), 100)
		}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			mintFleet(t, dir, Spec{Devices: 6, CAs: 2})
			tc.damage(t, dir)
			f, err := Load(dir)
			if tc.onLoad {
				if !errors.Is(err, ErrCorrupt) {
					t.Fatalf("Load = %v, want ErrCorrupt", err)
				}
				if _, err := LoadOrMint(t.Context(), dir, Spec{Devices: 6, CAs: 2}); !errors.Is(err, ErrCorrupt) {
					t.Errorf("LoadOrMint replaced a corrupt fleet: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			if _, err := f.Device(0); err != nil {
				t.Errorf("undamaged CA 0: %v", err)
			}
			if _, err := f.Device(5); !errors.Is(err, ErrCorrupt) {
				t.Errorf("Device(5) = %v, want ErrCorrupt", err)
			}
		})
	}
}

func truncate(t *testing.T, path string, size int64) {
	t.Helper()
	if err := os.Truncate(path, size); err != nil {
		t.Fatal(err)
	}
}

func TestMintCancelled(t *testing.T) {
	dir := t.TempDir()
	mintFleet(t, dir, Spec{Devices: 3})
	ctx, cancel := context.WithCancelCause(t.Context())
	stop := errors.New("operator stopped minting")
	time.AfterFunc(20*time.Millisecond, func() { cancel(stop) })
	start := time.Now()
	_, err := Mint(ctx, dir, Spec{Devices: 1_000_000, Workers: 2})
	if !errors.Is(err, stop) {
		t.Fatalf("Mint = %v, want the cancellation cause", err)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("Mint took %v to stop", took)
	}
	if _, err := Load(dir); !errors.Is(err, ErrNoFleet) {
		t.Errorf("Load after a cancelled mint = %v, want ErrNoFleet (the old fleet is invalidated)", err)
	}
}

func TestConcurrentReads(t *testing.T) {
	f := mintFleet(t, t.TempDir(), Spec{Devices: 40, CAs: 4})
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for w := range 8 {
		wg.Go(func() {
			for i := w; i < f.Len(); i += 3 {
				id, err := f.Device(i)
				if err != nil {
					errs <- err
					return
				}
				if id.NodeID != NodeID("", i) {
					errs <- errors.New("wrong identity " + id.NodeID)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := f.Device(0); err == nil {
		t.Error("Device after Close succeeded")
	}
}

func TestMintIsDeterministicPerIndex(t *testing.T) {
	a := mintFleet(t, t.TempDir(), Spec{Devices: 7, CAs: 2, NodeIDPrefix: "d"})
	b := mintFleet(t, t.TempDir(), Spec{Devices: 7, CAs: 2, NodeIDPrefix: "d", Workers: 1})
	for i := range 7 {
		x, err := a.Device(i)
		if err != nil {
			t.Fatal(err)
		}
		y, err := b.Device(i)
		if err != nil {
			t.Fatal(err)
		}
		if x.NodeID != y.NodeID || x.CAIndex != y.CAIndex {
			t.Errorf("device %d: %s/CA %d vs %s/CA %d", i, x.NodeID, x.CAIndex, y.NodeID, y.CAIndex)
		}
		if x.FingerprintSHA256 == y.FingerprintSHA256 {
			t.Errorf("device %d: two fleets share a certificate", i)
		}
	}
}

// BenchmarkMint100k mints 100,000 ECDSA P-256 identities over 100 CAs and
// reports the time and the peak live heap; it fails above 30 s. Run it with
//
//	go test -run '^$' -bench Mint100k -benchtime 1x ./sim/fleet/
func BenchmarkMint100k(b *testing.B) {
	const devices = 100_000
	for b.Loop() {
		dir := b.TempDir()
		var peak uint64
		done := make(chan struct{})
		var wg sync.WaitGroup
		wg.Go(func() {
			tick := time.NewTicker(50 * time.Millisecond)
			defer tick.Stop()
			var ms runtime.MemStats
			for {
				runtime.ReadMemStats(&ms)
				peak = max(peak, ms.HeapAlloc)
				select {
				case <-done:
					return
				case <-tick.C:
				}
			}
		})
		start := time.Now()
		f, err := Mint(b.Context(), dir, Spec{Devices: devices, CAs: 100})
		took := time.Since(start)
		close(done)
		wg.Wait()
		if err != nil {
			b.Fatal(err)
		}
		f.Close()
		var size int64
		_ = filepath.Walk(dir, func(_ string, fi os.FileInfo, _ error) error {
			if fi != nil && !fi.IsDir() {
				size += fi.Size()
			}
			return nil
		})
		b.ReportMetric(took.Seconds(), "s/100k")
		b.ReportMetric(float64(peak)/(1<<20), "peak-heap-MiB")
		b.ReportMetric(float64(size)/(1<<20), "disk-MiB")
		b.Logf("minted %d identities over 100 CAs in %v with GOMAXPROCS=%d; peak heap %.1f MiB; %.1f MiB on disk",
			devices, took.Round(time.Millisecond), runtime.GOMAXPROCS(0), float64(peak)/(1<<20), float64(size)/(1<<20))
		if took > 30*time.Second {
			b.Errorf("minting took %v, want <= 30s", took)
		}
	}
}

// BenchmarkDevice measures reading one stored identity (two ReadAt calls,
// JSON, certificate and key parsing).
func BenchmarkDevice(b *testing.B) {
	f, err := Mint(b.Context(), b.TempDir(), Spec{Devices: 1000, CAs: 10})
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	i := 0
	for b.Loop() {
		if _, err := f.Device(i % 1000); err != nil {
			b.Fatal(err)
		}
		i += 7
	}
}
