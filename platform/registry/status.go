package registry

// status.go: device connection status. [DEV-STATUS]
//
// Status is SOFT STATE. SetOnline runs on every MQTT login and disconnect,
// so it must not wait for an fsync: it updates the in-memory device at once
// (what LookupDevice, Device and ListDevices return) and marks the device
// dirty; a background batcher writes the dirty devices' current status,
// status_update_time and active_time in one transaction at most every
// statusFlushInterval, and once more on Close. A crash can therefore lose
// the last ~100 ms of status changes (a restarted platform has no live
// sessions anyway). Every API-acknowledged write (create, update, delete,
// verify, bind, freeze) is synchronous and durable; see store.go.

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/certlab/certlab/iotda"
)

// statusFlushInterval is the minimum time between two status flushes.
const statusFlushInterval = 100 * time.Millisecond

type statusBatcher struct {
	mu      sync.Mutex
	pending map[string]*devEntry // dirty devices; the value written is read at flush time
	kick    chan struct{}        // capacity 1: "something is pending"
	stop    chan struct{}
	done    chan struct{}
}

func (b *statusBatcher) init() {
	b.pending = map[string]*devEntry{}
	b.kick = make(chan struct{}, 1)
	b.stop = make(chan struct{})
	b.done = make(chan struct{})
}

func (b *statusBatcher) mark(id string, e *devEntry) {
	b.mu.Lock()
	b.pending[id] = e
	b.mu.Unlock()
	select {
	case b.kick <- struct{}{}:
	default:
	}
}

// SetOnline records a successful login (status ONLINE, active_time on the first) or a disconnect (OFFLINE). [DEV-STATUS]
// It updates memory immediately and persists asynchronously (see the file comment).
// Calls for one device must be made in event order; at zero = now.
func (r *Registry) SetOnline(ctx context.Context, deviceID string, online bool, at time.Time) error {
	if r.closed.Load() {
		return fmt.Errorf("set online: %w", ErrClosed)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("set online: %w", err)
	}
	e := r.devs.get(deviceID)
	if e == nil {
		return fmt.Errorf("set online: %w: device %q not found", ErrNotFound, deviceID)
	}
	if at.IsZero() {
		at = r.now()
	}
	e.setStatus(online, at.UTC()) // the first successful login activates the device
	r.status.mark(deviceID, e)
	return nil
}

// statusLoop flushes dirty statuses, at most every statusFlushInterval.
func (r *Registry) statusLoop() {
	defer close(r.status.done)
	var last time.Time
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	for {
		select {
		case <-r.status.kick:
		case <-r.status.stop:
			r.flushStatus()
			return
		}
		if wait := time.Until(last.Add(statusFlushInterval)); wait > 0 {
			timer.Reset(wait)
			select {
			case <-timer.C:
			case <-r.status.stop:
				timer.Stop()
				r.flushStatus()
				return
			}
		}
		last = time.Now()
		r.flushStatus()
	}
}

// flushStatus writes the current status of every dirty device in one
// transaction. On failure the devices are marked dirty again (retried on the
// next flush).
func (r *Registry) flushStatus() {
	b := &r.status
	b.mu.Lock()
	batch := b.pending
	if len(batch) == 0 {
		b.mu.Unlock()
		return
	}
	b.pending = make(map[string]*devEntry, len(batch))
	b.mu.Unlock()

	err := r.write(r.bg, false, func(ctx context.Context, tx *sql.Tx) (func(), error) {
		stmt, err := tx.PrepareContext(ctx, `UPDATE devices SET status = ?, active_time = ?, status_update_time = ? WHERE device_id = ? AND seq = ?`)
		if err != nil {
			return nil, err
		}
		defer stmt.Close()
		for id, e := range batch {
			d := e.device()
			// seq guards against a device deleted and re-created since: its
			// old entry's status must not land on the new row.
			if _, err := stmt.ExecContext(ctx, d.Status, unixNano(d.ActiveTime), unixNano(d.StatusUpdateTime), id, d.Seq); err != nil {
				return nil, err
			}
		}
		return nil, nil
	})
	if err != nil {
		b.mu.Lock()
		for id, e := range batch {
			if _, newer := b.pending[id]; !newer {
				b.pending[id] = e
			}
		}
		b.mu.Unlock()
		if errors.Is(err, ErrStorageLost) {
			return // nothing can be stored any more: retry only when a new status change kicks
		}
		select {
		case b.kick <- struct{}{}:
		default:
		}
	}
}

// ResetOnline marks every ONLINE device OFFLINE, in one statement and in
// memory, and returns how many were ONLINE. A platform calls it once at start,
// before it accepts logins: a process that starts has no sessions, so a device
// still ONLINE in the database lost its session in a crash or kill (a clean
// Close leaves none ONLINE). [DEV-STATUS]
func (r *Registry) ResetOnline(ctx context.Context, at time.Time) (int64, error) {
	if at.IsZero() {
		at = r.now()
	}
	at = at.UTC()
	var n int64
	err := r.write(ctx, false, func(ctx context.Context, tx *sql.Tx) (func(), error) {
		res, err := tx.ExecContext(ctx, `UPDATE devices SET status = ?, status_update_time = ? WHERE status = ?`,
			iotda.StatusOffline, unixNano(at), iotda.StatusOnline)
		if err != nil {
			return nil, err
		}
		if n, err = res.RowsAffected(); err != nil {
			return nil, err
		}
		return func() { // under r.mu, after the commit
			for _, ps := range r.projects {
				for _, e := range ps.devices {
					if e.device().Status == iotda.StatusOnline {
						e.setStatus(false, at)
					}
				}
			}
		}, nil
	})
	if err != nil {
		return 0, fmt.Errorf("reset online devices: %w", err)
	}
	return n, nil
}
