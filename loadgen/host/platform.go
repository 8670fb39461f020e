package host

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sync"
	"syscall"
	"time"

	"github.com/certlab/certlab/iotda"
)

// PlatformTargetFile is the file `certlab platform --data DIR` writes into
// DIR when it is ready (platform.TargetFile; cmd/certlab's tests check that
// the two agree, since this package may not import the platform).
const PlatformTargetFile = "target.json"

// Defaults of PlatformOptions.
const (
	DefaultPlatformReadyTimeout = 30 * time.Second
	DefaultPlatformStopTimeout  = 10 * time.Second
)

// PlatformOptions start the reference platform as a child process.
type PlatformOptions struct {
	// Command is the argv that runs `certlab platform`, e.g.
	// {"/usr/bin/certlab", "platform"}; the data directory and address flags
	// are appended. Required.
	Command []string
	Env     []string // extra environment of the child
	// DataDir is the platform's data directory; default a temporary
	// directory that Close removes. Stop, Kill and Start keep it, so a
	// restarted platform finds its registry, credentials and server CA.
	DataDir string
	// APIAddr, MQTTAddr and MetricsAddr are the first start's listen
	// addresses; default 127.0.0.1:0 each. A later Start binds the
	// addresses the first one bound, so clients reconnect where they were.
	APIAddr, MQTTAddr, MetricsAddr string
	LogLevel                       string    // the child's --log-level; default "warn"
	Stderr                         io.Writer // the child's stderr; default os.Stderr
	// CPUs, when set, pins the child to these CPUs from birth (StartOn).
	CPUs         []int
	ReadyTimeout time.Duration // how long a start may take; default 30 s
	StopTimeout  time.Duration // how long Stop waits after SIGTERM before SIGKILL; default 10 s
}

// PlatformProcess is a reference platform running as a child process.
// Target, PID, CPUSeconds and String are safe to call at any time, also
// while Start, Stop, Kill or Close (which run one at a time) are under way.
// It is a CPUSource: the CPU time of the current child process, which starts
// again from zero after a restart.
type PlatformProcess struct {
	opts  PlatformOptions
	dir   string
	rmDir bool

	ctl sync.Mutex // serialises Start, Stop, Kill and Close

	mu      sync.Mutex // guards the fields below for readers
	cur     *child
	target  *iotda.Target
	api     string // bound addresses, reused by a restart
	mqtt    string
	metrics string
}

// child is one process of the platform.
type child struct {
	cmd    *exec.Cmd
	exited chan struct{} // closed once the process has been waited for
	err    error         // its exit, set before exited is closed
}

func (c *child) running() bool {
	select {
	case <-c.exited:
		return false
	default:
		return true
	}
}

var _ CPUSource = (*PlatformProcess)(nil)

// StartPlatform starts `certlab platform` in o.DataDir (or a temporary
// directory) on loopback ports and waits until it has written its target
// file. The child gets SIGTERM if this process dies.
func StartPlatform(ctx context.Context, o PlatformOptions) (*PlatformProcess, error) {
	if len(o.Command) == 0 {
		return nil, errors.New("start platform: no command")
	}
	if o.LogLevel == "" {
		o.LogLevel = "warn"
	}
	if o.Stderr == nil {
		o.Stderr = os.Stderr
	}
	if o.ReadyTimeout <= 0 {
		o.ReadyTimeout = DefaultPlatformReadyTimeout
	}
	if o.StopTimeout <= 0 {
		o.StopTimeout = DefaultPlatformStopTimeout
	}
	p := &PlatformProcess{opts: o, dir: o.DataDir, api: o.APIAddr, mqtt: o.MQTTAddr, metrics: o.MetricsAddr}
	for _, a := range []*string{&p.api, &p.mqtt, &p.metrics} {
		if *a == "" {
			*a = "127.0.0.1:0"
		}
	}
	if p.dir == "" {
		dir, err := os.MkdirTemp("", "certlab-platform-*")
		if err != nil {
			return nil, fmt.Errorf("start platform: %w", err)
		}
		p.dir, p.rmDir = dir, true
	}
	if err := p.Start(ctx); err != nil {
		if p.rmDir {
			_ = os.RemoveAll(p.dir)
		}
		return nil, err
	}
	return p, nil
}

