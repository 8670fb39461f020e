package registry

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// A registry whose directory was removed and recreated (another platform
// may live there now) must not touch the newcomer's files when it closes.
// SQLite's last close checkpoints and deletes -wal and -shm by path, but
// skips both when the database file is no longer the one it opened
// (pager.c, databaseIsUnmoved); this pins that, and that the lost registry
// refuses the write.
func TestLostRegistryLeavesNewFilesAlone(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "registry.db")
	r, err := Open(testCtx(t), path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	mustProject(t, r, "before")

	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	newcomer := map[string]string{path: "new db", path + "-wal": "new wal", path + "-shm": "new shm"}
	for f, content := range newcomer {
		if err := os.WriteFile(f, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := r.CreateProject(testCtx(t), "after"); !errors.Is(err, ErrStorageLost) {
		t.Fatalf("write after the directory was replaced: %v, want ErrStorageLost", err)
	}
	if err := r.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	for f, content := range newcomer {
		got, err := os.ReadFile(f)
		if err != nil || string(got) != content {
			t.Errorf("%s after the lost registry closed: %q, %v; want %q untouched", filepath.Base(f), got, err, content)
		}
	}
}
