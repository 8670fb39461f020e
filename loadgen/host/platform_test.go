package host

import (
	"io"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/certlab/certlab/iotda"
)

// requireMQTTRefused checks that nothing listens on addr any more.
func requireMQTTRefused(t *testing.T, addr string) {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err == nil {
		c.Close()
		t.Fatalf("%s still accepts connections", addr)
	}
}

// TestPlatformProcessKillAndRestart starts a real platform as a child
// process, registers a product, kills it with SIGKILL, starts it again on
// the same data directory and checks that it came back where it was (same
// addresses, new process) with what it had acknowledged; then the same
// after a graceful Stop, and Close removes the temporary data directory.
func TestPlatformProcessKillAndRestart(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a platform child three times")
	}
	ctx := t.Context()
	p, err := StartPlatform(ctx, testPlatformOptions(t))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	first, pid := p.Target(), p.PID()
	if pid == 0 || !p.Running() || !strings.Contains(p.String(), "pid:") {
		t.Fatalf("after start: pid %d, running %t, %s", pid, p.Running(), p)
	}
	if _, err := p.CPUSeconds(ctx); err != nil {
		t.Fatalf("CPU of the child: %v", err)
	}
	client, err := first.Client()
	if err != nil {
		t.Fatal(err)
	}
	id := "restart-survivor"
	if _, err := client.CreateProduct(ctx, iotda.AddProduct{ProductID: &id, Name: id, DeviceType: "sensor",
		ProtocolType: iotda.ProtocolMQTT, DataFormat: "json"}); err != nil {
		t.Fatal(err)
	}
	if err := p.Start(ctx); err == nil {
		t.Fatal("Start while running: want an error")
	}

	for _, outage := range []struct {
		name string
		end  func() error
	}{{"kill", p.Kill}, {"stop", p.Stop}} {
		if err := outage.end(); err != nil {
			t.Fatalf("%s: %v", outage.name, err)
		}
		if p.Running() {
			t.Fatalf("%s: still running", outage.name)
		}
		requireMQTTRefused(t, first.MQTTAddress())
		if err := p.Start(ctx); err != nil {
			t.Fatalf("start after %s: %v", outage.name, err)
		}
		again := p.Target()
		if again.MQTTEndpoint != first.MQTTEndpoint || again.APIEndpoint != first.APIEndpoint || again.MetricsEndpoint != first.MetricsEndpoint {
			t.Errorf("after %s the platform moved: %s %s %s, was %s %s %s", outage.name,
				again.APIEndpoint, again.MQTTEndpoint, again.MetricsEndpoint, first.APIEndpoint, first.MQTTEndpoint, first.MetricsEndpoint)
		}
		if p.PID() == pid {
			t.Errorf("after %s: the same PID %d, want a new process", outage.name, pid)
		}
		pid = p.PID()
		c, err := again.Client()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.ShowProduct(ctx, id); err != nil {
			t.Errorf("after %s the registry lost the product: %v", outage.name, err)
		}
	}

	dir := p.DataDir()
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("Close left the temporary data directory %s: %v", dir, err)
	}
	if err := p.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

// TestStartPlatformFails: a child that exits before it is ready is an
// error that says so, and leaves no temporary directory behind.
func TestStartPlatformFails(t *testing.T) {
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp) // where StartPlatform makes its data directory
	o := testPlatformOptions(t)
	o.Command = append(o.Command, "--no-such-flag")
	o.Stderr = io.Discard
	_, err := StartPlatform(t.Context(), o)
	if err == nil || !strings.Contains(err.Error(), "exited before it was ready") {
		t.Fatalf("err = %v, want the child's early exit", err)
	}
	if left, _ := os.ReadDir(tmp); len(left) != 0 {
		t.Errorf("a failed start left %d entries in TMPDIR, e.g. %s", len(left), left[0].Name())
	}
	if _, err := StartPlatform(t.Context(), PlatformOptions{}); err == nil {
		t.Error("no command: want an error")
	}
}
