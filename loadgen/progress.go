package loadgen

import (
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/certlab/certlab/loadgen/result"
	"github.com/schollz/progressbar/v3"
)

// Progress is a Sink that shows a live progress line: a progress bar on a
// terminal, a plain line every Interval otherwise (CI logs).
type Progress struct {
	w        io.Writer
	terminal bool
	interval time.Duration

	attempts, success, refused, errs, dropped, unexpected atomic.Int64

	mu      sync.Mutex
	server  string
	started time.Time
	length  time.Duration // expected length of the current attack (0 = unknown)
	total   int64         // expected attempts (0 = unknown)
	bar     *progressbar.ProgressBar
	stop    chan struct{}
	done    chan struct{}
}

// NewProgress writes progress to w; terminal selects the progress bar.
// interval is the period of plain lines (default 5 s; the bar refreshes
// every 200 ms).
func NewProgress(w io.Writer, terminal bool, interval time.Duration) *Progress {
	if interval <= 0 {
		interval = 5 * time.Second
	}
	return &Progress{w: w, terminal: terminal, interval: interval}
}

// Begin starts showing one attack; length (warm-up included) or total
// attempts size the bar when known. It ends the previous attack's display.
func (p *Progress) Begin(server string, length time.Duration, total int64) {
	p.End()
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range []*atomic.Int64{&p.attempts, &p.success, &p.refused, &p.errs, &p.dropped, &p.unexpected} {
		c.Store(0)
	}
	p.server, p.started, p.length, p.total = server, time.Now(), length, total
	p.stop, p.done = make(chan struct{}), make(chan struct{})
	period := p.interval
	if p.terminal {
		max := int64(-1)
		switch {
		case total > 0:
			max = total
		case length > 0:
			max = int64(length / time.Second)
		}
		p.bar = progressbar.NewOptions64(max,
			progressbar.OptionSetWriter(p.w),
			progressbar.OptionSetWidth(24),
			progressbar.OptionThrottle(200*time.Millisecond),
			progressbar.OptionSetDescription(server),
			progressbar.OptionClearOnFinish(),
		)
		period = 200 * time.Millisecond
	}
	go p.loop(period, p.stop, p.done)
}

func (p *Progress) loop(period time.Duration, stop, done chan struct{}) {
	defer close(done)
	t := time.NewTicker(period)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
			p.tick()
		}
	}
}

func (p *Progress) tick() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.bar == nil {
		fmt.Fprintln(p.w, p.line())
		return
	}
	p.bar.Describe(p.shortLine())
	switch {
	case p.total > 0:
		_ = p.bar.Set64(p.attempts.Load())
	case p.length > 0:
		_ = p.bar.Set64(int64(time.Since(p.started) / time.Second))
	default:
		_ = p.bar.Add(1) // spinner
	}
}

// line renders the current counts.
func (p *Progress) line() string {
	el := time.Since(p.started)
	rate := 0.0
	if s := el.Seconds(); s > 0 {
		rate = float64(p.success.Load()) / s
	}
	return fmt.Sprintf("%s %5.1fs  attempts %d  ok %d  refused %d  errors %d  dropped %d  unexpected %d  %.0f logins/s",
		p.server, el.Seconds(), p.attempts.Load(), p.success.Load(), p.refused.Load(), p.errs.Load(),
		p.dropped.Load(), p.unexpected.Load(), rate)
}

// shortLine fits a progress bar on a terminal line.
func (p *Progress) shortLine() string {
	rate := 0.0
	if s := time.Since(p.started).Seconds(); s > 0 {
		rate = float64(p.success.Load()) / s
	}
	return fmt.Sprintf("%s ok %d refused %d err %d drop %d unexp %d %.0f/s", p.server, p.success.Load(), p.refused.Load(),
		p.errs.Load(), p.dropped.Load(), p.unexpected.Load(), rate)
}

// End stops the display and prints a final line.
func (p *Progress) End() {
	p.mu.Lock()
	stop, done := p.stop, p.done
	p.stop = nil
	p.mu.Unlock()
	if stop == nil {
		return
	}
	close(stop)
	<-done
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.bar != nil {
		_ = p.bar.Finish()
		p.bar = nil
	}
	fmt.Fprintln(p.w, p.line())
}

// Record counts one result; it makes Progress a Sink.
func (p *Progress) Record(r *result.Result) error {
	p.attempts.Add(1)
	switch r.Outcome {
	case result.OutcomeSuccess:
		p.success.Add(1)
	case result.OutcomeRefused:
		p.refused.Add(1)
	case result.OutcomeDropped:
		p.dropped.Add(1)
	default:
		p.errs.Add(1)
	}
	if r.Unexpected {
		p.unexpected.Add(1)
	}
	return nil
}
