package platform_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/certlab/certlab/iotda"
	"github.com/certlab/certlab/platform"
)

// Environment of a child platform with a low open-file limit (see childLimits).
const (
	childNofileEnv = "CERTLAB_PLATFORM_CHILD_NOFILE" // RLIMIT_NOFILE (soft and hard) the child sets on itself
)

// childLimits applies the child environment: a lowered RLIMIT_NOFILE, then a
// platform that logs to stderr, serves metrics and gives handshakes 60 s (so
// idle test connections stay open for the whole test).
func childLimits(cfg *platform.Config) error {
	v := os.Getenv(childNofileEnv)
	if v == "" {
		return nil
	}
	n, err := strconv.ParseUint(v, 10, 64)
	if err != nil {
		return fmt.Errorf("%s=%q: %w", childNofileEnv, v, err)
	}
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &syscall.Rlimit{Cur: n, Max: n}); err != nil {
		return fmt.Errorf("setrlimit NOFILE %d: %w", n, err)
	}
	cfg.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	cfg.MetricsAddr = "127.0.0.1:0"
	cfg.ConnectTimeout = 60 * time.Second
	return nil
}

func TestDefaultMaxConns(t *testing.T) {
	for _, tc := range []struct {
		nofile uint64
		want   int
	}{{100, 50}, {256, 192}, {1024, 896}, {20000, 17500}, {1 << 20, 917504}} {
		if got := platform.DefaultMaxConns(tc.nofile); got != tc.want {
			t.Errorf("DefaultMaxConns(%d) = %d, want %d", tc.nofile, got, tc.want)
		}
	}
}

// TestMaxConnsNotBelowFDLimitRefused: a limit MQTT could not honour without
// starving the API is an error naming the flag.
func TestMaxConnsNotBelowFDLimitRefused(t *testing.T) {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		t.Fatal(err)
	}
	p, err := platform.New(platform.Config{DataDir: t.TempDir(), APIAddr: "127.0.0.1:0", MQTTAddr: "127.0.0.1:0", MetricsAddr: "off", MaxConns: int(rl.Cur)})
	if err != nil {
		t.Fatal(err)
	}
	err = p.Start(t.Context())
	_ = p.Close()
	if err == nil || !strings.Contains(err.Error(), "--max-conns") || !strings.Contains(err.Error(), "open-file limit") {
		t.Fatalf("Start with MaxConns = RLIMIT_NOFILE: %v, want an error naming --max-conns and the open-file limit", err)
	}
}

