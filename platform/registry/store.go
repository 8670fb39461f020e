package registry

// store.go: the SQLite side. One connection, WAL, synchronous=FULL, foreign
// keys on; the schema is versioned with PRAGMA user_version. Every write runs
// on the single writer goroutine, which batches concurrent requests into one
// transaction (group commit, one fsync for the batch), each request inside
// its own SAVEPOINT; the in-memory indexes are updated only after COMMIT
// succeeds, in commit order.

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// schemaVersion is the PRAGMA user_version this build writes.
const schemaVersion = 1

// migrations[i] upgrades the schema from version i to i+1.
var migrations = []string{
	// v1
	`
CREATE TABLE counters (
	name  TEXT PRIMARY KEY,
	value INTEGER NOT NULL
) STRICT;

CREATE TABLE projects (
	id         TEXT PRIMARY KEY,
	name       TEXT NOT NULL UNIQUE,
	access_key TEXT NOT NULL UNIQUE,
	secret_key TEXT NOT NULL,
	token      TEXT NOT NULL UNIQUE,
	created_at INTEGER NOT NULL
) STRICT;

CREATE TABLE cas (
	id          TEXT PRIMARY KEY,
	project_id  TEXT NOT NULL REFERENCES projects(id),
	app_id      TEXT NOT NULL,
	cn_name     TEXT NOT NULL,
	owner       TEXT NOT NULL,
	verified    INTEGER NOT NULL DEFAULT 0,
	verify_code TEXT NOT NULL,
	pem         TEXT NOT NULL,
	sha256      TEXT NOT NULL,
	created_at  INTEGER NOT NULL,
	UNIQUE (project_id, sha256) -- [CA-DUPLICATE]
) STRICT;

CREATE TABLE products (
	project_id           TEXT NOT NULL REFERENCES projects(id),
	id                   TEXT NOT NULL,
	app_id               TEXT NOT NULL,
	name                 TEXT NOT NULL,
	device_type          TEXT NOT NULL,
	protocol_type        TEXT NOT NULL,
	data_format          TEXT NOT NULL,
	manufacturer_name    TEXT NOT NULL,
	industry             TEXT NOT NULL,
	description          TEXT NOT NULL,
	service_capabilities TEXT NOT NULL,
	created_at           INTEGER NOT NULL,
	PRIMARY KEY (project_id, id)
) STRICT;

CREATE TABLE devices (
	seq                   INTEGER PRIMARY KEY,
	device_id             TEXT NOT NULL UNIQUE, -- [DEV-ID] unique across all projects
	project_id            TEXT NOT NULL,
	app_id                TEXT NOT NULL,
	node_id               TEXT NOT NULL,
	name                  TEXT NOT NULL,
	product_id            TEXT NOT NULL,
	description           TEXT NOT NULL,
	gateway_id            TEXT NOT NULL,
	auth_type             TEXT NOT NULL,
	secret                TEXT NOT NULL,
	fingerprint           TEXT NOT NULL,
	secondary_fingerprint TEXT NOT NULL,
	secure_access         INTEGER NOT NULL,
	timeout               INTEGER NOT NULL,
	frozen                INTEGER NOT NULL,
	status                TEXT NOT NULL,
	extension_info        TEXT,
	created_at            INTEGER NOT NULL,
	active_time           INTEGER NOT NULL,
	status_update_time    INTEGER NOT NULL,
	FOREIGN KEY (project_id, product_id) REFERENCES products(project_id, id)
) STRICT;

CREATE INDEX devices_by_product ON devices(project_id, product_id);
`,
}

