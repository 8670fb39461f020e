package platform

// datadir.go: the data directory's guards. One platform per directory: an
// exclusive flock on DIR/platform.lock, held for the platform's life and
// released by the kernel when the process dies (kill -9 included), so a
// stale lock never needs cleaning; the file says who holds it. Secrets at
// rest: the directory is 0700 and every file in it 0600, whatever existed
// before (the registry holds secret keys and tokens, server-ca.key the CA key).

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"syscall"
	"time"
)

// LockFile is the data directory's lock file (see lockDataDir).
const LockFile = "platform.lock"

// Modes of the data directory and of every file in it.
const (
	dataDirMode  fs.FileMode = 0o700
	dataFileMode fs.FileMode = 0o600
)

// ErrDataDirLocked: another platform holds the data directory.
var ErrDataDirLocked = errors.New("data directory is in use by another platform")

// lockHolder is what the lock file records about the platform holding it.
type lockHolder struct {
	PID     int    `json:"pid"`
	Host    string `json:"host"`
	Started string `json:"started"` // RFC 3339, UTC
}

func (h lockHolder) String() string {
	return fmt.Sprintf("pid %d on host %s, started %s", h.PID, h.Host, h.Started)
}

// dataDirLock is the held lock; release gives it up.
type dataDirLock struct{ f *os.File }

// lockDataDir takes the exclusive lock of dir without waiting. When another
// process (or another Platform in this process: flock locks belong to the
// open file) holds it, the error wraps ErrDataDirLocked and names the holder
// from the lock file. On success the file records this process.
func lockDataDir(dir string, started time.Time) (*dataDirLock, error) {
	path := filepath.Join(dir, LockFile)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, dataFileMode)
	if err != nil {
		return nil, fmt.Errorf("lock data directory: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		_ = f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("%w: %s (lock file %s)", ErrDataDirLocked, holderOf(path), path)
		}
		return nil, fmt.Errorf("lock data directory: flock %s: %w", path, err)
	}
	host, _ := os.Hostname()
	me, _ := json.Marshal(lockHolder{PID: os.Getpid(), Host: host, Started: started.UTC().Format(time.RFC3339)})
	if err := writeLockHolder(f, append(me, '\n')); err != nil {
		_ = f.Close() // closing the last descriptor releases the lock
		return nil, fmt.Errorf("lock data directory: write %s: %w", path, err)
	}
	return &dataDirLock{f: f}, nil
}

func writeLockHolder(f *os.File, data []byte) error {
	if err := f.Truncate(0); err != nil {
		return err
	}
	if _, err := f.WriteAt(data, 0); err != nil {
		return err
	}
	return f.Sync()
}

// holderOf reads who holds the lock at path. The holder writes the file right
// after taking the lock, so a reader may catch it empty for an instant.
func holderOf(path string) string {
	b, err := os.ReadFile(path)
	var h lockHolder
	if err != nil || json.Unmarshal(b, &h) != nil || h.PID == 0 {
		return "holder unknown"
	}
	return h.String()
}

// release drops the lock. The file stays: removing it would let a process
// that opened the old file and one that creates a new one both "hold" it.
func (l *dataDirLock) release() error {
	if l == nil || l.f == nil {
		return nil
	}
	err := l.f.Close() // closing the descriptor releases the flock
	l.f = nil
	return err
}

// secureDataDir makes dir 0700 and every regular file in it 0600, whatever
// they were, and logs a warning for each one it had to tighten. It does not
// descend into subdirectories (the platform creates none) and leaves
// symbolic links alone (their targets are not the platform's). The modes are
// set with chmod, so the umask does not matter.
func secureDataDir(dir string, log *slog.Logger) error {
	tighten := func(path string, got, want fs.FileMode) error {
		if got == want {
			return nil
		}
		if err := os.Chmod(path, want); err != nil {
			return fmt.Errorf("tighten %s: %w", path, err)
		}
		log.Warn("data directory permissions tightened: it holds secrets (API keys, tokens, the server CA key)",
			"path", path, "was", got.String(), "now", want.String())
		return nil
	}
	info, err := os.Stat(dir)
	if err != nil {
		return err
	}
	if err := tighten(dir, info.Mode().Perm(), dataDirMode); err != nil {
		return err
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, e := range entries {
		if !e.Type().IsRegular() {
			continue
		}
		info, err := e.Info()
		if errors.Is(err, fs.ErrNotExist) {
			continue // removed since ReadDir (a temporary file)
		}
		if err != nil {
			return err
		}
		if err := tighten(filepath.Join(dir, e.Name()), info.Mode().Perm(), dataFileMode); err != nil {
			return err
		}
	}
	return nil
}

// createPrivateFile creates path empty with mode 0600 if it does not exist,
// so that SQLite, which gives its -wal and -shm files the mode of the
// database file, creates those 0600 too whatever the umask.
func createPrivateFile(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, dataFileMode)
	if err != nil {
		return err
	}
	if err := f.Chmod(dataFileMode); err != nil { // the umask may have cleared bits
		_ = f.Close()
		return err
	}
	return f.Close()
}
