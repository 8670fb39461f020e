package host

import (
	"context"
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"sync"

	"github.com/certlab/certlab/iotda"
	"github.com/certlab/certlab/preflight"
)

// Server is the platform under test as a run reaches it: its target, where
// its CPU time can be read, where it runs, and how to stop what OpenServer
// started.
type Server struct {
	Target *iotda.Target
	// Kind says where the platform came from.
	Kind ServerKind
	// CPU reads the server's CPU time (user + system). It is nil when the
	// server's CPU cannot be told apart from the generator's (a platform in
	// this process) or cannot be read (a target without a metrics endpoint
	// and no PID given).
	CPU CPUSource
	// Local is true when the server runs on this machine in another process,
	// competing with the generator for its CPUs: a child platform, a PID
	// given, or a target whose MQTT endpoint is a loopback address.
	Local bool
	// Child is the platform process OpenServer started (ServerChild), nil
	// otherwise: stop, kill and start it again on the same data directory
	// and addresses through it.
	Child *PlatformProcess

	once    sync.Once
	stop    func() error
	stopErr error
}

// Close stops what OpenServer started: the in-process platform or the child
// process (whose temporary data directory it removes). A target file's
// platform is left alone. It is idempotent.
func (s *Server) Close() error {
	s.once.Do(func() {
		if s.stop != nil {
			s.stopErr = s.stop()
		}
	})
	return s.stopErr
}

// ServerKind is where a platform under test comes from.
type ServerKind int

// Server kinds, in the order ServerSpec prefers them.
const (
	// ServerFile: a platform described by a target file, started by someone
	// else (a real IoTDA instance, or `certlab platform` run by hand).
	ServerFile ServerKind = iota + 1
	// ServerInProcess: the reference platform inside this process.
	ServerInProcess
	// ServerChild: `certlab platform` as a child process of this one.
	ServerChild
)

func (k ServerKind) String() string {
	switch k {
	case ServerFile:
		return "target file"
	case ServerInProcess:
		return "in-process platform"
	case ServerChild:
		return "child platform"
	}
	return fmt.Sprintf("ServerKind(%d)", int(k))
}

// A Launcher starts the reference platform inside this process and returns
// its target and how to stop it. cmd/ supplies it (it calls platform.New):
// the harness reaches a platform only through a target and never imports
// the platform's code.
type Launcher func(ctx context.Context) (t *iotda.Target, stop func() error, err error)

// ServerSpec says where the platform under test comes from: the first of
// TargetFile, InProcess and Child that is set.
type ServerSpec struct {
	// TargetFile is the path of a target file.
	TargetFile string
	// InProcess starts the platform inside this process.
	InProcess Launcher
	// Child starts `certlab platform` as a child process.
	Child *PlatformOptions
	// PID, when set, is a local platform process whose CPU time is read
	// (/proc/PID/stat) instead of the source the kind of server implies.
	PID int
	// NoPreflight skips the pre-flight of a target file (package preflight):
	// by default a target that cannot be used is one error naming the field
	// to fix, before anything runs.
	NoPreflight bool
}

// Kind is the kind of server the spec selects (0 when it selects none).
func (s ServerSpec) Kind() ServerKind {
	switch {
	case s.TargetFile != "":
		return ServerFile
	case s.InProcess != nil:
		return ServerInProcess
	case s.Child != nil:
		return ServerChild
	}
	return 0
}

// OpenServer obtains the platform under test the one way every command
// does: it loads the target file, or starts the platform in this process or
// as a child process, and says where the server's CPU time can be read:
//
//   - spec.PID set: that process's /proc/PID/stat;
//   - a child platform: the child's /proc/PID/stat (PlatformProcess);
//   - a target file: the target's metrics endpoint, if it has one;
//   - the platform in this process: nowhere (its CPU is this process's).
//
// Close the server when done.
func OpenServer(ctx context.Context, spec ServerSpec) (*Server, error) {
	s := &Server{Kind: spec.Kind()}
	switch s.Kind {
	case ServerFile:
		t, err := iotda.LoadTarget(spec.TargetFile)
		if err != nil {
			return nil, err
		}
		if !spec.NoPreflight {
			pf := preflight.Run(ctx, t, preflight.Options{Source: filepath.Base(spec.TargetFile)})
			if err := pf.Err(); err != nil {
				return nil, fmt.Errorf("%w (certlab target check %s shows every check)", err, spec.TargetFile)
			}
		}
		s.Target = t
		s.Local = isLoopback(t.MQTTAddress())
		if t.MetricsEndpoint != "" {
			s.CPU = MetricsCPU{URL: t.MetricsEndpoint}
		}
	case ServerInProcess:
		t, stop, err := spec.InProcess(ctx)
		if err != nil {
			return nil, fmt.Errorf("embedded platform: %w", err)
		}
		s.Target, s.stop = t, stop
	case ServerChild:
		p, err := StartPlatform(ctx, *spec.Child)
		if err != nil {
			return nil, err
		}
		s.Target, s.Child, s.stop = p.Target(), p, p.Close
		s.CPU, s.Local = p, true
	default:
		return nil, errors.New("open server: no target file, in-process platform or child platform given")
	}
	if spec.PID > 0 {
		s.CPU, s.Local = PIDCPU{PID: spec.PID}, true
	}
	return s, nil
}

// isLoopback reports whether addr (host:port) names this machine's loopback.
func isLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
