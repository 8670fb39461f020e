// Package ratelog bounds how often the platform writes one kind of log line.
// A fault that repeats per connection or per request (accept failing with
// EMFILE, a client aborting its handshake, a full disk) must be loud once and
// then cost bounded log: Logger writes the first line of a kind at once, holds
// back the ones that follow within the interval, and writes one summary line
// with their count when the interval ends ("N more like this").
//
// Kinds are the caller's closed set (an errno class, a failure cause), never
// peer-controlled strings: the state kept is one small record per kind.
package ratelog

import (
	"context"
	"log/slog"
	"sync"
	"time"
)

// DefaultInterval is the interval the platform uses: at most one line per
// kind every 10 s, plus the summary of what was held back.
const DefaultInterval = 10 * time.Second

// Logger writes at most one line per kind per interval at a fixed level.
// It is safe for concurrent use. Close writes the pending summaries.
type Logger struct {
	log      *slog.Logger
	level    slog.Level
	interval time.Duration
	now      func() time.Time

	mu     sync.Mutex
	kinds  map[string]*kindState
	closed bool
}

// kindState is what one kind remembers between lines.
type kindState struct {
	last  time.Time   // when the last line of this kind was written
	held  int         // lines held back since then
	msg   string      // message and attributes of the latest held line
	attrs []slog.Attr //
	timer *time.Timer // writes the summary at last+interval; nil when none is due
}

// New returns a Logger writing to log at level; interval <= 0 means DefaultInterval.
func New(log *slog.Logger, level slog.Level, interval time.Duration) *Logger {
	if interval <= 0 {
		interval = DefaultInterval
	}
	return &Logger{log: log, level: level, interval: interval, now: time.Now, kinds: map[string]*kindState{}}
}

// Log writes msg with attrs (plus kind) at once when no line of this kind
// was written in the last interval; otherwise it holds the line back and
// counts it, and the count goes out in one summary line (the latest held
// message and attributes, "more_like_this" and "within") when the interval
// ends. After Close it does nothing.
func (l *Logger) Log(kind, msg string, attrs ...slog.Attr) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return
	}
	k := l.kinds[kind]
	if k == nil {
		k = &kindState{}
		l.kinds[kind] = k
	}
	now := l.now()
	if k.held == 0 && (k.last.IsZero() || now.Sub(k.last) >= l.interval) {
		k.last = now
		l.write(kind, msg, attrs)
		return
	}
	k.held++
	k.msg, k.attrs = msg, attrs
	if k.timer == nil {
		wait := max(k.last.Add(l.interval).Sub(now), 0)
		k.timer = time.AfterFunc(wait, func() { l.flush(kind) })
	}
}

// flush writes the summary of kind's held lines (timer callback).
func (l *Logger) flush(kind string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	k := l.kinds[kind]
	if k == nil || l.closed {
		return
	}
	l.summaryLocked(kind, k)
}

func (l *Logger) summaryLocked(kind string, k *kindState) {
	if k.timer != nil {
		k.timer.Stop()
		k.timer = nil
	}
	if k.held == 0 {
		return
	}
	msg := k.msg
	attrs := append(append([]slog.Attr{}, k.attrs...),
		slog.Int("more_like_this", k.held), slog.Duration("within", l.interval))
	k.last, k.held, k.msg, k.attrs = l.now(), 0, "", nil
	l.write(kind, msg, attrs)
}

// write emits one line; called with l.mu held so lines of a kind keep their order.
func (l *Logger) write(kind, msg string, attrs []slog.Attr) {
	all := make([]slog.Attr, 0, len(attrs)+1)
	all = append(all, slog.String("kind", kind))
	all = append(all, attrs...)
	l.log.LogAttrs(context.Background(), l.level, msg, all...) // a summary may come from a timer: there is no caller context
}

// Close writes every pending summary and stops the timers; later Log calls
// do nothing. It is idempotent.
func (l *Logger) Close() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return
	}
	for kind, k := range l.kinds {
		l.summaryLocked(kind, k)
	}
	l.closed = true
}
