package broker

// status.go: device status updates (ONLINE on login, OFFLINE on the end of
// the current session) are registry writes. They go through one background
// writer, coalesced per device, so that a synchronous database write never
// sits between a CONNECT and its CONNACK. [DEV-STATUS]

import (
	"context"
	"log/slog"
	"sync"
	"time"
)

type statusWriter struct {
	dir Directory
	log *slog.Logger

	mu      sync.Mutex
	pending map[string]statusChange
	wake    chan struct{} // capacity 1: "there is work"
	stop    chan struct{}
	done    chan struct{}
	running bool
	stopped bool
}

// statusChange is the coalesced state of one device since the last write.
type statusChange struct {
	online      bool
	at          time.Time
	firstOnline time.Time // first login in the batch, so active_time is not lost
}

func newStatusWriter(dir Directory, log *slog.Logger) *statusWriter {
	return &statusWriter{
		dir:     dir,
		log:     log,
		pending: make(map[string]statusChange),
		wake:    make(chan struct{}, 1),
		stop:    make(chan struct{}),
		done:    make(chan struct{}),
	}
}

func (w *statusWriter) start() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.running || w.stopped {
		return
	}
	w.running = true
	go w.loop()
}

// set queues a status change; it never blocks on the registry.
func (w *statusWriter) set(deviceID string, online bool, at time.Time) {
	w.mu.Lock()
	ch := w.pending[deviceID]
	if online && ch.firstOnline.IsZero() {
		ch.firstOnline = at
	}
	ch.online, ch.at = online, at
	w.pending[deviceID] = ch
	w.mu.Unlock()
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

func (w *statusWriter) loop() {
	defer close(w.done)
	for {
		select {
		case <-w.wake:
			w.flush(time.Time{})
		case <-w.stop:
			return
		}
	}
}

// flush writes everything pending; a non-zero until bounds the whole flush.
func (w *statusWriter) flush(until time.Time) {
	w.mu.Lock()
	batch := w.pending
	w.pending = make(map[string]statusChange)
	w.mu.Unlock()
	for id, ch := range batch {
		if !until.IsZero() && time.Now().After(until) {
			w.log.Warn("device status flush cut short", "pending", len(batch))
			return
		}
		if !ch.firstOnline.IsZero() && (!ch.online || ch.firstOnline.Before(ch.at)) {
			w.write(id, true, ch.firstOnline, until)
		}
		w.write(id, ch.online, ch.at, until)
	}
}

func (w *statusWriter) write(deviceID string, online bool, at, until time.Time) {
	deadline := time.Now().Add(statusTimeout)
	if !until.IsZero() && until.Before(deadline) {
		deadline = until
	}
	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	defer cancel()
	if err := w.dir.SetOnline(ctx, deviceID, online, at); err != nil {
		w.log.Warn("device status update failed", "device_id", deviceID, "online", online, "error", err)
	}
}

// close stops the writer and flushes what is pending, within limit.
func (w *statusWriter) close(limit time.Duration) {
	w.mu.Lock()
	if w.stopped {
		w.mu.Unlock()
		return
	}
	w.stopped = true
	running := w.running
	w.mu.Unlock()
	if running {
		close(w.stop)
		<-w.done
	}
	w.flush(time.Now().Add(limit))
}