// openDB opens the database with the durability settings and checks that
// SQLite actually applied them.
func openDB(ctx context.Context, path string) (*sql.DB, error) {
	// _txlock=immediate: BEGIN takes the write lock at once, so a
	// transaction never fails half-way with SQLITE_BUSY on lock upgrade.
	// temp_store(MEMORY): statement journals (one per UPDATE of the status
	// flush) stay in memory instead of a pwrite to a temporary file per
	// page; cache_size(-65536): up to 64 MiB of page cache (taken as pages
	// are read), so the status flush of a large registry does not pread
	// every device's page again. Measured with BenchmarkStatusFlush (CPU
	// per dirty device): 2,000 devices 17-20 -> 10-13 µs, 100,000 devices
	// 51-58 -> 29-40 µs.
	dsn := path + "?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)" +
		"&_pragma=synchronous(FULL)&_pragma=foreign_keys(ON)&_pragma=temp_store(MEMORY)&_pragma=cache_size(-65536)&_txlock=immediate"
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, err
	}
	// One connection: every statement (the writer's transactions and the
	// load at Open) runs on it, so transactions serialise by construction.
	db.SetMaxOpenConns(1)
	db.SetMaxIdleConns(1)
	db.SetConnMaxLifetime(0)
	db.SetConnMaxIdleTime(0)
	var mode string
	var syncLevel, fk int
	if err := db.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&mode); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("journal_mode: %w", err)
	}
	if err := db.QueryRowContext(ctx, "PRAGMA synchronous").Scan(&syncLevel); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("synchronous: %w", err)
	}
	if err := db.QueryRowContext(ctx, "PRAGMA foreign_keys").Scan(&fk); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("foreign_keys: %w", err)
	}
	if mode != "wal" || syncLevel != 2 || fk != 1 {
		_ = db.Close()
		return nil, fmt.Errorf("pragmas not applied: journal_mode=%s synchronous=%d foreign_keys=%d", mode, syncLevel, fk)
	}
	return db, nil
}

// migrate brings the schema to schemaVersion, one transaction per step.
func (r *Registry) migrate(ctx context.Context) error {
	var v int
	if err := r.db.QueryRowContext(ctx, "PRAGMA user_version").Scan(&v); err != nil {
		return fmt.Errorf("migrate: read user_version: %w", err)
	}
	if v > schemaVersion {
		return fmt.Errorf("migrate: database schema version %d is newer than this build (%d)", v, schemaVersion)
	}
	for ; v < schemaVersion; v++ {
		if err := r.migrateStep(ctx, v); err != nil {
			return fmt.Errorf("migrate to v%d: %w", v+1, err)
		}
	}
	return nil
}

func (r *Registry) migrateStep(ctx context.Context, from int) error {
	tx, err := r.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer func() { _ = tx.Rollback() }()
	if _, err := tx.ExecContext(ctx, migrations[from]); err != nil {
		return err
	}
	if from == 0 {
		// epoch: creation time of the database, the prefix of allocated IDs.
		if _, err := tx.ExecContext(ctx, `INSERT INTO counters(name, value) VALUES ('id', 0), ('device', 0), ('epoch', ?)`,
			r.now().Unix()); err != nil {
			return err
		}
	}
	if _, err := tx.ExecContext(ctx, fmt.Sprintf("PRAGMA user_version = %d", from+1)); err != nil {
		return err
	}
	return tx.Commit()
}

// nextCounter increments a named counter inside tx and returns the new value.
// Counters never go backwards (a rolled-back transaction rolls them back too,
// and deleted rows never give their numbers back).
func nextCounter(ctx context.Context, tx *sql.Tx, name string) (int64, error) {
	var v int64
	if err := tx.QueryRowContext(ctx, `UPDATE counters SET value = value + 1 WHERE name = ? RETURNING value`, name).Scan(&v); err != nil {
		return 0, fmt.Errorf("counter %s: %w", name, err)
	}
	return v, nil
}

// isUniqueViolation reports whether err is a UNIQUE or PRIMARY KEY constraint failure.
func isUniqueViolation(err error) bool {
	var se *sqlite.Error
	if !errors.As(err, &se) {
		return false
	}
	c := se.Code()
	return c == sqlite3.SQLITE_CONSTRAINT_UNIQUE || c == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY
}

// unixNano / fromUnixNano store times as UTC nanoseconds; 0 is the zero time.
func unixNano(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

func fromUnixNano(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n).UTC()
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// ---- the single writer ----

// maxBatch bounds how many requests share one transaction.
const maxBatch = 256

// runFunc does one request's SQL inside the shared transaction. On success it
// returns apply, which updates the in-memory indexes after COMMIT (called with
// r.mu held for writing, in commit order; nil = nothing to apply).
type runFunc func(ctx context.Context, tx *sql.Tx) (apply func(), err error)

// op is one write request queued for the writer.
type op struct {
	ctx   context.Context
	run   runFunc
	trust bool // rebuild the trust snapshot after applying
	err   error
	done  chan struct{}
}

// write runs fn in a write transaction and returns once it is committed
// (durable) and applied to memory, or failed.
func (r *Registry) write(ctx context.Context, trust bool, fn runFunc) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	o := &op{ctx: ctx, run: fn, trust: trust, done: make(chan struct{})}
	select {
	case r.ops <- o:
	case <-r.writerStop:
		return ErrClosed
	case <-ctx.Done():
		return ctx.Err()
	}
	// Once handed over, wait for the outcome even if ctx ends: the request
	// may already be committed and the caller must learn which.
	<-o.done
	return o.err
}

