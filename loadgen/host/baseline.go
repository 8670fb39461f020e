package host

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/certlab/certlab/sim/pki"
)

// The baseline is a bare crypto/tls mutual-TLS server: the same server
// certificate type and the same client CA pool as the platform, a
// RequireAndVerifyClientCert handshake and a one-byte echo, nothing else.
// In MQTT mode (BaselineServerConfig.MQTT) it reads the CONNECT instead and
// answers CONNACK 0x00 without looking at it: the least an MQTT server can
// do for a login, so the platform's cost over it is its broker and checks.
// The platform's server CPU per login divided by the baseline's is the
// cost of everything the platform does beyond the handshake (docs/design.md,
// "The login hot path": within a few percent). It runs in a child process so
// that its CPU time (/proc/PID/stat) is apart from the load generator's.

// BaselineServerName is the DNS name in the baseline's server certificate;
// clients verify it (a full chain check, as against the platform).
const BaselineServerName = "certlab-baseline"

// BaselineServerConfig configures ServeBaseline.
type BaselineServerConfig struct {
	Addr             string        // listen address; default 127.0.0.1:0
	CertFile         string        // server certificate (then its chain), PEM
	KeyFile          string        // its key, PEM
	ClientCAFile     string        // client CAs, PEM bundle
	HandshakeTimeout time.Duration // handshake + echo deadline; default 10 s
	HoldTimeout      time.Duration // how long a confirmed connection may stay open; default 1 h
	MQTT             bool          // read a CONNECT and answer CONNACK 0x00 instead of echoing a byte
}

// ServeBaseline serves the baseline until ctx ends. ready is called with
// the bound address once the listener is up.
func ServeBaseline(ctx context.Context, cfg BaselineServerConfig, ready func(net.Addr)) error {
	if cfg.Addr == "" {
		cfg.Addr = "127.0.0.1:0"
	}
	if cfg.HandshakeTimeout <= 0 {
		cfg.HandshakeTimeout = 10 * time.Second
	}
	if cfg.HoldTimeout <= 0 {
		cfg.HoldTimeout = time.Hour
	}
	cert, err := tls.LoadX509KeyPair(cfg.CertFile, cfg.KeyFile)
	if err != nil {
		return fmt.Errorf("baseline server: %w", err)
	}
	caPEM, err := os.ReadFile(cfg.ClientCAFile)
	if err != nil {
		return fmt.Errorf("baseline server: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		return fmt.Errorf("baseline server: %s holds no certificate", cfg.ClientCAFile)
	}
	// The same handshake as the reference platform's: a client certificate
	// is required and its chain verified against the device CAs, but the CA
	// names are not sent in the CertificateRequest (with ClientCAs set, Go
	// would send all of them, which costs ~5% with 100 CAs and would make
	// the baseline, not the platform, pay for the CA count).
	tlsCfg := &tls.Config{
		Certificates: []tls.Certificate{cert},
		ClientAuth:   tls.RequireAnyClientCert,
		MinVersion:   tls.VersionTLS12,
		VerifyConnection: func(cs tls.ConnectionState) error {
			return verifyClientChain(cs.PeerCertificates, pool)
		},
	}
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return fmt.Errorf("baseline server: %w", err)
	}
	if ready != nil {
		ready(ln.Addr())
	}
	stop := context.AfterFunc(ctx, func() { _ = ln.Close() })
	defer stop()
	var wg sync.WaitGroup
	defer wg.Wait()
	for {
		c, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			if ne, ok := errors.AsType[net.Error](err); ok && ne.Timeout() {
				continue
			}
			return fmt.Errorf("baseline server: accept: %w", err)
		}
		if cfg.MQTT {
			wg.Go(func() { serveMQTT(ctx, c, tlsCfg, cfg) })
		} else {
			wg.Go(func() { serveEcho(ctx, c, tlsCfg, cfg) })
		}
	}
}

