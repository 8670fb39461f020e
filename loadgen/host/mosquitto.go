package host

// mosquitto.go: Debian's mosquitto broker as a comparison server for the
// login benchmark: the same client CA pool and server key type as the
// platform, require_certificate, the certificate's CN as the username, no
// logging and no persistence (neither does the platform per login), and
// set_tcp_nodelay (without it every CONNACK waits ~40 ms for Nagle and a
// closed-loop benchmark measures the stall, not the broker).

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/certlab/certlab/sim/pki"
)

// MosquittoServerName is the DNS name in the comparison broker's server certificate.
const MosquittoServerName = "certlab-mosquitto"

// DefaultMosquitto is where Debian installs the broker (package mosquitto).
const DefaultMosquitto = "/usr/sbin/mosquitto"

// FindMosquitto returns the mosquitto binary: DefaultMosquitto, else the
// one on PATH, else an error that says how to install it.
func FindMosquitto() (string, error) {
	if fi, err := os.Stat(DefaultMosquitto); err == nil && !fi.IsDir() {
		return DefaultMosquitto, nil
	}
	if p, err := exec.LookPath("mosquitto"); err == nil {
		return p, nil
	}
	return "", errors.New("mosquitto is not installed (Debian: apt-get install mosquitto; make tools installs it)")
}

// MosquittoOptions start a mosquitto broker in a child process.
type MosquittoOptions struct {
	Binary        string              // default FindMosquitto()
	ServerKeyType pki.KeyType         // the platform's server key type; default ECDSA P-256
	ClientCAs     []*x509.Certificate // the fleet's device CAs; required
	CPUs          []int               // pin the broker to these CPUs from birth (StartOn)
	Dir           string              // config, certificates and log; default a temporary directory removed by Stop
	StartTimeout  time.Duration       // default 10 s
}

// MosquittoProcess is a running mosquitto child.
type MosquittoProcess struct {
	Addr           string         // 127.0.0.1:port
	PID            int            // for its CPU time
	RootCAs        *x509.CertPool // verifies its server certificate
	ServerName     string         // MosquittoServerName
	KeyDescription string         // the server key, e.g. "ECDSA P-256"

	cmd    *exec.Cmd
	exited chan struct{}
	dir    string
	rmDir  bool
}

