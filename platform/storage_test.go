package platform_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/certlab/certlab/iotda"
	"github.com/certlab/certlab/platform"
	"github.com/certlab/certlab/platform/platformtest"
)

// metricValue returns the value of the sample of family name whose labels
// include every name=value pair given (counter or gauge), or fails.
func metricValue(t *testing.T, g prometheus.Gatherer, name string, labels ...string) float64 {
	t.Helper()
	fams, err := g.Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	for _, f := range fams {
		if f.GetName() != name {
			continue
		}
	metrics:
		for _, m := range f.GetMetric() {
			for i := 0; i+1 < len(labels); i += 2 {
				found := false
				for _, lp := range m.GetLabel() {
					found = found || (lp.GetName() == labels[i] && lp.GetValue() == labels[i+1])
				}
				if !found {
					continue metrics
				}
			}
			if m.GetCounter() != nil {
				return m.GetCounter().GetValue()
			}
			return m.GetGauge().GetValue()
		}
	}
	t.Fatalf("no sample %s%v", name, labels)
	return 0
}

// healthz fetches the platform's health endpoint with roots (read before the
// data directory, which holds server-ca.pem, is removed).
func healthz(t *testing.T, tg *iotda.Target, client *http.Client) (int, string) {
	t.Helper()
	resp, err := client.Get(tg.APIEndpoint + "/certlab/v1/healthz")
	if err != nil {
		t.Fatalf("healthz: %v", err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func httpsClient(t *testing.T, tg *iotda.Target) *http.Client {
	t.Helper()
	tc, err := tg.TLSConfig()
	if err != nil {
		t.Fatal(err)
	}
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: tc}}
}

// requireAPIError asserts err is an IoTDA error answer with status and code.
func requireAPIError(t *testing.T, err error, status int, code string, msgHas ...string) *iotda.APIError {
	t.Helper()
	var ae *iotda.APIError
	if !errors.As(err, &ae) {
		t.Fatalf("error %v, want HTTP %d %s", err, status, code)
	}
	if ae.StatusCode != status || ae.ErrorCode != code {
		t.Fatalf("got HTTP %d %s (%s), want HTTP %d %s", ae.StatusCode, ae.ErrorCode, ae.ErrorMsg, status, code)
	}
	for _, s := range msgHas {
		if !strings.Contains(ae.ErrorMsg, s) {
			t.Errorf("error_msg %q does not say %q", ae.ErrorMsg, s)
		}
	}
	return ae
}

// TestDataDirRemovedUnderRunningPlatform: `rm -rf DATA` under a running
// platform. Before, creates still got 201 into a file nobody would open
// again. Now every write is refused with 503 IOTDA.000503, healthz is 503,
// the loss is logged once at ERROR and counted, and reads still answer.
func TestDataDirRemovedUnderRunningPlatform(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	var log *logSink
	p := platformtest.Start(t, platformtest.WithDataDir(dir), withLog(&log))
	tg := p.Target()
	c := platformtest.Client(t, p)
	hc := httpsClient(t, tg)
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	mqttProduct(t, ctx, c, "before")
	if code, body := healthz(t, tg, hc); code != http.StatusOK {
		t.Fatalf("healthz before: %d %s", code, body)
	}

	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		_, err := c.CreateProduct(ctx, iotda.AddProduct{ProductID: new("after" + string(rune('a'+i))), Name: "after", DeviceType: "sensor", ProtocolType: "MQTT", DataFormat: "json"})
		requireAPIError(t, err, http.StatusServiceUnavailable, iotda.CodeStorageLost, "removed or replaced", "restarted")
	}
	code, body := healthz(t, tg, hc)
	if code != http.StatusServiceUnavailable || !strings.Contains(body, iotda.CodeStorageLost) {
		t.Errorf("healthz after rm -rf: %d %s, want 503 %s", code, body, iotda.CodeStorageLost)
	}
	if got := log.lines("ERROR", "registry storage lost"); len(got) != 1 {
		t.Errorf("%d ERROR lines about the loss after 3 refused writes and a health check, want exactly 1:\n%s", len(got), log.String())
	}
	if got := log.lines("ERROR", "api request failed"); len(got) != 0 {
		t.Errorf("refused writes were logged per request: %q", got)
	}
	if v := metricValue(t, p.Gatherer(), "certlab_platform_registry_write_failures_total", "cause", "storage_lost"); v < 3 {
		t.Errorf("write failures {storage_lost} = %v, want >= 3", v)
	}
	if v := metricValue(t, p.Gatherer(), "certlab_platform_registry_storage_ok"); v != 0 {
		t.Errorf("registry_storage_ok = %v, want 0", v)
	}
	// Reads are served from memory: what was acknowledged before is still shown.
	if _, err := c.ShowProduct(ctx, "before"); err != nil {
		t.Errorf("read after the loss: %v", err)
	}
	if _, err := c.ShowProduct(ctx, "aftera"); err == nil {
		t.Error("a refused create is visible")
	}
}

