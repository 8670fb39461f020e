package platform_test

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/certlab/certlab/iotda"
	"github.com/certlab/certlab/platform"
	"github.com/certlab/certlab/platform/platformtest"
	"github.com/certlab/certlab/sim/device"
	"github.com/certlab/certlab/sim/pki"
)

// childDataDirEnv makes the test binary run a platform instead of tests (see TestMain).
const childDataDirEnv = "CERTLAB_PLATFORM_CHILD_DIR"

func TestMain(m *testing.M) {
	if dir := os.Getenv(childDataDirEnv); dir != "" {
		os.Exit(runChildPlatform(dir))
	}
	os.Exit(m.Run())
}

// runChildPlatform serves a platform until killed; the parent test kills it with SIGKILL.
func runChildPlatform(dir string) int {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	cfg := platform.Config{DataDir: dir, APIAddr: "127.0.0.1:0", MQTTAddr: "127.0.0.1:0", MetricsAddr: "off"}
	childLogging(&cfg)                        // amplification_test.go
	if err := childLimits(&cfg); err != nil { // limits_test.go
		fmt.Fprintln(os.Stderr, "child platform:", err)
		return 1
	}
	p, err := platform.New(cfg)
	if err == nil {
		err = p.Start(ctx)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "child platform:", err)
		return 1
	}
	<-ctx.Done()
	_ = p.Close()
	return 0
}

func client(t testing.TB, tg *iotda.Target) *iotda.Client {
	t.Helper()
	c, err := tg.Client()
	if err != nil {
		t.Fatalf("client: %v", err)
	}
	return c
}

// enrolCA uploads and verifies a fresh device CA; it returns the CA.
func enrolCA(t testing.TB, ctx context.Context, c *iotda.Client, cn string) *pki.CA {
	t.Helper()
	ca, err := pki.NewRootCA(cn)
	if err != nil {
		t.Fatal(err)
	}
	up, err := c.AddCertificate(ctx, iotda.CreateCertificateDto{Content: string(pki.CertPEM(ca.Cert))})
	if err != nil {
		t.Fatalf("upload CA: %v", err)
	}
	v, err := ca.NewVerificationCert(up.VerifyCode)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.CheckCertificate(ctx, up.CertificateID, iotda.VerifyCertificateDto{VerifyContent: string(pki.CertPEM(v.Cert))}); err != nil {
		t.Fatalf("verify CA: %v", err)
	}
	return ca
}

func mqttProduct(t testing.TB, ctx context.Context, c *iotda.Client, id string) {
	t.Helper()
	_, err := c.CreateProduct(ctx, iotda.AddProduct{ProductID: &id, Name: id, DeviceType: "sensor", ProtocolType: "MQTT", DataFormat: "json"})
	if err != nil {
		t.Fatalf("create product: %v", err)
	}
}

func certDevice(t testing.TB, ctx context.Context, c *iotda.Client, productID, nodeID, fingerprint string) *iotda.Device {
	t.Helper()
	auth := iotda.AuthCertificates
	d, err := c.AddDevice(ctx, iotda.AddDevice{NodeID: nodeID, ProductID: productID,
		AuthInfo: &iotda.AuthInfo{AuthType: &auth, Fingerprint: &fingerprint}})
	if err != nil {
		t.Fatalf("add device: %v", err)
	}
	return d
}

func login(t *testing.T, ctx context.Context, tg *iotda.Target, leaf *pki.Leaf, deviceID string, version iotda.MQTTVersion) (*device.Session, device.Result) {
	t.Helper()
	roots, err := tg.RootCAs()
	if err != nil {
		t.Fatal(err)
	}
	return device.Login(ctx, device.Config{
		Addr:        tg.MQTTEndpoint,
		TLS:         &tls.Config{RootCAs: roots, ServerName: "localhost", Certificates: []tls.Certificate{leaf.TLSCertificate()}},
		MQTTVersion: version,
		ClientID:    iotda.ClientIDFor(deviceID, time.Now()),
		Username:    deviceID,
		Keepalive:   120,
	})
}