// writer is the only goroutine that writes to the database.
func (r *Registry) writer() {
	defer close(r.writerDone)
	batch := make([]*op, 0, maxBatch)
	for {
		batch = batch[:0]
		select {
		case o := <-r.ops:
			batch = append(batch, o)
		case <-r.writerStop:
			return
		}
		// Group commit: take every request already waiting.
	collect:
		for len(batch) < maxBatch {
			select {
			case o := <-r.ops:
				batch = append(batch, o)
			default:
				break collect
			}
		}
		r.commitBatch(batch)
		for _, o := range batch {
			close(o.done)
		}
	}
}

// commitBatch runs every op of the batch in one transaction, each in its own
// savepoint, commits once, then applies the successful ones to memory.
func (r *Registry) commitBatch(batch []*op) {
	defer r.countStorageFailures(batch)
	fail := func(err error) {
		err = r.storage.classify(err)
		for _, o := range batch {
			if o.err == nil {
				o.err = err
			}
		}
	}
	if err := r.storage.lostErr(); err != nil {
		fail(err) // sticky: nothing more is written to a file that is gone
		return
	}
	tx, err := r.db.BeginTx(r.bg, nil)
	if err != nil {
		fail(fmt.Errorf("begin: %w", err))
		return
	}
	applies := make([]func(), len(batch))
	okCount := 0
	for i, o := range batch {
		if err := o.ctx.Err(); err != nil {
			o.err = err
			continue
		}
		if _, err := tx.ExecContext(r.bg, "SAVEPOINT op"); err != nil {
			_ = tx.Rollback()
			fail(fmt.Errorf("savepoint: %w", err))
			return
		}
		apply, err := o.run(o.ctx, tx)
		if err != nil {
			o.err = r.storage.classify(err)
			if _, rerr := tx.ExecContext(r.bg, "ROLLBACK TO op; RELEASE op"); rerr != nil {
				_ = tx.Rollback()
				fail(fmt.Errorf("rollback to savepoint: %w", rerr))
				return
			}
			continue
		}
		if _, err := tx.ExecContext(r.bg, "RELEASE op"); err != nil {
			_ = tx.Rollback()
			fail(fmt.Errorf("release savepoint: %w", err))
			return
		}
		if apply == nil {
			apply = func() {}
		}
		applies[i] = apply
		okCount++
	}
	if okCount == 0 {
		_ = tx.Rollback()
		return
	}
	if err := tx.Commit(); err != nil {
		// After SQLITE_FULL or SQLITE_IOERR SQLite "may or may not" roll
		// the transaction back itself (it did on a full tmpfs); should it
		// not, end it here, or every later BEGIN would fail. Without an
		// open transaction this is a harmless error.
		_, _ = r.db.ExecContext(r.bg, "ROLLBACK")
		fail(fmt.Errorf("commit: %w", err))
		return
	}
	// Committed into the file we opened; acknowledged only if that file is
	// still the registry's (not removed or replaced meanwhile).
	if err := r.storage.check(); err != nil {
		fail(err)
		return
	}
	// Committed and stored: now, and only now, the memory indexes follow.
	trust := false
	r.mu.Lock()
	for i, apply := range applies {
		if apply != nil {
			apply()
			trust = trust || batch[i].trust
		}
	}
	if trust {
		r.trust.Store(r.buildTrustLocked())
	}
	r.mu.Unlock()
}

// countStorageFailures counts the ops of a batch that failed for a storage cause.
func (r *Registry) countStorageFailures(batch []*op) {
	for _, o := range batch {
		if o.err != nil {
			r.storage.failed(o.err)
		}
	}
}

// load fills the in-memory indexes from the database (at Open).
func (r *Registry) load(ctx context.Context) error {
	var epoch int64
	if err := r.db.QueryRowContext(ctx, `SELECT value FROM counters WHERE name = 'epoch'`).Scan(&epoch); err != nil {
		return fmt.Errorf("epoch: %w", err)
	}
	r.idPrefix = fmt.Sprintf("%08x", uint32(epoch))
	if err := r.loadProjects(ctx); err != nil {
		return err
	}
	if err := r.loadCAs(ctx); err != nil {
		return err
	}
	if err := r.loadProducts(ctx); err != nil {
		return err
	}
	return r.loadDevices(ctx)
}
