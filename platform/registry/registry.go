// Package registry holds the reference platform's domain rules and durable
// state: projects (tenants), device CAs (100 per project, proof of
// possession), products and devices (node_id, device_id, fingerprints,
// status). Writes go to SQLite (pure Go, WAL, synchronous) inside
// transactions, so quotas and uniqueness hold under concurrency and every
// acknowledged write survives kill -9; reads on the login hot path use
// in-memory indexes kept in step with every committed write.
//
// Layout, one file per concern:
//
//	registry.go  Options, Registry, Open/Close, change events
//	store.go     SQLite schema and migrations, the single writer (group commit)
//	index.go     in-memory indexes (sharded device map, per-project lists), paging
//	projects.go  projects and their API credentials
//	cas.go       device CAs: upload validation, quota, verification, deletion
//	trust.go     the immutable Trust snapshot used by the TLS hot path
//	products.go  products
//	devices.go   devices: registration, updates, fingerprints, freezing
//	status.go    ONLINE/OFFLINE soft state and its background batcher
//	storage.go   the database file's watcher: lost or replaced file, disk full
//	validate.go  field rules shared by the above
//	ids.go       identifiers and credentials
//
// Durability model: every method that returns after an API-visible change
// (create, update, delete, verify, bind) returns only once its transaction is
// committed with synchronous=FULL in WAL mode, i.e. fsynced. Concurrent
// writers are batched into one transaction by the single writer goroutine
// (group commit), each in its own SAVEPOINT, so one failing request never
// affects another. The only exception is SetOnline (device connection
// status), which is soft state persisted asynchronously; see status.go.
package registry

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	_ "modernc.org/sqlite" // registers the "sqlite" driver
)

// ErrClosed is returned by writes attempted after Close.
var ErrClosed = errors.New("registry closed")

// Options configure Open.
type Options struct {
	// Now returns the current time; nil = time.Now. Tests inject a clock.
	Now func() time.Time
	// MaxCAsPerProject overrides the CA quota; 0 = MaxCAsPerProject (100).
	// Only tests that prove the BDD suite can fail set it.
	MaxCAsPerProject int
	// AllowCertificatesOnAnyProtocol disables [PROTO-MQTT-ONLY]; only for
	// tests that prove the BDD suite can fail.
	AllowCertificatesOnAnyProtocol bool
	// Logger receives storage faults (file lost, disk full) at ERROR; nil = discard.
	Logger *slog.Logger
	// StorageCheckInterval is how often the database file's identity is
	// checked in the background (storage.go); 0 = DefaultStorageCheckInterval.
	StorageCheckInterval time.Duration
}

// withDefaults fills the zero fields of o.
func (o Options) withDefaults() Options {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.MaxCAsPerProject <= 0 {
		o.MaxCAsPerProject = MaxCAsPerProject
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.StorageCheckInterval <= 0 {
		o.StorageCheckInterval = DefaultStorageCheckInterval
	}
	return o
}

// Registry is the platform's durable registry. It is safe for concurrent use.
type Registry struct {
	opts Options
	db   *sql.DB
	// bg is the lifetime context of the background goroutines (the writer's
	// transactions and the status flusher); derived from Open's ctx without
	// its cancellation.
	bg context.Context
	// idPrefix is the 8-hex prefix of allocated CA and product IDs (the
	// database's creation time), followed by 16 hex digits of a counter.
	idPrefix string

	// The single writer (store.go).
	ops        chan *op
	writerStop chan struct{}
	writerDone chan struct{}

	// The status batcher (status.go).
	status statusBatcher

	// The database file's watcher (storage.go).
	storage *storageGuard

	// mu guards the per-project indexes below. The writer takes it for
	// writing after each commit; readers take it for reading. The login hot
	// path (LookupDevice, Trust) never takes it.
	mu       sync.RWMutex
	projects map[string]*projState // by project ID
	order    []*projState          // oldest first
	byAK     map[string]*projState
	byToken  map[string]*projState
	byName   map[string]*projState
	caByID   map[string]*CA // every CA of every project

	devs  deviceIndex           // global device_id → device, sharded (index.go)
	trust atomic.Pointer[Trust] // rebuilt after every CA change (trust.go)

	lmu       sync.Mutex
	listeners []func(Event)

	closed    atomic.Bool
	closeOnce sync.Once
	closeErr  error
}

// Open opens (creating if needed) the SQLite registry at path and loads the in-memory indexes.
func Open(ctx context.Context, path string, opts Options) (*Registry, error) {
	if path == "" || strings.ContainsAny(path, "?#") {
		return nil, fmt.Errorf("open registry: invalid path %q", path)
	}
	db, err := openDB(ctx, path)
	if err != nil {
		return nil, fmt.Errorf("open registry %s: %w", path, err)
	}
	r := &Registry{
		opts:       opts.withDefaults(),
		db:         db,
		bg:         context.WithoutCancel(ctx),
		ops:        make(chan *op),
		writerStop: make(chan struct{}),
		writerDone: make(chan struct{}),
	}
	r.resetIndexes()
	if r.storage, err = newStorageGuard(path, r.opts.Logger); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("open registry %s: %w", path, err)
	}
	if err := r.migrate(ctx); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("open registry %s: %w", path, err)
	}
	if err := r.load(ctx); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("open registry %s: load: %w", path, err)
	}
	r.trust.Store(r.buildTrust())
	r.status.init()
	go r.writer()
	go r.statusLoop()
	go r.storage.watch(r.opts.StorageCheckInterval)
	return r, nil
}

// Close flushes pending status changes, stops the writer and closes the
// database. It is safe to call more than once.
func (r *Registry) Close() error {
	r.closeOnce.Do(func() {
		r.closed.Store(true)
		close(r.status.stop) // final status flush goes through the writer
		<-r.status.done
		close(r.writerStop)
		<-r.writerDone
		r.storage.close()
		if err := r.db.Close(); err != nil {
			r.closeErr = fmt.Errorf("close registry: %w", err)
		}
	})
	return r.closeErr
}

// OnChange registers fn to be called after every committed change that matters to live sessions.
// fn runs synchronously in the goroutine of the call that made the change,
// after the commit and outside every registry lock; it must not block for long.
func (r *Registry) OnChange(fn func(Event)) {
	if fn == nil {
		return
	}
	r.lmu.Lock()
	// Copy on write: emit iterates a snapshot without holding lmu.
	next := make([]func(Event), len(r.listeners), len(r.listeners)+1)
	copy(next, r.listeners)
	r.listeners = append(next, fn)
	r.lmu.Unlock()
}

// emit delivers events to the listeners; called after commit, outside locks.
func (r *Registry) emit(events ...Event) {
	r.lmu.Lock()
	ls := r.listeners
	r.lmu.Unlock()
	for _, e := range events {
		for _, fn := range ls {
			fn(e)
		}
	}
}

// now returns the injected clock's time in UTC.
func (r *Registry) now() time.Time { return r.opts.Now().UTC() }