// TestEndToEnd walks the documented procedure over the platform's real
// listeners: upload and verify a CA, register a device bound to its
// certificate fingerprint, log it in on MQTT 3.1.1 and 5, and find the
// attempts in the login log.
func TestEndToEnd(t *testing.T) {
	p := platformtest.Start(t, platformtest.WithMetrics())
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	tg, err := iotda.LoadTarget(p.TargetPath())
	if err != nil {
		t.Fatalf("target.json: %v", err)
	}
	c := client(t, tg)
	ca := enrolCA(t, ctx, c, "e2e CA")
	mqttProduct(t, ctx, c, "e2eprod")
	leaf, err := ca.NewDeviceCert("dev")
	if err != nil {
		t.Fatal(err)
	}
	d := certDevice(t, ctx, c, "e2eprod", "a4c138000001", leaf.FingerprintSHA256())
	if d.DeviceID != "e2eprod_a4c138000001" || d.Status != iotda.StatusInactive {
		t.Fatalf("device = %q status %q, want e2eprod_a4c138000001 INACTIVE", d.DeviceID, d.Status)
	}
	for _, v := range []iotda.MQTTVersion{4, 5} {
		s, res := login(t, ctx, tg, leaf, d.DeviceID, v)
		if res.Outcome != iotda.OutcomeSuccess {
			t.Fatalf("MQTT v%d login: %+v", v, res)
		}
		got, err := c.ShowDevice(ctx, d.DeviceID)
		if err != nil {
			t.Fatal(err)
		}
		if got.Status != iotda.StatusOnline || got.ActiveTime == "" {
			t.Errorf("after login: status %q active_time %q, want ONLINE and set", got.Status, got.ActiveTime)
		}
		_ = s.Close()
	}
	atts, err := c.LoginAttempts(ctx, iotda.LoginAttemptFilter{DeviceID: d.DeviceID, Limit: 10})
	if err != nil {
		t.Fatalf("login attempts: %v", err)
	}
	if len(atts.Attempts) != 2 || atts.Attempts[0].Reason != iotda.ReasonOK {
		t.Fatalf("login attempts = %+v, want two successes", atts.Attempts)
	}

	// A certificate the device is not bound to is refused at CONNECT.
	other, err := ca.NewDeviceCert("other")
	if err != nil {
		t.Fatal(err)
	}
	_, res := login(t, ctx, tg, other, d.DeviceID, 4)
	if res.Outcome != iotda.OutcomeRefused || res.ConnackCode != 0x05 {
		t.Fatalf("wrong certificate: %+v, want refused with CONNACK 0x05", res)
	}
}

// TestRestartKeepsState restarts a platform on the same data directory.
func TestRestartKeepsState(t *testing.T) {
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	p := platformtest.Start(t, platformtest.WithDataDir(dir))
	tg := p.Target()
	c := client(t, tg)
	ca := enrolCA(t, ctx, c, "restart CA")
	mqttProduct(t, ctx, c, "rprod")
	leaf, err := ca.NewDeviceCert("dev")
	if err != nil {
		t.Fatal(err)
	}
	d := certDevice(t, ctx, c, "rprod", "SN0001", leaf.FingerprintSHA256())
	if err := p.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}

	p2 := platformtest.Start(t, platformtest.WithDataDir(dir))
	tg2 := p2.Target()
	if tg2.ProjectID != tg.ProjectID || tg2.AccessKey != tg.AccessKey {
		t.Fatalf("project changed across restart: %s/%s -> %s/%s", tg.ProjectID, tg.AccessKey, tg2.ProjectID, tg2.AccessKey)
	}
	s, res := login(t, ctx, tg2, leaf, d.DeviceID, 5)
	if res.Outcome != iotda.OutcomeSuccess {
		t.Fatalf("login after restart: %+v", res)
	}
	_ = s.Close()
}

// startChildPlatform runs a platform in a child process on dir and waits for
// its target file; the child is killed when the test ends.
func startChildPlatform(t *testing.T, dir string) (*exec.Cmd, *iotda.Target) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childDataDirEnv+"="+dir)
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	targetPath := filepath.Join(dir, platform.TargetFile)
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		tg, err := iotda.LoadTarget(targetPath)
		if err == nil {
			return cmd, tg
		}
		if time.Now().After(deadline) {
			t.Fatalf("child platform not ready: %v", err)
		}
	}
}