// StartMosquitto mints the broker's server PKI, writes its configuration
// and starts it on a free loopback port. mosquitto cannot listen on port 0,
// so a port is found by binding and closing, and another is tried when it
// was taken meanwhile.
func StartMosquitto(ctx context.Context, o MosquittoOptions) (p *MosquittoProcess, err error) {
	if len(o.ClientCAs) == 0 {
		return nil, errors.New("start mosquitto: no client CAs")
	}
	if o.Binary == "" {
		if o.Binary, err = FindMosquitto(); err != nil {
			return nil, fmt.Errorf("start mosquitto: %w", err)
		}
	}
	if o.ServerKeyType == "" {
		o.ServerKeyType = pki.ECDSAP256
	}
	if o.StartTimeout <= 0 {
		o.StartTimeout = 10 * time.Second
	}
	p = &MosquittoProcess{ServerName: MosquittoServerName, dir: o.Dir}
	if p.dir == "" {
		if p.dir, err = os.MkdirTemp("", "certlab-mosquitto-*"); err != nil {
			return nil, fmt.Errorf("start mosquitto: %w", err)
		}
		p.rmDir = true
	}
	defer func() {
		if err != nil && p.rmDir {
			_ = os.RemoveAll(p.dir)
		}
	}()
	ca, err := pki.NewRootCA("certlab mosquitto server CA", pki.WithKeyType(o.ServerKeyType))
	if err != nil {
		return nil, fmt.Errorf("start mosquitto: %w", err)
	}
	srv, err := ca.NewServerCert(MosquittoServerName, []string{MosquittoServerName}, pki.WithKeyType(o.ServerKeyType))
	if err != nil {
		return nil, fmt.Errorf("start mosquitto: %w", err)
	}
	if err := srv.WriteFiles(p.dir, "server"); err != nil {
		return nil, fmt.Errorf("start mosquitto: %w", err)
	}
	var bundle []byte
	for _, c := range o.ClientCAs {
		bundle = append(bundle, pki.CertPEM(c)...)
	}
	caFile := filepath.Join(p.dir, "client-ca.pem")
	if err := os.WriteFile(caFile, bundle, 0o600); err != nil {
		return nil, fmt.Errorf("start mosquitto: %w", err)
	}
	p.KeyDescription = pki.KeyDescription(srv.Cert.PublicKey)
	p.RootCAs = x509.NewCertPool()
	p.RootCAs.AddCert(ca.Cert)
	// Run as whoever runs certlab: as root mosquitto would switch to the
	// mosquitto user, who cannot read these files.
	me, err := user.Current()
	if err != nil {
		return nil, fmt.Errorf("start mosquitto: %w", err)
	}
	var lastErr error
	for try := range 5 {
		port, err := freeLoopbackPort()
		if err != nil {
			return nil, fmt.Errorf("start mosquitto: %w", err)
		}
		logPath := filepath.Join(p.dir, fmt.Sprintf("mosquitto-%d.log", try))
		conf := filepath.Join(p.dir, fmt.Sprintf("mosquitto-%d.conf", try))
		body := strings.Join([]string{
			"user " + me.Username,
			"persistence false",
			"log_dest file " + logPath,
			"log_type error", // startup problems only: no per-connection log lines
			"connection_messages false",
			fmt.Sprintf("listener %d 127.0.0.1", port),
			"cafile " + caFile,
			"certfile " + filepath.Join(p.dir, "server"+pki.CertSuffix),
			"keyfile " + filepath.Join(p.dir, "server"+pki.KeySuffix),
			"require_certificate true",
			"use_identity_as_username true",
			"allow_anonymous false",
			"set_tcp_nodelay true",
			"max_connections -1",
			"",
		}, "\n")
		if err := os.WriteFile(conf, []byte(body), 0o600); err != nil {
			return nil, fmt.Errorf("start mosquitto: %w", err)
		}
		cmd := exec.Command(o.Binary, "-c", conf)
		cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM} // never outlive certlab
		if err := StartOn(o.CPUs, cmd.Start); err != nil {
			return nil, fmt.Errorf("start mosquitto: %w", err)
		}
		exited := make(chan struct{})
		go func() { _ = cmd.Wait(); close(exited) }()
		p.cmd, p.exited, p.PID = cmd, exited, cmd.Process.Pid
		addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
		werr := waitListening(ctx, addr, exited, o.StartTimeout)
		if werr == nil {
			p.Addr = addr
			return p, nil
		}
		lastErr = werr
		p.kill()
		logData, _ := os.ReadFile(logPath)
		if !strings.Contains(string(logData), "Address already in use") {
			return nil, fmt.Errorf("start mosquitto: %w; its log: %s", lastErr, strings.TrimSpace(string(logData)))
		}
	}
	return nil, fmt.Errorf("start mosquitto: no free port after 5 tries: %w", lastErr)
}

// CPU is the broker's CPU time source.
func (p *MosquittoProcess) CPU() CPUSource { return PIDCPU{PID: p.PID} }

// Stop ends the broker (SIGTERM, then SIGKILL after 5 s) and removes its
// files. It is idempotent.
func (p *MosquittoProcess) Stop() error {
	p.kill()
	if p.rmDir {
		_ = os.RemoveAll(p.dir)
		p.rmDir = false
	}
	return nil
}

func (p *MosquittoProcess) kill() {
	if p.cmd == nil {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-time.After(5 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.exited
	}
	p.cmd = nil
}

// freeLoopbackPort is a loopback TCP port nothing listened on a moment ago.
func freeLoopbackPort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// waitListening polls addr until it accepts a TCP connection, the process
// exits, ctx ends or the timeout passes.
func waitListening(ctx context.Context, addr string, exited <-chan struct{}, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
			_ = c.Close()
			return nil
		}
		select {
		case <-exited:
			return errors.New("mosquitto exited before it listened")
		case <-ctx.Done():
			return context.Cause(ctx)
		case <-time.After(50 * time.Millisecond):
		}
	}
	return fmt.Errorf("not listening on %s after %s", addr, timeout)
}