func serveEcho(ctx context.Context, c net.Conn, cfg *tls.Config, sc BaselineServerConfig) {
	defer c.Close()
	stop := context.AfterFunc(ctx, func() { _ = c.Close() })
	defer stop()
	_ = c.SetDeadline(time.Now().Add(sc.HandshakeTimeout))
	tc := tls.Server(c, cfg)
	if err := tc.Handshake(); err != nil {
		return
	}
	var b [1]byte
	if _, err := io.ReadFull(tc, b[:]); err != nil {
		return
	}
	if _, err := tc.Write(b[:]); err != nil {
		return
	}
	// Churn clients close now; hold clients keep the connection open.
	_ = c.SetDeadline(time.Now().Add(sc.HoldTimeout))
	_, _ = tc.Read(b[:])
}

// serveMQTT handshakes, reads one MQTT packet (the CONNECT) and answers
// CONNACK 0x00 in the CONNECT's protocol version; then it waits for the
// client to leave (DISCONNECT or close), as a broker would.
func serveMQTT(ctx context.Context, c net.Conn, cfg *tls.Config, sc BaselineServerConfig) {
	defer c.Close()
	stop := context.AfterFunc(ctx, func() { _ = c.Close() })
	defer stop()
	_ = c.SetDeadline(time.Now().Add(sc.HandshakeTimeout))
	tc := tls.Server(c, cfg)
	if err := tc.Handshake(); err != nil {
		return
	}
	r := bufio.NewReaderSize(tc, 512)
	typ, body, err := readMQTTPacket(r, 4096)
	if err != nil || typ != 1 { // 1: CONNECT
		return
	}
	connack := []byte{0x20, 0x02, 0x00, 0x00} // MQTT 3.1.1: flags, return code
	if level, ok := connectLevel(body); ok && level == 5 {
		connack = []byte{0x20, 0x03, 0x00, 0x00, 0x00} // MQTT 5: flags, reason code, no properties
	}
	if _, err := tc.Write(connack); err != nil {
		return
	}
	_ = c.SetDeadline(time.Now().Add(sc.HoldTimeout))
	_, _, _ = readMQTTPacket(r, 4096) // DISCONNECT, or the close
}

// readMQTTPacket reads one MQTT control packet: its type and body (at most
// limit bytes).
func readMQTTPacket(r *bufio.Reader, limit int) (byte, []byte, error) {
	h, err := r.ReadByte()
	if err != nil {
		return 0, nil, err
	}
	n, mult := 0, 1
	for i := 0; ; i++ {
		b, err := r.ReadByte()
		if err != nil {
			return 0, nil, err
		}
		n += int(b&0x7F) * mult
		if b&0x80 == 0 {
			break
		}
		if mult *= 128; i == 3 {
			return 0, nil, errors.New("malformed remaining length")
		}
	}
	if n > limit {
		return 0, nil, fmt.Errorf("packet of %d bytes (at most %d)", n, limit)
	}
	body := make([]byte, n)
	_, err = io.ReadFull(r, body)
	return h >> 4, body, err
}

// connectLevel is the protocol level of a CONNECT body (after the protocol name).
func connectLevel(body []byte) (byte, bool) {
	if len(body) < 2 {
		return 0, false
	}
	nameLen := int(body[0])<<8 | int(body[1])
	if len(body) < 2+nameLen+1 {
		return 0, false
	}
	return body[2+nameLen], true
}

