package platformtest_test

import (
	"context"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/certlab/certlab/iotda"
	"github.com/certlab/certlab/platform"
	"github.com/certlab/certlab/platform/platformtest"
)

// TestStart checks what Start promises: a platform on loopback ports with a
// target file, a working client, metrics only when asked, options applied,
// and the listeners closed when the test that started it ends.
func TestStart(t *testing.T) {
	var apiAddr string
	t.Run("running", func(t *testing.T) {
		var cfgSeen bool
		p := platformtest.Start(t, func(c *platform.Config) { cfgSeen = c.MetricsAddr == "off" })
		if !cfgSeen {
			t.Error("options did not see the defaults (metrics off)")
		}
		tg := p.Target()
		if tg.MetricsEndpoint != "" {
			t.Errorf("metrics endpoint = %q, want none by default", tg.MetricsEndpoint)
		}
		if _, err := iotda.LoadTarget(p.TargetPath()); err != nil {
			t.Errorf("target file: %v", err)
		}
		if tg.AdminToken == "" {
			t.Error("target has no admin token")
		}
		list, err := platformtest.Client(t, p).ListCertificates(t.Context(), iotda.ListOptions{Limit: 10})
		if err != nil || list.Page.Count != 0 {
			t.Fatalf("list certificates of a fresh platform = %+v, %v; want 0", list, err)
		}
		host, _, err := net.SplitHostPort(tg.MQTTAddress())
		if err != nil || host != "127.0.0.1" {
			t.Errorf("MQTT address %q (%v), want 127.0.0.1", tg.MQTTAddress(), err)
		}
		apiAddr = tg.APIEndpoint[len("https://"):]
	})
	// The subtest's cleanup closed the platform.
	if c, err := net.DialTimeout("tcp", apiAddr, time.Second); err == nil {
		c.Close()
		t.Errorf("API %s still accepts connections after the test ended", apiAddr)
	}
}

func TestStartWithMetricsAndDataDir(t *testing.T) {
	dir := t.TempDir()
	p := platformtest.Start(t, platformtest.WithMetrics(), platformtest.WithDataDir(dir))
	if got := p.TargetPath(); filepath.Dir(got) != dir {
		t.Errorf("target path %s is not in the data directory %s", got, dir)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.Target().MetricsEndpoint, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET metrics: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("GET metrics: %s", resp.Status)
	}
}

// recorder is a testing.TB that records Skipf and Fatalf instead of
// stopping the goroutine.
type recorder struct {
	testing.TB
	skipped, failed bool
}

func (r *recorder) Helper()               {}
func (r *recorder) Skipf(string, ...any)  { r.skipped = true }
func (r *recorder) Fatalf(string, ...any) { r.failed = true }

func TestRequireTool(t *testing.T) {
	sh, err := os.Executable() // surely present: the test binary itself
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name        string
		ci          string
		names       []string
		wantPath    string
		wantSkipped bool
		wantFailed  bool
	}{
		{"found, empty override passed over", "", []string{"", "/nonexistent/tool", sh}, sh, false, false},
		{"missing locally: skipped", "", []string{"certlab-no-such-tool"}, "", true, false},
		{"missing under CI: failed", "true", []string{"", "certlab-no-such-tool"}, "", false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("CI", tc.ci)
			r := &recorder{TB: t}
			got := platformtest.RequireTool(r, "certlab-test-pkg", tc.names...)
			if got != tc.wantPath || r.skipped != tc.wantSkipped || r.failed != tc.wantFailed {
				t.Errorf("RequireTool(%q) = %q skipped %v failed %v; want %q, %v, %v",
					tc.names, got, r.skipped, r.failed, tc.wantPath, tc.wantSkipped, tc.wantFailed)
			}
		})
	}
}
