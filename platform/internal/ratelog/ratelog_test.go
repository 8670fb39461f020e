package ratelog

import (
	"bytes"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"
)

// lockedBuffer is a log sink safe for the timer goroutine.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) lines() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	s := strings.TrimSpace(l.b.String())
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}

func newTestLogger(interval time.Duration) (*Logger, *lockedBuffer) {
	buf := &lockedBuffer{}
	h := slog.NewTextHandler(buf, &slog.HandlerOptions{Level: slog.LevelDebug})
	return New(slog.New(h), slog.LevelWarn, interval), buf
}

// waitLines polls until buf holds n lines (or fails after 5 s).
func waitLines(t *testing.T, buf *lockedBuffer, n int) []string {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		got := buf.lines()
		if len(got) >= n || time.Now().After(deadline) {
			if len(got) != n {
				t.Fatalf("%d log lines, want %d:\n%s", len(got), n, strings.Join(got, "\n"))
			}
			return got
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestFirstLineAtOnceThenOneSummary(t *testing.T) {
	l, buf := newTestLogger(100 * time.Millisecond)
	defer l.Close()
	for i := range 50 {
		l.Log("emfile", "accept failed", slog.Int("i", i))
	}
	got := buf.lines()
	if len(got) != 1 || !strings.Contains(got[0], "level=WARN") || !strings.Contains(got[0], "kind=emfile") || !strings.Contains(got[0], "i=0") {
		t.Fatalf("immediately after 50 events: %q, want the first line only", got)
	}
	got = waitLines(t, buf, 2)
	if !strings.Contains(got[1], "more_like_this=49") || !strings.Contains(got[1], "i=49") || !strings.Contains(got[1], "within=100ms") {
		t.Errorf("summary line %q, want the latest event with more_like_this=49", got[1])
	}
}

func TestKindsAreIndependent(t *testing.T) {
	l, buf := newTestLogger(time.Hour)
	l.Log("emfile", "accept failed")
	l.Log("enfile", "accept failed")
	l.Log("emfile", "accept failed")
	if got := buf.lines(); len(got) != 2 {
		t.Fatalf("%d lines, want one per kind: %q", len(got), got)
	}
	l.Close() // writes the held emfile summary
	got := buf.lines()
	if len(got) != 3 || !strings.Contains(got[2], "kind=emfile") || !strings.Contains(got[2], "more_like_this=1") {
		t.Fatalf("after Close: %q, want the emfile summary last", got)
	}
	l.Log("emfile", "after close")
	if n := len(buf.lines()); n != 3 {
		t.Errorf("Log after Close wrote a line (%d lines)", n)
	}
}

func TestQuietKindLogsAgainAfterInterval(t *testing.T) {
	l, buf := newTestLogger(20 * time.Millisecond)
	defer l.Close()
	l.Log("other", "first")
	time.Sleep(40 * time.Millisecond)
	l.Log("other", "second")
	got := buf.lines()
	if len(got) != 2 || strings.Contains(got[1], "more_like_this") {
		t.Fatalf("%q, want two plain lines", got)
	}
}