// TestKill9LeavesNoDeviceOnline: devices holding sessions on a platform that
// is SIGKILLed are OFFLINE once it restarts, not ONLINE forever (no session
// survives a restart), so down messages to them get 409 at once and the
// console shows no ghosts. [DEV-STATUS]
func TestKill9LeavesNoDeviceOnline(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a child process")
	}
	dir := t.TempDir()
	cmd, tg := startChildPlatform(t, dir)
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	c := client(t, tg)
	ca := enrolCA(t, ctx, c, "kill-9 status CA")
	mqttProduct(t, ctx, c, "k9status")
	const n = 8
	var ids []string
	for i := range n {
		leaf, err := ca.NewDeviceCert(fmt.Sprintf("k9status-%d", i))
		if err != nil {
			t.Fatal(err)
		}
		d := certDevice(t, ctx, c, "k9status", fmt.Sprintf("n%d", i), leaf.FingerprintSHA256())
		s, res := login(t, ctx, tg, leaf, d.DeviceID, 4)
		if s == nil {
			t.Fatalf("login %s: %+v", d.DeviceID, res)
		}
		t.Cleanup(func() { _ = s.Close() })
		ids = append(ids, d.DeviceID)
	}
	for _, id := range ids {
		if d, err := c.ShowDevice(ctx, id); err != nil || d.Status != iotda.StatusOnline {
			t.Fatalf("device %s before the kill: %+v, %v; want ONLINE", id, d, err)
		}
	}
	time.Sleep(500 * time.Millisecond) // the status batcher persists within 100 ms
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()

	p := platformtest.Start(t, platformtest.WithDataDir(dir))
	c2 := platformtest.Client(t, p)
	online := 0
	for _, id := range ids {
		d, err := c2.ShowDevice(ctx, id)
		if err != nil {
			t.Fatalf("show %s after restart: %v", id, err)
		}
		if d.Status == iotda.StatusOnline {
			online++
		}
	}
	if online > 0 {
		t.Fatalf("%d of %d devices still ONLINE after kill -9 and restart; want none", online, n)
	}
	if _, err := c2.CreateMessage(ctx, ids[0], iotda.DeviceMessage{Message: "hello"}); iotda.StatusCode(err) != 409 {
		t.Errorf("down message to a device of the killed platform: %v, want 409 (not online)", err)
	}
	t.Logf("%d devices ONLINE at SIGKILL, 0 after restart", n)
}

// TestKill9KeepsAcknowledgedDevices registers devices through the API of a
// platform running in a child process, kills it with SIGKILL in the middle
// of the load, restarts the platform on the same data directory and checks
// that every device the API acknowledged is there. [storage durability]
func TestKill9KeepsAcknowledgedDevices(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a child process")
	}
	dir := t.TempDir()
	cmd, tg := startChildPlatform(t, dir)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	c := client(t, tg)
	mqttProduct(t, ctx, c, "k9prod")

	const workers, killAfter = 8, 300
	var (
		mu    sync.Mutex
		acked []string
		wg    sync.WaitGroup
	)
	killed := make(chan struct{})
	var once sync.Once
	for w := range workers {
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-killed:
					return
				default:
				}
				node := fmt.Sprintf("w%d-%05d", w, i)
				d, err := c.AddDevice(ctx, iotda.AddDevice{NodeID: node, ProductID: "k9prod"})
				if err != nil {
					return // the platform died under us: that request was never acknowledged
				}
				mu.Lock()
				acked = append(acked, d.DeviceID)
				n := len(acked)
				mu.Unlock()
				if n >= killAfter {
					once.Do(func() {
						_ = cmd.Process.Signal(syscall.SIGKILL)
						close(killed)
					})
				}
			}
		})
	}
	wg.Wait()
	_ = cmd.Wait()
	if len(acked) < killAfter {
		t.Fatalf("only %d registrations acknowledged before the child died", len(acked))
	}

	p := platformtest.Start(t, platformtest.WithDataDir(dir))
	c2 := platformtest.Client(t, p)
	var missing []string
	for _, id := range acked {
		if _, err := c2.ShowDevice(ctx, id); err != nil {
			var apiErr *iotda.APIError
			if errors.As(err, &apiErr) && apiErr.StatusCode == 404 {
				missing = append(missing, id)
				continue
			}
			t.Fatalf("show %s: %v", id, err)
		}
	}
	if len(missing) > 0 {
		t.Fatalf("%d of %d acknowledged devices lost after kill -9: %v", len(missing), len(acked), missing)
	}
	t.Logf("all %d acknowledged devices survived kill -9", len(acked))
}
