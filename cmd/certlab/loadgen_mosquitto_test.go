package main

// The README's "loadgen against your own broker", run for real: Debian's
// mosquitto broker with require_certificate and use_identity_as_username,
// a per-device-certificate fleet whose CAs it trusts (certlab pki fleet-ca),
// a target file without api_endpoint and with the broker's conventions
// ({cn} as ClientId and username), and certlab loadgen --skip-prepare.

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/certlab/certlab/loadgen/result"
	"github.com/certlab/certlab/platform/platformtest"
	"github.com/certlab/certlab/sim/pki"
)

// mosquittoBroker is a mosquitto process started by a test.
type mosquittoBroker struct {
	addr string // 127.0.0.1:port
	pid  int
	log  string // its log file
}

// startMosquitto starts /usr/sbin/mosquitto on a free loopback port with a
// client-certificate listener (require_certificate, the client CAs in
// cafile, the certificate CN as username) and stops it by PID when the test
// ends. mosquitto cannot listen on port 0, so a free port is found by
// binding and closing, and another is tried if it was taken meanwhile.
func startMosquitto(t *testing.T, bin, dir, clientCAs, serverCert, serverKey string) *mosquittoBroker {
	t.Helper()
	me, err := user.Current()
	if err != nil {
		t.Fatal(err)
	}
	var lastLog string
	for try := range 5 {
		port := freePort(t)
		logPath := filepath.Join(dir, fmt.Sprintf("mosquitto-%d.log", try))
		conf := filepath.Join(dir, fmt.Sprintf("mosquitto-%d.conf", try))
		// user: run as whoever runs the test (as root mosquitto would switch
		// to the mosquitto user, who cannot read the test's files).
		body := strings.Join([]string{
			"user " + me.Username,
			"persistence false",
			"log_dest file " + logPath,
			"log_type error", "log_type warning", "log_type notice", "log_type information",
			"connection_messages true",
			fmt.Sprintf("listener %d 127.0.0.1", port),
			"cafile " + clientCAs,
			"certfile " + serverCert,
			"keyfile " + serverKey,
			"require_certificate true",
			"use_identity_as_username true",
			"allow_anonymous false",
			"set_tcp_nodelay true", // else every CONNACK waits for Nagle (~40 ms)
			"",
		}, "\n")
		if err := os.WriteFile(conf, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(bin, "-c", conf)
		cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM} // never outlive the test
		if err := cmd.Start(); err != nil {
			t.Fatalf("start mosquitto: %v", err)
		}
		exited := make(chan struct{}) // closed once mosquitto has exited
		go func() { _ = cmd.Wait(); close(exited) }()
		addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
		if waitListening(addr, exited, 10*time.Second) {
			t.Cleanup(func() { stopProcess(t, cmd.Process, exited) })
			return &mosquittoBroker{addr: addr, pid: cmd.Process.Pid, log: logPath}
		}
		stopProcess(t, cmd.Process, exited)
		data, _ := os.ReadFile(logPath)
		lastLog = string(data)
		if !strings.Contains(lastLog, "Address already in use") {
			break
		}
	}
	t.Fatalf("mosquitto did not start listening; its log:\n%s", lastLog)
	return nil
}

// freePort is a loopback TCP port nothing listened on a moment ago.
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// waitListening polls addr until it accepts a TCP connection, the process
// exits or the timeout passes.
func waitListening(addr string, exited <-chan struct{}, timeout time.Duration) bool {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
			_ = c.Close()
			return true
		}
		select {
		case <-exited:
			return false
		case <-time.After(50 * time.Millisecond):
		}
	}
	return false
}

// stopProcess ends a child the test started: SIGTERM, then SIGKILL.
func stopProcess(t *testing.T, p *os.Process, exited <-chan struct{}) {
	t.Helper()
	if err := p.Signal(syscall.SIGTERM); err != nil && !errors.Is(err, os.ErrProcessDone) {
		t.Logf("stop pid %d: %v", p.Pid, err)
	}
	select {
	case <-exited:
	case <-time.After(10 * time.Second):
		_ = p.Kill()
		<-exited
	}
}

// connectedAs matches mosquitto's notice of a login: the ClientId and the
// username it took from the certificate.
var connectedAs = regexp.MustCompile(`New client connected from 127\.0\.0\.1:\d+ as (\S+) \(p\d, c\d, k\d+, u'([^']*)'\)`)

