package platform_test

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/certlab/certlab/iotda"
	"github.com/certlab/certlab/platform"
	"github.com/certlab/certlab/platform/platformtest"
)

// TestSecondPlatformOnOneDataDirRefused: a data directory serves one
// platform at a time; the second is refused naming the holder, and the
// directory is free again once the first closes.
func TestSecondPlatformOnOneDataDirRefused(t *testing.T) {
	dir := t.TempDir()
	first := platformtest.Start(t, platformtest.WithDataDir(dir))

	second, err := platform.New(platform.Config{DataDir: dir, APIAddr: "127.0.0.1:0", MQTTAddr: "127.0.0.1:0", MetricsAddr: "off"})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), platformtest.StartTimeout)
	defer cancel()
	err = second.Start(ctx)
	if err == nil {
		_ = second.Close()
		t.Fatal("a second platform started on a data directory in use")
	}
	host, _ := os.Hostname()
	msg := err.Error()
	for _, want := range []string{"in use by another platform", "pid " + strconv.Itoa(os.Getpid()), "host " + host, "started 20", filepath.Join(dir, platform.LockFile)} {
		if !strings.Contains(msg, want) {
			t.Errorf("error %q does not say %q", msg, want)
		}
	}
	if !errors.Is(err, platform.ErrDataDirLocked) {
		t.Errorf("error %v does not wrap ErrDataDirLocked", err)
	}
	// The refused platform touched nothing: the first still serves.
	if _, err := platformtest.Client(t, first).ListProducts(ctx, iotda.ListOptions{}); err != nil {
		t.Fatalf("first platform after the refused start: %v", err)
	}
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}
	platformtest.Start(t, platformtest.WithDataDir(dir)) // free again
}

// TestDataDirPermissionsTightened: whatever the directory and its files were
// (here 0755 and 0644, under umask 0), the running platform's directory is
// 0700 and every file in it 0600 — the registry's WAL and SHM included — and
// each tightening is logged as a warning.
func TestDataDirPermissionsTightened(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	stray := filepath.Join(dir, "admin-token")
	if err := os.WriteFile(stray, []byte("0123456789abcdef0123456789abcdef0123456789abcdef"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(stray, 0o644); err != nil {
		t.Fatal(err)
	}
	old := syscall.Umask(0) // the platform's modes must not depend on the umask
	defer syscall.Umask(old)

	var log *logSink
	p := platformtest.Start(t, platformtest.WithDataDir(dir), withLog(&log))
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	mqttProduct(t, ctx, platformtest.Client(t, p), "permprod") // the WAL holds a write

	checkModes(t, dir)
	for _, f := range []string{platform.RegistryFile, platform.RegistryFile + "-wal", platform.RegistryFile + "-shm",
		platform.ServerCAFile, platform.TargetFile, platform.LockFile, "admin-token", "server-ca.key"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Errorf("expected %s in the data directory: %v", f, err)
		}
	}
	for _, path := range []string{dir, stray} {
		if got := log.lines("WARN", "permissions tightened", "path="+path+" "); len(got) != 1 {
			t.Errorf("%d warnings about %s, want 1; log:\n%s", len(got), path, log.String())
		}
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}

	// A restart on a directory that is already tight warns about nothing.
	var log2 *logSink
	platformtest.Start(t, platformtest.WithDataDir(dir), withLog(&log2))
	if got := log2.lines("WARN", "permissions tightened"); len(got) != 0 {
		t.Errorf("restart on a tight directory warned: %q", got)
	}
	checkModes(t, dir)
}

// checkModes asserts dir is 0700 and every file in it 0600.
func checkModes(t *testing.T, dir string) {
	t.Helper()
	info, err := os.Stat(dir)
	if err != nil {
		t.Fatal(err)
	}
	if got := info.Mode().Perm(); got != 0o700 {
		t.Errorf("data directory mode %v, want 0700", got)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		info, err := e.Info()
		if err != nil {
			t.Fatal(err)
		}
		if got := info.Mode().Perm(); got != 0o600 {
			t.Errorf("%s mode %v, want 0600", e.Name(), fs.FileMode(got))
		}
	}
}
