package device

import (
	"bufio"
	"crypto/tls"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/certlab/certlab/iotda"
	"github.com/certlab/certlab/sim/pki"
)

// childBrokerEnv, when set to a directory holding server.pem, server.key and
// deviceca.pem, makes the test binary run only a broker (see TestMain): the
// memory test measures the client's heap without the broker's in it.
const childBrokerEnv = "CERTLAB_DEVICE_TEST_BROKER_DIR"

func TestMain(m *testing.M) {
	if dir := os.Getenv(childBrokerEnv); dir != "" {
		if err := runChildBroker(dir, os.Stdin, os.Stdout); err != nil {
			fmt.Fprintln(os.Stderr, "child broker:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// runChildBroker serves until stdin reaches EOF (the parent exited or closed it).
func runChildBroker(dir string, stdin io.Reader, stdout io.Writer) error {
	cert, err := tls.LoadX509KeyPair(filepath.Join(dir, "server.pem"), filepath.Join(dir, "server.key"))
	if err != nil {
		return fmt.Errorf("load server cert: %w", err)
	}
	caPEM, err := os.ReadFile(filepath.Join(dir, "deviceca.pem"))
	if err != nil {
		return fmt.Errorf("read device CA: %w", err)
	}
	cas, err := pki.ParseCertsPEM(caPEM)
	if err != nil {
		return fmt.Errorf("device CA: %w", err)
	}
	srv, _, addr, err := newBroker(&tls.Config{
		Certificates: []tls.Certificate{cert},
		ClientAuth:   tls.RequireAndVerifyClientCert,
		ClientCAs:    certPool(cas...),
		MinVersion:   tls.VersionTLS12,
	})
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "ADDR %s\n", addr)
	_, _ = io.Copy(io.Discard, stdin)
	return closeBroker(srv)
}

// startChildBroker runs a broker in a child process and returns its address.
func startChildBroker(t *testing.T, p *testPKI) string {
	t.Helper()
	dir := t.TempDir()
	key, err := p.server.KeyPEM()
	if err != nil {
		t.Fatal(err)
	}
	for name, data := range map[string][]byte{
		"server.pem": p.server.CertPEM(), "server.key": key, "deviceca.pem": pki.CertPEM(p.deviceCA.Cert),
	} {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childBrokerEnv+"="+dir)
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start child broker: %v", err)
	}
	t.Cleanup(func() {
		_ = stdin.Close()
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("child broker: %v", err)
			}
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			t.Errorf("child broker did not exit; killed")
		}
	})
	line := make(chan string, 1)
	go func() {
		l, _ := bufio.NewReader(stdout).ReadString('\n')
		line <- l
	}()
	select {
	case l := <-line:
		addr, ok := strings.CutPrefix(strings.TrimSpace(l), "ADDR ")
		if !ok {
			t.Fatalf("child broker said %q", l)
		}
		return addr
	case <-time.After(10 * time.Second):
		t.Fatal("child broker did not start within 10s")
		return ""
	}
}

// TestHeldSessionMemory measures what a held login costs the client: heap
// (including crypto/tls state) and goroutine stacks, per session, with the
// broker in another process. Budget: 32 KiB per held login, heap + stacks.
func TestHeldSessionMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("holds 200 sessions against a child-process broker")
	}
	p := getPKI(t)
	addr := startChildBroker(t, p)
	const n = 200
	const budget = 32 << 10

	// Identities are the device's, not the session's: build them first.
	devs := make([]Config, n)
	for i := range devs {
		d := newDevice(t, p.deviceCA, fmt.Sprintf("prod_mem-%d", i))
		cert := d.leaf.TLSCertificate()
		devs[i] = Config{
			Addr: addr,
			TLS: &tls.Config{ // ready: no per-login clone
				RootCAs: certPool(p.serverCA.Cert), ServerName: "localhost",
				GetClientCertificate: AlwaysPresent(cert),
			},
			ClientID: iotda.ClientIDFor(d.id, time.Now()),
			Username: d.id,
		}
	}
	for _, v := range []struct {
		name string
		mqtt iotda.MQTTVersion
		tls  uint16
	}{
		{"mqtt311-tls13", 4, tls.VersionTLS13},
		{"mqtt311-tls12", 4, tls.VersionTLS12},
		{"mqtt5-tls13", 5, tls.VersionTLS13},
	} {
		t.Run(v.name, func(t *testing.T) {
			sessions := make([]*Session, 0, n)
			closeAll := func() {
				for _, s := range sessions {
					_ = s.Close()
				}
				sessions = sessions[:0]
			}
			defer closeAll()
			cfgs := make([]Config, n)
			for i, cfg := range devs {
				cfg.MQTTVersion = v.mqtt
				cfg.TLS = cfg.TLS.Clone()
				cfg.TLS.MinVersion, cfg.TLS.MaxVersion = v.tls, v.tls
				cfgs[i] = cfg
			}
			before := memNow()
			for i, cfg := range cfgs {
				s, res := Login(t.Context(), cfg)
				if !res.OK() {
					t.Fatalf("login %d: %s %s %s %v", i, res.Outcome, res.Phase, res.Reason, res.Err)
				}
				sessions = append(sessions, s)
			}
			time.Sleep(100 * time.Millisecond) // let post-handshake tickets and goroutines settle
			after := memNow()
			heap := float64(after.heap-before.heap) / n
			stack := float64(after.stack-before.stack) / n
			gor := float64(after.goroutines-before.goroutines) / n
			t.Logf("%s: per held session: heap %.0f B, stacks %.0f B, total %.0f B, goroutines %.1f (n=%d)",
				v.name, heap, stack, heap+stack, gor, n)
			if heap+stack > budget {
				t.Errorf("held session costs %.0f B, budget %d B", heap+stack, budget)
			}
			runtime.KeepAlive(sessions)

			// Close ends every session goroutine (paho's included).
			closeAll()
			deadline := time.Now().Add(2 * time.Second)
			for runtime.NumGoroutine() > int(before.goroutines)+2 && time.Now().Before(deadline) {
				time.Sleep(10 * time.Millisecond)
			}
			if g := runtime.NumGoroutine(); g > int(before.goroutines)+2 {
				t.Errorf("%d goroutines after closing all sessions, %d before logging in", g, before.goroutines)
			}
		})
	}
}

type memSample struct {
	heap, stack, goroutines int64
}

func memNow() memSample {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return memSample{heap: int64(ms.HeapAlloc), stack: int64(ms.StackInuse), goroutines: int64(runtime.NumGoroutine())}
}