// TestDatabaseReplacedNoticedWithoutWrites: a registry.db renamed over by
// another file is noticed by the background check alone (no write, no
// health request): ERROR log and the gauge, within seconds.
func TestDatabaseReplacedNoticedWithoutWrites(t *testing.T) {
	dir := t.TempDir()
	var log *logSink
	p := platformtest.Start(t, platformtest.WithDataDir(dir), withLog(&log))
	db := filepath.Join(dir, platform.RegistryFile)
	data, err := os.ReadFile(db)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(db+".copy", data, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(db+".copy", db); err != nil {
		t.Fatal(err)
	}
	got := log.waitLines(t, 10*time.Second, "ERROR", "registry storage lost", "replaced by another file")
	if len(got) != 1 {
		t.Errorf("%d ERROR lines, want 1: %q", len(got), got)
	}
	if v := metricValue(t, p.Gatherer(), "certlab_platform_registry_storage_ok"); v != 0 {
		t.Errorf("registry_storage_ok = %v, want 0", v)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	_, err = platformtest.Client(t, p).CreateProduct(ctx, iotda.AddProduct{ProductID: new("x"), Name: "x", DeviceType: "sensor", ProtocolType: "MQTT", DataFormat: "json"})
	requireAPIError(t, err, http.StatusServiceUnavailable, iotda.CodeStorageLost)
}

// TestDiskFull fills a real file system (a 4 MiB tmpfs mounted for the test;
// root only, skipped otherwise) under a running platform: writes are refused
// with 507 IOTDA.000507 "disk full", counted and logged (rate-limited), and
// succeed again once space is freed.
func TestDiskFull(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("mounting a tmpfs needs root")
	}
	mnt := t.TempDir()
	if err := syscall.Mount("tmpfs", mnt, "tmpfs", 0, "size=4m,mode=0700"); err != nil {
		t.Skipf("cannot mount a tmpfs: %v", err)
	}
	t.Cleanup(func() { // runs after the platform's Close (cleanups run last-in first-out)
		if err := syscall.Unmount(mnt, 0); err != nil {
			t.Errorf("unmount %s: %v", mnt, err)
		}
	})
	dir := filepath.Join(mnt, "data")
	var log *logSink
	p := platformtest.Start(t, platformtest.WithDataDir(dir), withLog(&log))
	c := platformtest.Client(t, p)
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	mqttProduct(t, ctx, c, "roomy")

	filler := filepath.Join(mnt, "filler")
	fillUp(t, filler)
	var full *iotda.APIError
	i := 0
	for ; i < 2000 && full == nil; i++ {
		id := "full" + strconv.Itoa(i)
		_, err := c.CreateProduct(ctx, iotda.AddProduct{ProductID: &id, Name: id, DeviceType: "sensor", ProtocolType: "MQTT",
			DataFormat: "json", Description: new(strings.Repeat("d", 1000))})
		if err != nil {
			full = requireAPIError(t, err, http.StatusInsufficientStorage, iotda.CodeStorageFull, "could not be written: disk full", "Nothing was stored")
			if _, err := c.ShowProduct(ctx, id); err == nil {
				t.Errorf("product %s refused with disk full is visible", id)
			}
		}
	}
	if full == nil {
		t.Fatal("2000 creates on a full file system all succeeded")
	}
	t.Logf("the file system was full; %d creates went into space SQLite had already allocated", i-1)
	if v := metricValue(t, p.Gatherer(), "certlab_platform_registry_write_failures_total", "cause", "disk_full"); v < 1 {
		t.Errorf("write failures {disk_full} = %v, want >= 1", v)
	}
	if got := log.lines("ERROR", "disk full"); len(got) != 1 {
		t.Errorf("%d ERROR lines about the full disk, want 1 (rate-limited):\n%s", len(got), log.String())
	}

	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	mqttProduct(t, ctx, c, "afterfree") // writes succeed again
	if code, body := healthz(t, p.Target(), httpsClient(t, p.Target())); code != http.StatusOK {
		t.Errorf("healthz after freeing space: %d %s", code, body)
	}
}

// fillUp writes path until the file system is full.
func fillUp(t *testing.T, path string) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	chunk := make([]byte, 4096)
	for {
		if _, err := f.Write(chunk); err != nil {
			if errors.Is(err, syscall.ENOSPC) {
				return
			}
			t.Fatalf("fill: %v", err)
		}
	}
}
