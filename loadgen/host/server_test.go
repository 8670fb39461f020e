package host

import (
	"context"
	"errors"
	"os"
	"testing"

	"github.com/certlab/certlab/iotda"
	"github.com/certlab/certlab/platform/platformtest"
)

// TestOpenServer obtains a server each way and checks what a run learns
// from it: the target, where the server's CPU is read, whether it shares
// this machine, and what Close stops.
func TestOpenServer(t *testing.T) {
	ctx := t.Context()
	embedded := platformtest.Start(t, platformtest.WithMetrics())

	t.Run("target file", func(t *testing.T) {
		s, err := OpenServer(ctx, ServerSpec{TargetFile: embedded.TargetPath()})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		if s.Kind != ServerFile || s.Target.MQTTEndpoint != embedded.Target().MQTTEndpoint || s.Child != nil {
			t.Fatalf("server %+v", s)
		}
		if !s.Local {
			t.Error("a loopback MQTT endpoint is a local server")
		}
		if m, ok := s.CPU.(MetricsCPU); !ok || m.URL != embedded.Target().MetricsEndpoint {
			t.Errorf("CPU source %v, want the target's metrics endpoint", s.CPU)
		}
	})

	t.Run("server PID overrides", func(t *testing.T) {
		s, err := OpenServer(ctx, ServerSpec{TargetFile: embedded.TargetPath(), PID: os.Getpid()})
		if err != nil {
			t.Fatal(err)
		}
		if s.CPU != (PIDCPU{PID: os.Getpid()}) || !s.Local {
			t.Errorf("CPU source %v (local %t), want pid %d", s.CPU, s.Local, os.Getpid())
		}
	})

	t.Run("in process", func(t *testing.T) {
		stopped := 0
		launch := func(context.Context) (*iotda.Target, func() error, error) {
			return embedded.Target(), func() error { stopped++; return nil }, nil
		}
		// The in-process platform is chosen without a target file, and
		// before a child platform.
		s, err := OpenServer(ctx, ServerSpec{InProcess: launch, Child: &PlatformOptions{}})
		if err != nil {
			t.Fatal(err)
		}
		if s.Kind != ServerInProcess || s.CPU != nil || s.Local || s.Target != embedded.Target() {
			t.Errorf("server %+v: want no CPU source (it is this process's) and not local", s)
		}
		_ = s.Close()
		_ = s.Close()
		if stopped != 1 {
			t.Errorf("stop called %d times, want once", stopped)
		}
		failing := func(context.Context) (*iotda.Target, func() error, error) { return nil, nil, errors.New("no luck") }
		if _, err := OpenServer(ctx, ServerSpec{InProcess: failing}); err == nil {
			t.Error("a failing launcher: want an error")
		}
	})

	t.Run("child", func(t *testing.T) {
		if testing.Short() {
			t.Skip("starts a platform child")
		}
		o := testPlatformOptions(t)
		s, err := OpenServer(ctx, ServerSpec{Child: &o})
		if err != nil {
			t.Fatal(err)
		}
		if s.Kind != ServerChild || s.Child == nil || !s.Local || s.CPU != CPUSource(s.Child) || s.Target != s.Child.Target() {
			t.Errorf("server %+v: want the child as CPU source, local", s)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		if s.Child.Running() {
			t.Error("Close left the child running")
		}
	})

	if _, err := OpenServer(ctx, ServerSpec{}); err == nil {
		t.Error("an empty spec: want an error")
	}
	if _, err := OpenServer(ctx, ServerSpec{TargetFile: "/nonexistent/target.json"}); err == nil {
		t.Error("a missing target file: want an error")
	}
}