// TestFDExhaustion runs the platform in a child process whose RLIMIT_NOFILE
// is 256 and exhausts it for real. Phase 1: MQTT connections beyond the
// derived limit (256 - 64 = 192) are closed at accept while the API keeps
// answering; the refusals are counted and logged at WARN. Phase 2: idle
// connections to the API port take the reserve too, so accept(2) fails with
// EMFILE on both listeners: each failure is logged at WARN (rate-limited)
// and counted, and the API answers again once the pressure goes.
func TestFDExhaustion(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a child process")
	}
	const nofile, maxConns = 256, 192
	dir := t.TempDir()
	stderr := &logSink{}
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childDataDirEnv+"="+dir, childNofileEnv+"="+strconv.Itoa(nofile))
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("child platform log:\n%s", stderr.String())
		}
	})
	tg := waitChildTarget(t, dir)
	stderr.waitLines(t, 5*time.Second, "INFO", "platform ready", fmt.Sprintf("mqtt_max_conns=%d", maxConns), fmt.Sprintf("open_file_limit=%d", nofile))
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	c := client(t, tg)
	hc := httpsClient(t, tg)
	metrics := &http.Client{Timeout: 5 * time.Second}

	// Phase 1: fill MQTT to its limit with idle TCP connections, then more.
	var conns []net.Conn
	defer func() {
		for _, cn := range conns {
			cn.Close()
		}
	}()
	dial := func(addr string) net.Conn {
		t.Helper()
		cn, err := net.DialTimeout("tcp", addr, 5*time.Second)
		if err != nil {
			t.Fatalf("dial %s: %v", addr, err)
		}
		conns = append(conns, cn)
		return cn
	}
	for range maxConns {
		dial(tg.MQTTAddress())
	}
	waitMetric(t, metrics, tg, "certlab_platform_mqtt_open_connections", func(v float64) bool { return v == maxConns })
	const extra = 20
	for i := range extra {
		cn := dial(tg.MQTTAddress())
		_ = cn.SetReadDeadline(time.Now().Add(5 * time.Second))
		if n, err := cn.Read(make([]byte, 1)); n != 0 || !(errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET)) {
			t.Fatalf("MQTT connection %d beyond the limit: read %d, %v; want it closed at accept", maxConns+i+1, n, err)
		}
	}
	if code, body := healthz(t, tg, hc); code != http.StatusOK {
		t.Fatalf("healthz with MQTT full: %d %s", code, body)
	}
	mqttProduct(t, ctx, c, "fdprod") // a signed write answers too
	waitMetric(t, metrics, tg, "certlab_platform_mqtt_accept_refused_total", func(v float64) bool { return v == extra })
	stderr.waitLines(t, 5*time.Second, "WARN", "MQTT connection limit reached", fmt.Sprintf("max_conns=%d", maxConns))
	hc.CloseIdleConnections()

	// Phase 2: idle connections to the API port take the reserve; both
	// listeners then fail to accept with EMFILE.
	var apiConns []net.Conn
	for range nofile - maxConns + 20 { // more than the reserve: some wait in the listen backlog
		apiConns = append(apiConns, dial(endpointHost(t, tg.APIEndpoint)))
	}
	stderr.waitLines(t, 10*time.Second, "WARN", "HTTP server error", "server=api", "too many open files")
	// The API's pending connections soak up any descriptor that frees up, so
	// accept(2) on the MQTT listener soon fails too; until it does, a new
	// MQTT connection may still be accepted and closed as server_busy.
	for i := 0; len(stderr.lines("WARN", "MQTT listener cannot accept", "too many open files")) == 0; i++ {
		if i == 50 {
			t.Fatalf("no WARN line for a failed MQTT accept after %d connections at the descriptor limit", i)
		}
		dial(tg.MQTTAddress())
		time.Sleep(100 * time.Millisecond)
	}
	for _, cn := range apiConns {
		cn.Close()
	}
	// The pressure gone, everything answers again, and the failures were counted.
	waitMetric(t, metrics, tg, `certlab_platform_http_server_errors_total{kind="accept",server="api"}`, func(v float64) bool { return v >= 1 })
	waitMetric(t, metrics, tg, `certlab_platform_mqtt_accept_errors_total{cause="emfile"}`, func(v float64) bool { return v >= 1 })
	if code, body := healthz(t, tg, hc); code != http.StatusOK {
		t.Fatalf("healthz after the pressure: %d %s", code, body)
	}
	if n := len(stderr.lines("WARN", "MQTT listener cannot accept")); n > 2 {
		t.Errorf("%d WARN lines for MQTT accept failures within seconds, want at most 2 (rate-limited)", n)
	}
}

// waitChildTarget waits for the child platform's target.json.
func waitChildTarget(t *testing.T, dir string) *iotda.Target {
	t.Helper()
	path := filepath.Join(dir, platform.TargetFile)
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		tg, err := iotda.LoadTarget(path)
		if err == nil {
			return tg
		}
		if time.Now().After(deadline) {
			t.Fatalf("child platform not ready: %v", err)
		}
	}
}

func endpointHost(t *testing.T, endpoint string) string {
	t.Helper()
	host, ok := strings.CutPrefix(endpoint, "https://")
	if !ok {
		t.Fatalf("API endpoint %q is not https://host:port", endpoint)
	}
	return host
}

// waitMetric scrapes the target's metrics endpoint until the series (name,
// or name{labels} exactly as exposed) satisfies ok, for up to 10 s; a scrape
// that fails (the endpoint out of descriptors) is retried.
func waitMetric(t *testing.T, hc *http.Client, tg *iotda.Target, series string, ok func(float64) bool) float64 {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	var last string
	for {
		v, err := scrape(hc, tg.MetricsEndpoint, series)
		if err == nil && ok(v) {
			return v
		}
		last = fmt.Sprintf("value %v, error %v", v, err)
		if time.Now().After(deadline) {
			t.Fatalf("metric %s: %s", series, last)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func scrape(hc *http.Client, url, series string) (float64, error) {
	resp, err := hc.Get(url)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), series+" "); ok {
			return strconv.ParseFloat(strings.Fields(rest)[0], 64)
		}
	}
	if err := sc.Err(); err != nil {
		return 0, err
	}
	return 0, fmt.Errorf("no series %s", series)
}
