// Package platformtest holds helpers for tests that need a running reference
// platform: Start runs one on loopback ports (port 0) in a temporary data
// directory and closes it when the test ends, Client returns an API client of
// its first project, and RequireTool finds an external program a test drives
// (skipping the test when it is missing, failing it under CI=true).
//
// Only _test files import it: the non-test code of features, sim, loadgen,
// reports, iotda and check reaches a platform through a target, never through
// package platform.
package platformtest

import (
	"context"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/certlab/certlab/iotda"
	"github.com/certlab/certlab/platform"
)

// StartTimeout bounds Start: creating the data directory's PKI and registry
// and binding the listeners.
const StartTimeout = 30 * time.Second

// Option adjusts the platform.Config Start uses. Any func(*platform.Config)
// is one, e.g. to break a rule on purpose:
//
//	platformtest.Start(t, func(c *platform.Config) { c.MaxCAsPerProject = 101 })
type Option func(*platform.Config)

// WithDataDir runs the platform on dir instead of a fresh t.TempDir() (to
// restart a platform on the same data).
func WithDataDir(dir string) Option {
	return func(c *platform.Config) { c.DataDir = dir }
}

// WithMetrics serves the Prometheus metrics on a loopback port (they are
// off by default); the target's metrics_endpoint then names it.
func WithMetrics() Option {
	return func(c *platform.Config) { c.MetricsAddr = "127.0.0.1:0" }
}

// Start runs a reference platform on 127.0.0.1 port 0 (API and MQTTS) in a
// temporary data directory, metrics off unless WithMetrics, and closes it
// when the test ends (a close error fails the test). The platform's Target
// (with its admin token) and TargetPath say how to reach it.
func Start(t testing.TB, opts ...Option) *platform.Platform {
	t.Helper()
	cfg := platform.Config{APIAddr: "127.0.0.1:0", MQTTAddr: "127.0.0.1:0", MetricsAddr: "off"}
	for _, o := range opts {
		o(&cfg)
	}
	if cfg.DataDir == "" {
		cfg.DataDir = t.TempDir()
	}
	p, err := platform.New(cfg)
	if err != nil {
		t.Fatalf("new platform: %v", err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), StartTimeout)
	defer cancel()
	if err := p.Start(ctx); err != nil {
		_ = p.Close()
		t.Fatalf("start platform: %v", err)
	}
	t.Cleanup(func() {
		if err := p.Close(); err != nil {
			t.Errorf("close platform: %v", err)
		}
	})
	return p
}

// Client returns an API client of p's first project (its target's AK/SK).
func Client(t testing.TB, p *platform.Platform) *iotda.Client {
	t.Helper()
	c, err := p.Target().Client()
	if err != nil {
		t.Fatalf("API client: %v", err)
	}
	return c
}

// RequireTool returns the path of the first of names found on PATH (an empty
// name is passed over, so an unset environment override may come first);
// pkg names the Debian package that provides it. When none is found the test
// is skipped, or fails under CI=true (see Missing).
func RequireTool(t testing.TB, pkg string, names ...string) string {
	t.Helper()
	for _, n := range names {
		if n == "" {
			continue
		}
		if path, err := exec.LookPath(n); err == nil {
			return path
		}
	}
	var name string
	for _, n := range names {
		if n != "" {
			name = n
			break
		}
	}
	Missing(t, name+" is not installed (Debian package "+pkg+")")
	return ""
}

// Missing skips the test because what it needs is missing; under CI=true it
// fails the test instead, since CI installs every tool the tests drive
// (scripts/install-tools.sh).
func Missing(t testing.TB, what string) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s; CI must have it: scripts/install-tools.sh installs it", what)
		return
	}
	t.Skipf("%s; run scripts/install-tools.sh as root to install it", what)
}