// BaselineMain is the body of the baseline child process (`certlab loadgen
// baseline-server`, or a test binary re-executing itself): it parses args,
// serves, prints "listening ADDR" on stdout and returns when stdin reaches
// EOF (the parent closed it or died) or ctx ends.
func BaselineMain(ctx context.Context, args []string, stdin io.Reader, stdout io.Writer) error {
	fs := flag.NewFlagSet("baseline-server", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	var cfg BaselineServerConfig
	fs.StringVar(&cfg.Addr, "addr", "127.0.0.1:0", "listen address")
	fs.StringVar(&cfg.CertFile, "cert", "", "server certificate PEM")
	fs.StringVar(&cfg.KeyFile, "key", "", "server key PEM")
	fs.StringVar(&cfg.ClientCAFile, "client-ca", "", "client CA bundle PEM")
	fs.DurationVar(&cfg.HandshakeTimeout, "handshake-timeout", 10*time.Second, "handshake + echo deadline")
	fs.BoolVar(&cfg.MQTT, "mqtt", false, "read a CONNECT and answer CONNACK 0x00 instead of echoing a byte")
	if err := fs.Parse(args); err != nil {
		return fmt.Errorf("baseline server: %w", err)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	if stdin != nil {
		go func() {
			_, _ = io.Copy(io.Discard, stdin)
			cancel()
		}()
	}
	return ServeBaseline(ctx, cfg, func(a net.Addr) { fmt.Fprintf(stdout, "listening %s\n", a) })
}

// BaselineOptions start a baseline server in a child process.
type BaselineOptions struct {
	// Command is the argv that runs BaselineMain, e.g. {"/usr/bin/certlab",
	// "loadgen", "baseline-server"}; the server flags are appended. Required.
	Command []string
	Env     []string // extra environment of the child
	// Dir receives the server and client-CA PEM files; default a temporary
	// directory removed by Stop.
	Dir string
	// ServerKeyType is the platform's server key type (the baseline uses the
	// same); default ECDSA P-256.
	ServerKeyType pki.KeyType
	ClientCAs     []*x509.Certificate // the fleet's device CAs; required
	StartTimeout  time.Duration       // default 10 s
	// CPUs, when set, pins the child to these CPUs from birth (StartOn).
	CPUs []int
	// MQTT serves CONNECT -> CONNACK 0x00 instead of the one-byte echo.
	MQTT bool
}

// BaselineProcess is a running baseline server child.
type BaselineProcess struct {
	Addr       string         // 127.0.0.1:port
	PID        int            // for its CPU time
	RootCAs    *x509.CertPool // verifies its server certificate
	ServerName string         // BaselineServerName
	KeyType    pki.KeyType
	// KeyDescription names the server key ("ECDSA P-256").
	KeyDescription string

	cmd    *exec.Cmd
	stdin  io.WriteCloser
	dir    string
	rmDir  bool
	waitCh chan error
}

// StartBaseline mints the baseline's server PKI, writes it and the client
// CA bundle to files and starts the child process.
func StartBaseline(ctx context.Context, o BaselineOptions) (p *BaselineProcess, err error) {
	if len(o.Command) == 0 {
		return nil, errors.New("start baseline: no command")
	}
	if len(o.ClientCAs) == 0 {
		return nil, errors.New("start baseline: no client CAs")
	}
	if o.ServerKeyType == "" {
		o.ServerKeyType = pki.ECDSAP256
	}
	if o.StartTimeout <= 0 {
		o.StartTimeout = 10 * time.Second
	}
	p = &BaselineProcess{ServerName: BaselineServerName, KeyType: o.ServerKeyType, dir: o.Dir}
	if p.dir == "" {
		if p.dir, err = os.MkdirTemp("", "certlab-baseline-*"); err != nil {
			return nil, fmt.Errorf("start baseline: %w", err)
		}
		p.rmDir = true
	}
	defer func() {
		if err != nil && p.rmDir {
			_ = os.RemoveAll(p.dir)
		}
	}()
	ca, err := pki.NewRootCA("certlab baseline server CA", pki.WithKeyType(o.ServerKeyType))
	if err != nil {
		return nil, fmt.Errorf("start baseline: %w", err)
	}
	srv, err := ca.NewServerCert(BaselineServerName, []string{BaselineServerName}, pki.WithKeyType(o.ServerKeyType))
	if err != nil {
		return nil, fmt.Errorf("start baseline: %w", err)
	}
	if err := srv.WriteFiles(p.dir, "server"); err != nil {
		return nil, fmt.Errorf("start baseline: %w", err)
	}
	var bundle []byte
	for _, c := range o.ClientCAs {
		bundle = append(bundle, pki.CertPEM(c)...)
	}
	caFile := filepath.Join(p.dir, "client-ca.pem")
	if err := os.WriteFile(caFile, bundle, 0o644); err != nil {
		return nil, fmt.Errorf("start baseline: %w", err)
	}
	p.KeyDescription = pki.KeyDescription(srv.Cert.PublicKey)
	p.RootCAs = x509.NewCertPool()
	p.RootCAs.AddCert(ca.Cert)

	args := append(o.Command[1:len(o.Command):len(o.Command)],
		"--cert", filepath.Join(p.dir, "server"+pki.CertSuffix),
		"--key", filepath.Join(p.dir, "server"+pki.KeySuffix),
		"--client-ca", caFile,
		"--addr", "127.0.0.1:0")
	if o.MQTT {
		args = append(args, "--mqtt")
	}
	// Not CommandContext: Stop ends the child by closing its stdin, and the
	// child also exits if this process dies (its stdin reaches EOF).
	cmd := exec.Command(o.Command[0], args...)
	// The collector setting of `certlab platform`, so that the two compare
	// as servers (GOGC in the environment or in o.Env wins).
	cmd.Env = os.Environ()
	if os.Getenv("GOGC") == "" {
		cmd.Env = append(cmd.Env, "GOGC="+strconv.Itoa(ServerGOGC))
	}
	cmd.Env = append(cmd.Env, o.Env...)
	cmd.Stderr = os.Stderr
	if p.stdin, err = cmd.StdinPipe(); err != nil {
		return nil, fmt.Errorf("start baseline: %w", err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, fmt.Errorf("start baseline: %w", err)
	}
	if err := StartOn(o.CPUs, cmd.Start); err != nil {
		return nil, fmt.Errorf("start baseline: %w", err)
	}
	p.cmd, p.PID = cmd, cmd.Process.Pid
	p.waitCh = make(chan error, 1)
	lineCh := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		if sc.Scan() {
			lineCh <- sc.Text()
		}
		close(lineCh)
		_, _ = io.Copy(io.Discard, out)
		p.waitCh <- cmd.Wait()
	}()
	t := time.NewTimer(o.StartTimeout)
	defer t.Stop()
	select {
	case line, ok := <-lineCh:
		addr, found := strings.CutPrefix(line, "listening ")
		if !ok || !found {
			_ = p.Stop()
			return nil, fmt.Errorf("start baseline: child said %q", line)
		}
		p.Addr = addr
		return p, nil
	case <-t.C:
		_ = p.Stop()
		return nil, fmt.Errorf("start baseline: not listening after %s", o.StartTimeout)
	case <-ctx.Done():
		_ = p.Stop()
		return nil, fmt.Errorf("start baseline: %w", context.Cause(ctx))
	}
}

// CPU is the child's CPU time source.
func (p *BaselineProcess) CPU() CPUSource { return PIDCPU{PID: p.PID} }

// Stop ends the child (stdin closed, then SIGKILL after 5 s) and removes
// its files. It is idempotent.
func (p *BaselineProcess) Stop() error {
	if p.stdin != nil {
		_ = p.stdin.Close()
		p.stdin = nil
	}
	var err error
	if p.waitCh != nil {
		t := time.NewTimer(5 * time.Second)
		select {
		case err = <-p.waitCh:
		case <-t.C:
			_ = p.cmd.Process.Kill()
			err = <-p.waitCh
		}
		t.Stop()
		p.waitCh = nil
	}
	if p.rmDir {
		_ = os.RemoveAll(p.dir)
		p.rmDir = false
	}
	if err != nil {
		return fmt.Errorf("stop baseline: %w", err)
	}
	return nil
}

// verifyClientChain verifies a presented client chain against roots for
// client authentication, as crypto/tls would with RequireAndVerifyClientCert.
func verifyClientChain(certs []*x509.Certificate, roots *x509.CertPool) error {
	if len(certs) == 0 {
		return errors.New("baseline server: no client certificate")
	}
	opts := x509.VerifyOptions{Roots: roots, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	if len(certs) > 1 {
		opts.Intermediates = x509.NewCertPool()
		for _, c := range certs[1:] {
			opts.Intermediates.AddCert(c)
		}
	}
	if _, err := certs[0].Verify(opts); err != nil {
		return fmt.Errorf("baseline server: %w", err)
	}
	return nil
}