// Start starts the platform again after Stop or Kill, on the same data
// directory and the addresses it bound first, and waits until it is ready
// (a storm's outage ends here). It is an error while the platform runs.
func (p *PlatformProcess) Start(ctx context.Context) error {
	p.ctl.Lock()
	defer p.ctl.Unlock()
	p.mu.Lock()
	running := p.cur != nil && p.cur.running()
	api, mqtt, metrics := p.api, p.mqtt, p.metrics
	p.mu.Unlock()
	if running {
		return errors.New("start platform: already running")
	}
	// The target file of a previous run says nothing about this one: the
	// child writes it anew when it is ready.
	path := filepath.Join(p.dir, PlatformTargetFile)
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("start platform: %w", err)
	}
	args := append(slices.Clone(p.opts.Command[1:]), "--data", p.dir, "--api-addr", api, "--mqtt-addr", mqtt,
		"--metrics-addr", metrics, "--log-level", p.opts.LogLevel)
	c := &child{cmd: exec.Command(p.opts.Command[0], args...), exited: make(chan struct{})}
	c.cmd.Env = append(os.Environ(), p.opts.Env...)
	c.cmd.Stdout, c.cmd.Stderr = io.Discard, p.opts.Stderr
	c.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM} // never outlive the generator
	if err := StartOn(p.opts.CPUs, c.cmd.Start); err != nil {
		return fmt.Errorf("start platform: %w", err)
	}
	go func() {
		c.err = c.cmd.Wait()
		close(c.exited)
	}()
	p.mu.Lock()
	p.cur = c
	p.mu.Unlock()

	t, err := p.awaitTarget(ctx, path, c)
	if err == nil {
		api, err = hostPort(t.APIEndpoint)
	}
	if err == nil {
		metrics, err = hostPort(t.MetricsEndpoint)
	}
	if err != nil {
		_ = p.signalAndWait(c, syscall.SIGTERM)
		return fmt.Errorf("start platform: %w", err)
	}
	p.mu.Lock()
	p.target, p.api, p.mqtt, p.metrics = t, api, t.MQTTAddress(), metrics
	p.mu.Unlock()
	return nil
}

// awaitTarget polls for the child's target file until it appears, the
// child exits, the ready timeout passes or ctx ends.
func (p *PlatformProcess) awaitTarget(ctx context.Context, path string, c *child) (*iotda.Target, error) {
	deadline := time.NewTimer(p.opts.ReadyTimeout)
	defer deadline.Stop()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		if _, err := os.Stat(path); err == nil {
			return iotda.LoadTarget(path) // written atomically (iotda.Target.Save)
		}
		select {
		case <-c.exited:
			return nil, fmt.Errorf("exited before it was ready: %v", c.err)
		case <-deadline.C:
			return nil, fmt.Errorf("not ready after %s", p.opts.ReadyTimeout)
		case <-ctx.Done():
			return nil, context.Cause(ctx)
		case <-tick.C:
		}
	}
}

// hostPort is the host:port of an endpoint URL; "off" (the platform's
// --metrics-addr for no metrics) for "".
func hostPort(endpoint string) (string, error) {
	if endpoint == "" {
		return "off", nil
	}
	u, err := url.Parse(endpoint)
	if err != nil {
		return "", fmt.Errorf("endpoint %q: %w", endpoint, err)
	}
	if u.Host == "" {
		return "", fmt.Errorf("endpoint %q has no host", endpoint)
	}
	return u.Host, nil
}

// Target is the running (or last) platform's target.
func (p *PlatformProcess) Target() *iotda.Target {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.target
}

// PID is the current (or last) child's process ID.
func (p *PlatformProcess) PID() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cur == nil {
		return 0
	}
	return p.cur.cmd.Process.Pid
}

// Running reports whether the platform process is up (started and not exited).
func (p *PlatformProcess) Running() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.cur != nil && p.cur.running()
}

// DataDir is the platform's data directory.
func (p *PlatformProcess) DataDir() string { return p.dir }

// CPUSeconds reads the current child's CPU time (CPUSource).
func (p *PlatformProcess) CPUSeconds(ctx context.Context) (float64, error) {
	return PIDCPU{PID: p.PID()}.CPUSeconds(ctx)
}

func (p *PlatformProcess) String() string { return PIDCPU{PID: p.PID()}.String() }

// Stop ends the platform gracefully: SIGTERM, then SIGKILL after the stop
// timeout. The data directory stays. It is a no-op when it is not running.
func (p *PlatformProcess) Stop() error { return p.end(syscall.SIGTERM) }

// Kill ends the platform at once with SIGKILL, as a crash would: what it
// acknowledged is on disk, the rest is lost. The data directory stays.
func (p *PlatformProcess) Kill() error { return p.end(syscall.SIGKILL) }

func (p *PlatformProcess) end(sig syscall.Signal) error {
	p.ctl.Lock()
	defer p.ctl.Unlock()
	p.mu.Lock()
	c := p.cur
	p.mu.Unlock()
	if c == nil {
		return nil
	}
	return p.signalAndWait(c, sig)
}

// signalAndWait sends sig to c unless it has exited and waits for it to
// exit, escalating to SIGKILL after the stop timeout.
func (p *PlatformProcess) signalAndWait(c *child, sig syscall.Signal) error {
	if !c.running() {
		return nil
	}
	if err := c.cmd.Process.Signal(sig); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("stop platform: %w", err)
	}
	t := time.NewTimer(p.opts.StopTimeout)
	defer t.Stop()
	select {
	case <-c.exited:
	case <-t.C:
		_ = c.cmd.Process.Kill()
		<-c.exited
	}
	return nil
}

// Close stops the platform (Stop) and removes the data directory if
// StartPlatform created it. It is idempotent.
func (p *PlatformProcess) Close() error {
	err := p.Stop()
	p.ctl.Lock()
	defer p.ctl.Unlock()
	if p.rmDir {
		if rerr := os.RemoveAll(p.dir); rerr != nil {
			err = errors.Join(err, fmt.Errorf("remove platform data: %w", rerr))
		}
		p.rmDir = false
	}
	return err
}
