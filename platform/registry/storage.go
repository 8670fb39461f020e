package registry

// storage.go: knowing that what the writer commits is really stored.
//
// SQLite keeps writing to its open file after the file is unlinked
// (`rm -rf DATA` under a running platform) or renamed over: every write
// "succeeds" into an inode nobody will ever open again, and the next start
// comes up empty. So the registry remembers the identity (device and inode)
// of its database file at Open and compares the path's identity with it:
//
//   - after every write batch's COMMIT, before anything is acknowledged or
//     applied to memory: a batch whose file vanished fails with
//     ErrStorageLost, so nothing is acknowledged that is not stored. One
//     stat(2) per batch (group commit), next to an fsync;
//   - every StorageCheckInterval in the background, and on every
//     StorageErr call (the health check), so the loss is noticed, logged
//     and visible within a second even when nobody writes.
//
// Loss is sticky: once lost, every write is refused until a restart (a
// restart on the same path is what recovers, from a restored directory).
// It is logged once at ERROR. Disk-full and I/O errors are not sticky (they
// pass when space is freed); they are logged at ERROR at most once per
// ratelog interval. Every write that fails for a storage cause is counted
// (StorageFailures).

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/certlab/certlab/platform/internal/ratelog"
)

// Storage failure sentinels. The API answers them with their own error codes.
var (
	// ErrStorageLost: the database file was removed or replaced while the
	// registry had it open; every write is refused until restart.
	ErrStorageLost = errors.New("registry storage lost")
	// ErrStorageFull: the file system holding the database is full
	// (SQLITE_FULL); nothing of the failed write was stored.
	ErrStorageFull = errors.New("registry storage full")
	// ErrStorageIO: the database could not be written (SQLITE_IOERR).
	ErrStorageIO = errors.New("registry storage I/O error")
)

// Storage failure causes: the closed label set of the platform's
// storage-write-failure counter.
const (
	CauseStorageLost = "storage_lost"
	CauseDiskFull    = "disk_full"
	CauseIOError     = "io_error"
)

// StorageFailureCauses lists every cause StorageFailures counts.
var StorageFailureCauses = []string{CauseStorageLost, CauseDiskFull, CauseIOError}

// DefaultStorageCheckInterval is how often the background check looks at the
// database file when Options.StorageCheckInterval is zero.
const DefaultStorageCheckInterval = time.Second

// storageGuard watches the database file of one registry.
type storageGuard struct {
	path     string
	identity os.FileInfo // the file as opened: os.SameFile compares device and inode
	log      *slog.Logger
	errLog   *ratelog.Logger // disk full and I/O errors

	mu   sync.Mutex
	lost error // sticky; wraps ErrStorageLost

	failures map[string]*atomic.Uint64 // by cause; the map is never written after init

	stop chan struct{}
	done chan struct{}
}

func newStorageGuard(path string, log *slog.Logger) (*storageGuard, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("storage identity: %w", err)
	}
	g := &storageGuard{
		path:     path,
		identity: fi,
		log:      log,
		errLog:   ratelog.New(log, slog.LevelError, 0),
		failures: make(map[string]*atomic.Uint64, len(StorageFailureCauses)),
		stop:     make(chan struct{}),
		done:     make(chan struct{}),
	}
	for _, c := range StorageFailureCauses {
		g.failures[c] = new(atomic.Uint64)
	}
	return g, nil
}

// lostErr returns the sticky loss, or nil.
func (g *storageGuard) lostErr() error {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.lost
}

// check compares the path's identity with the file opened. It returns the
// (sticky) ErrStorageLost when the file is gone or another file took its
// place, an ErrStorageIO when the path cannot be examined, else nil.
func (g *storageGuard) check() error {
	if err := g.lostErr(); err != nil {
		return err
	}
	fi, err := os.Stat(g.path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return g.markLost("was removed")
	case err != nil:
		return fmt.Errorf("%w: cannot examine the database file: %w", ErrStorageIO, err)
	case !os.SameFile(fi, g.identity):
		return g.markLost("was replaced by another file")
	}
	return nil
}

// markLost records the loss once, logs it once at ERROR and returns it.
func (g *storageGuard) markLost(what string) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.lost != nil {
		return g.lost
	}
	g.lost = fmt.Errorf("%w: the database file %s %s while the platform was running; no write is accepted until the platform is restarted", ErrStorageLost, g.path, what)
	g.log.Error("registry storage lost: refusing every write until restart; restore the data directory before restarting, or the platform starts empty",
		"path", g.path, "cause", what)
	return g.lost
}

// classify turns a write's error into a storage error when SQLite says the
// disk is full, I/O failed or the database was moved; other errors (the
// domain's refusals, constraint violations) are returned as they are.
func (g *storageGuard) classify(err error) error {
	if err == nil || errors.Is(err, ErrStorageLost) || errors.Is(err, ErrStorageFull) || errors.Is(err, ErrStorageIO) {
		return err
	}
	se, ok := errors.AsType[*sqlite.Error](err)
	if !ok {
		return err
	}
	switch code := se.Code(); {
	case code == sqlite3.SQLITE_READONLY_DBMOVED:
		return g.markLost("was moved or removed")
	case code&0xff == sqlite3.SQLITE_FULL:
		return fmt.Errorf("%w: %w", ErrStorageFull, err)
	case code&0xff == sqlite3.SQLITE_IOERR:
		return fmt.Errorf("%w: %w", ErrStorageIO, err)
	}
	return err
}

// failed counts a write that failed for a storage cause and logs disk-full
// and I/O failures (rate-limited). Other errors are not counted.
func (g *storageGuard) failed(err error) {
	var cause string
	switch {
	case errors.Is(err, ErrStorageLost):
		cause = CauseStorageLost // logged once, by markLost
	case errors.Is(err, ErrStorageFull):
		cause = CauseDiskFull
		g.errLog.Log(cause, "registry write failed: disk full; nothing was stored", slog.String("path", g.path), slog.Any("err", err))
	case errors.Is(err, ErrStorageIO):
		cause = CauseIOError
		g.errLog.Log(cause, "registry write failed: I/O error; nothing was stored", slog.String("path", g.path), slog.Any("err", err))
	default:
		return
	}
	g.failures[cause].Add(1)
}

// watch runs check every interval until stop.
func (g *storageGuard) watch(interval time.Duration) {
	defer close(g.done)
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			_ = g.check() // a loss is logged by markLost
		case <-g.stop:
			return
		}
	}
}

// close stops the watcher and writes pending log summaries.
func (g *storageGuard) close() {
	close(g.stop)
	<-g.done
	g.errLog.Close()
}

// StorageErr reports whether the registry can store writes: nil, or an error
// wrapping ErrStorageLost (sticky) or ErrStorageIO. It examines the database
// file on every call (one stat), so a health check sees a loss at once.
func (r *Registry) StorageErr() error {
	return r.storage.check()
}

// StorageFailures returns how many writes failed for cause (one of
// StorageFailureCauses) since Open; an unknown cause counts 0.
func (r *Registry) StorageFailures(cause string) uint64 {
	if c, ok := r.storage.failures[cause]; ok {
		return c.Load()
	}
	return 0
}