func TestLoadgenAgainstMosquitto(t *testing.T) {
	if testing.Short() {
		t.Skip("starts mosquitto and runs a small load")
	}
	bin := platformtest.RequireTool(t, "mosquitto", "mosquitto", "/usr/sbin/mosquitto")
	keepRuntime(t)
	dir := t.TempDir()
	fleetDir := filepath.Join(dir, "fleet")

	// The fleet, minted once, and its CAs for the broker's cafile.
	fleetCA := filepath.Join(dir, "fleet-ca.pem")
	out := mustRunCLI(t, "pki", "fleet-ca", "--fleet", fleetDir, "--devices", "30", "--cas", "2", "--out", fleetCA)
	if !strings.Contains(out, "2 device CA certificate(s)") {
		t.Errorf("pki fleet-ca said:\n%s", out)
	}

	// The broker's server certificate, from a CA the target file trusts.
	serverCA, err := pki.NewRootCA("mosquitto test server CA")
	if err != nil {
		t.Fatal(err)
	}
	serverLeaf, err := serverCA.NewServerCert("127.0.0.1", []string{"localhost"})
	if err != nil {
		t.Fatal(err)
	}
	if err := serverLeaf.WriteFiles(dir, "server"); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "server-ca.pem"), pki.CertPEM(serverCA.Cert), 0o644); err != nil {
		t.Fatal(err)
	}
	broker := startMosquitto(t, bin, dir, fleetCA, filepath.Join(dir, "server"+pki.CertSuffix), filepath.Join(dir, "server"+pki.KeySuffix))

	// A target without a REST API, with the broker's conventions.
	target := filepath.Join(dir, "target.json")
	writeTargetFile(t, target, fmt.Sprintf(`{"name":"mosquitto","mqtt_endpoint":%q,"ca_file":"server-ca.pem",`+
		`"client_id_template":"{cn}","username_template":"{cn}"}`, broker.addr))

	outDir := filepath.Join(dir, "out")
	stdout, stderr, err := runCLI(t, "loadgen", "--target", target, "--skip-prepare", "--fleet", fleetDir, "--devices", "30",
		"--count", "90", "--workers", "4", "--bad-share", "0.1", "--server-pid", strconv.Itoa(broker.pid),
		"--no-progress", "--out", outDir)
	t.Logf("certlab loadgen against mosquitto:\n%s", stdout)
	if err != nil {
		logData, _ := os.ReadFile(broker.log)
		t.Fatalf("loadgen: %v\nstdout:\n%s\nstderr:\n%s\nmosquitto log:\n%s", err, stdout, stderr, logData)
	}
	if strings.Contains(stdout, "PLATFORM") || !strings.Contains(stdout, "\nTARGET\n") {
		t.Errorf("the summary must label the broker TARGET, not PLATFORM:\n%s", stdout)
	}
	if !strings.Contains(stderr, "bad identities: unknown_ca only") {
		t.Errorf("stderr does not say which bad identities a broker gets:\n%s", stderr)
	}

	s := loadSummary(t, outDir)
	ts := s.Server(result.ServerTarget)
	if ts == nil || s.Server(result.ServerPlatform) != nil {
		t.Fatalf("summary servers %+v: want the target alone", s.Servers)
	}
	// 30 devices, 3 of them bad (unknown CA): 81 good attempts, 9 refused.
	if ts.Attempts != 90 || ts.Success != 81 || ts.Refused != 9 || ts.Unexpected != 0 {
		t.Errorf("target summary: %d attempts, %d server-confirmed logins, %d refused, %d unexpected; want 90, 81, 9, 0\n%s",
			ts.Attempts, ts.Success, ts.Refused, ts.Unexpected, stdout)
	}
	if ts.ServerCPU == nil {
		t.Errorf("mosquitto's CPU was not read from --server-pid: %s", ts.ServerCPUNote)
	}

	// mosquitto's own log: the logins it accepted used the certificate CN
	// as ClientId (our template) and as username (use_identity_as_username).
	logData, err := os.ReadFile(broker.log)
	if err != nil {
		t.Fatal(err)
	}
	logins := connectedAs.FindAllStringSubmatch(string(logData), -1)
	if int64(len(logins)) != ts.Success {
		t.Errorf("mosquitto logged %d logins, loadgen counted %d", len(logins), ts.Success)
	}
	for _, m := range logins {
		if m[1] != m[2] || strings.Contains(m[1], "_0_0_") {
			t.Errorf("mosquitto saw ClientId %q, username %q: want the certificate CN as both", m[1], m[2])
			break
		}
	}
}
