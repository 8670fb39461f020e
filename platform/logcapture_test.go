package platform_test

import (
	"bytes"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/certlab/certlab/platform"
)

// logSink collects a platform's log lines (text handler, debug level).
type logSink struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (s *logSink) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.Write(p)
}

func (s *logSink) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.String()
}

// lines returns the lines at level (e.g. "ERROR") that contain every one of subs.
func (s *logSink) lines(level string, subs ...string) []string {
	var out []string
	for _, l := range strings.Split(s.String(), "\n") {
		if !strings.Contains(l, "level="+level+" ") {
			continue
		}
		ok := true
		for _, sub := range subs {
			ok = ok && strings.Contains(l, sub)
		}
		if ok {
			out = append(out, l)
		}
	}
	return out
}

// waitLines polls until at least one line at level contains every one of subs.
func (s *logSink) waitLines(t *testing.T, within time.Duration, level string, subs ...string) []string {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		if got := s.lines(level, subs...); len(got) > 0 {
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("no %s log line containing %q within %s; log:\n%s", level, subs, within, s.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// withLog sends the platform's log to a new sink.
func withLog(sink **logSink) func(*platform.Config) {
	s := &logSink{}
	*sink = s
	return func(c *platform.Config) {
		c.Logger = slog.New(slog.NewTextHandler(s, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
}
