package platform_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/certlab/certlab/iotda"
	"github.com/certlab/certlab/platform"
	"github.com/certlab/certlab/sim/pki"
)

// childLogEnv makes a child platform log at Info to stderr, as `certlab
// platform` does (see childLogging).
const childLogEnv = "CERTLAB_PLATFORM_CHILD_LOG"

// childLogging applies childLogEnv.
func childLogging(cfg *platform.Config) {
	if os.Getenv(childLogEnv) != "" {
		cfg.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	}
}

// What one hostile device may cost the platform, at most, in this test: the
// growth of its peak resident memory and of its log (README, "Bounds").
// Under the race detector the attack is a quarter the size (the detector
// makes the platform's large allocations tens of times slower) and its
// shadow memory doubles the RSS bound. [issue 11 item 2]
const (
	maxRSSGrowthMiB = 32
	maxLogGrowthKiB = 64
)

// The attack.
const (
	oversizedConnects = 800     // CONNECTs refused as clientid_format
	oversizedField    = 60_000  // bytes of their ClientId and of their username
	deniedPublishes   = 50      // 3.1.1 QoS 1 publishes to another device's topic
	deniedPayload     = 1 << 20 // bytes of each
	attackWorkers     = 4       // connections at once
	pageBytesBound    = 1 << 20 // GET /certlab/v1/login-attempts, any page (README)
	attackTimeout     = time.Minute
)

// attackScale returns the counts and the RSS bound of this build.
func attackScale() (connects, publishes int, rssMiB int64) {
	if raceBuild {
		return oversizedConnects / 4, deniedPublishes / 4, 2 * maxRSSGrowthMiB
	}
	return oversizedConnects, deniedPublishes, maxRSSGrowthMiB
}

// TestHostileDeviceCostIsBounded runs the platform in a child process and,
// from one registered device certificate, sends 800 CONNECTs whose ClientId
// and username are 60,000 bytes each (refused: clientid_format) and 50
// MQTT 3.1.1 publishes of 1 MiB to another device's topic (each ends its
// session). The child's peak resident memory and its log may grow by at
// most maxRSSGrowthMiB and maxLogGrowthKiB, every refusal is accounted for
// in the rate-limited log, and the login-attempts API serves at most
// pageBytesBound per page. (Before issue 11 item 2 the same attack grew the
// RSS by ~540 MiB and the log by ~270 MiB.)
func TestHostileDeviceCostIsBounded(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a child process")
	}
	dir := t.TempDir()
	logPath := filepath.Join(t.TempDir(), "platform.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	defer logFile.Close()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childDataDirEnv+"="+dir, childLogEnv+"=1")
	cmd.Stderr = logFile
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("child platform log (first 4 KiB):\n%s", head(logPath, 4096))
		}
	})
	tg := waitChildTarget(t, dir)
	connects, publishes, maxRSS := attackScale()
	ctx, cancel := context.WithTimeout(t.Context(), attackTimeout)
	defer cancel()
	c := client(t, tg)
	ca := enrolCA(t, ctx, c, "amplification CA")
	mqttProduct(t, ctx, c, "amp")
	leaf, err := ca.NewDeviceCert("amp-device")
	if err != nil {
		t.Fatal(err)
	}
	d := certDevice(t, ctx, c, "amp", "hostile", leaf.FingerprintSHA256())
	victim := certDevice(t, ctx, c, "amp", "victim", strings.Repeat("0", 64))
	tlsCfg := attackTLS(t, tg, leaf)

	// Warm up: one good login, so that the baseline includes what every
	// platform with a device online has.
	good := connectPacket(t, iotda.ClientIDFor(d.DeviceID, time.Now()), d.DeviceID)
	if code, err := attackLogin(t, tg, tlsCfg, good); err != nil || code != 0 {
		t.Fatalf("warm-up login: CONNACK 0x%02x, %v", code, err)
	}
	time.Sleep(200 * time.Millisecond)
	rss0, _ := procMemKiB(t, cmd.Process.Pid)
	log0 := fileSize(t, logPath)

	// 1. Oversized CONNECTs.
	big := strings.Repeat("A", oversizedField-len("_0_0_2025010100")) + "_0_0_2025010100"
	user := strings.Repeat("\x01", oversizedField) // control bytes: %q would quadruple them
	oversized := connectPacket(t, big, user)
	parallel(t, attackWorkers, connects, func() error {
		if code, err := attackLogin(t, tg, tlsCfg, oversized); err != nil || code != 0x02 {
			return fmt.Errorf("oversized CONNECT: CONNACK 0x%02x, %v; want 0x02 (clientid_format)", code, err)
		}
		return nil
	})
	rss1, hwm1 := procMemKiB(t, cmd.Process.Pid)
	log1 := fileSize(t, logPath)

	// 2. Denied publishes: 3.1.1 has no PUBACK code for "not authorized",
	// so each one ends its session; the device logs in again, one session
	// after the other (a second session at once would take the first over).
	pub := packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Publish, Qos: 1}, ProtocolVersion: 4,
		PacketID: 1, TopicName: iotda.DeviceTopic(victim.DeviceID, iotda.TopicMessagesUp), Payload: bytes.Repeat([]byte("x"), deniedPayload)}
	var publish bytes.Buffer
	if err := pub.PublishEncode(&publish); err != nil {
		t.Fatal(err)
	}
	parallel(t, 1, publishes, func() error {
		return deniedPublish(t, tg, tlsCfg, good, publish.Bytes())
	})
	rss2, hwm2 := procMemKiB(t, cmd.Process.Pid)
	log2 := fileSize(t, logPath)

	t.Logf("%d oversized CONNECTs: RSS %d -> %d KiB (peak %d KiB), log +%d bytes", connects, rss0, rss1, hwm1, log1-log0)
	t.Logf("%d denied publishes: RSS %d -> %d KiB (peak %d KiB), log +%d bytes", publishes, rss1, rss2, hwm2, log2-log1)

	// 3. The login-attempts API, default page and the largest one.
	for _, limit := range []int{0, 10000} {
		res, err := c.LoginAttempts(ctx, iotda.LoginAttemptFilter{Limit: limit})
		if err != nil {
			t.Errorf("login attempts (limit %d): %v", limit, err)
			continue
		}
		body, _ := json.Marshal(res)
		t.Logf("GET /certlab/v1/login-attempts limit=%d: %d attempts, %d bytes, truncated=%v", limit, len(res.Attempts), len(body), res.Truncated)
		if len(body) > pageBytesBound {
			t.Errorf("a login-attempts page (limit %d) is %d bytes, more than %d", limit, len(body), pageBytesBound)
		}
		for _, a := range res.Attempts {
			if a.Reason == iotda.ReasonClientIDFormat && (len(a.ClientID) > 300 || len(a.Username) > 300 || len(a.Detail) > 1100) {
				t.Fatalf("an attempt keeps %d bytes of ClientId, %d of username, %d of detail", len(a.ClientID), len(a.Username), len(a.Detail))
			}
		}
	}

	// Stop the platform: it writes the summaries of the lines it held back.
	// Every refusal is accounted for: 800 clientid_format refusals in "login
	// refused" lines and their more_like_this counts.
	_ = cmd.Process.Signal(syscall.SIGTERM)
	_ = cmd.Wait()
	log3 := fileSize(t, logPath)
	lines, refusals := countLogged(t, logPath, log0, `msg="login refused"`, "reason=clientid_format")
	t.Logf("after the stop: log +%d bytes in all; %d \"login refused\" lines for %d clientid_format refusals", log3-log0, lines, refusals)
	if refusals != connects {
		t.Errorf("the log accounts for %d clientid_format refusals, want %d", refusals, connects)
	}
	mochiLines, _ := countLogged(t, logPath, log0, "component=mochi")
	t.Logf("%d lines from mochi", mochiLines)
	if mochiLines == 0 {
		t.Errorf("mochi logged nothing about %d denied publishes", publishes)
	}
	if grown := (hwm2 - rss0) / 1024; grown > maxRSS {
		t.Errorf("peak RSS grew by %d MiB under the attack (from %d KiB to %d KiB), more than %d MiB", grown, rss0, hwm2, maxRSS)
	}
	if grown := (log3 - log0) / 1024; grown > maxLogGrowthKiB {
		t.Errorf("the log grew by %d KiB under the attack, more than %d KiB", grown, maxLogGrowthKiB)
	}
}

// attackTLS is the device's TLS configuration; sessions resume, so that
// 800 logins cost the test little CPU.
func attackTLS(t *testing.T, tg *iotda.Target, leaf *pki.Leaf) *tls.Config {
	t.Helper()
	roots, err := tg.RootCAs()
	if err != nil {
		t.Fatal(err)
	}
	return &tls.Config{RootCAs: roots, ServerName: "localhost", Certificates: []tls.Certificate{leaf.TLSCertificate()},
		ClientSessionCache: tls.NewLRUClientSessionCache(attackWorkers)}
}

// attackDial opens a TLS connection to the MQTT endpoint.
func attackDial(t testing.TB, tg *iotda.Target, cfg *tls.Config) (*tls.Conn, error) {
	d := tls.Dialer{NetDialer: &net.Dialer{Timeout: 10 * time.Second}, Config: cfg}
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	c, err := d.DialContext(ctx, "tcp", tg.MQTTAddress())
	if err != nil {
		return nil, err
	}
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	return c.(*tls.Conn), nil
}

// attackLogin sends an encoded MQTT 3.1.1 CONNECT (connectPacket) on a new
// connection and returns the CONNACK's return code; the connection is closed.
func attackLogin(t testing.TB, tg *iotda.Target, cfg *tls.Config, connect []byte) (byte, error) {
	c, err := attackDial(t, tg, cfg)
	if err != nil {
		return 0, fmt.Errorf("dial: %w", err)
	}
	defer c.Close()
	return login3(c, connect)
}

// connectPacket encodes an MQTT 3.1.1 CONNECT (keepalive 120, clean).
func connectPacket(t testing.TB, clientID, username string) []byte {
	t.Helper()
	pk := packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Connect}, ProtocolVersion: 4,
		Connect: packets.ConnectParams{ProtocolName: []byte("MQTT"), Clean: true, Keepalive: 120,
			ClientIdentifier: clientID, UsernameFlag: true, Username: []byte(username)}}
	var buf bytes.Buffer
	if err := pk.ConnectEncode(&buf); err != nil {
		t.Fatalf("encode CONNECT: %v", err)
	}
	return buf.Bytes()
}

// login3 sends connect and returns the CONNACK's return code.
func login3(c net.Conn, connect []byte) (byte, error) {
	if _, err := c.Write(connect); err != nil {
		return 0, fmt.Errorf("send CONNECT: %w", err)
	}
	var ack [4]byte
	if _, err := io.ReadFull(c, ack[:]); err != nil || ack[0] != 0x20 || ack[1] != 0x02 {
		return 0, fmt.Errorf("CONNACK: % x, %v", ack, err)
	}
	return ack[3], nil
}

// deniedPublish logs the device in over MQTT 3.1.1 (connect) and sends
// publish, a QoS 1 publish to a topic it may not use: the platform must end
// the session.
func deniedPublish(t *testing.T, tg *iotda.Target, cfg *tls.Config, connect, publish []byte) error {
	c, err := attackDial(t, tg, cfg)
	if err != nil {
		return fmt.Errorf("dial: %w", err)
	}
	defer c.Close()
	if code, err := login3(c, connect); err != nil || code != 0 {
		return fmt.Errorf("login: CONNACK 0x%02x, %v", code, err)
	}
	if _, err := c.Write(publish); err != nil {
		return fmt.Errorf("publish: %w", err)
	}
	if n, err := c.Read(make([]byte, 16)); err != io.EOF { //nolint:errorlint // crypto/tls returns io.EOF itself for close_notify
		return fmt.Errorf("after a denied 3.1.1 publish: read %d bytes, %v; want the session ended (close_notify)", n, err)
	}
	return nil
}

// parallel runs f n times on workers goroutines and fails the test on the
// first error.
func parallel(t *testing.T, workers, n int, f func() error) {
	t.Helper()
	jobs := make(chan struct{})
	var wg sync.WaitGroup
	var mu sync.Mutex
	var first error
	for range workers {
		wg.Go(func() {
			for range jobs {
				if err := f(); err != nil {
					mu.Lock()
					if first == nil {
						first = err
					}
					mu.Unlock()
				}
			}
		})
	}
	for range n {
		jobs <- struct{}{}
	}
	close(jobs)
	wg.Wait()
	if first != nil {
		t.Fatal(first)
	}
}

// procMemKiB returns the process's resident set size and its peak (VmRSS,
// VmHWM) in KiB.
func procMemKiB(t *testing.T, pid int) (rss, hwm int64) {
	t.Helper()
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		n, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		switch k {
		case "VmRSS":
			rss = n
		case "VmHWM":
			hwm = n
		}
	}
	if rss == 0 || hwm == 0 {
		t.Fatalf("no VmRSS/VmHWM in /proc/%d/status", pid)
	}
	return rss, hwm
}

// countLogged counts the log lines after offset that contain every one of
// has, and the events they stand for (a summary line: its more_like_this).
func countLogged(t *testing.T, path string, offset int64, has ...string) (lines, events int) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
next:
	for _, l := range strings.Split(string(b[offset:]), "\n") {
		for _, h := range has {
			if !strings.Contains(l, h) {
				continue next
			}
		}
		lines++
		if _, more, ok := strings.Cut(l, " more_like_this="); ok { // a summary stands for the lines held back
			n, _ := strconv.Atoi(strings.Fields(more)[0])
			events += n
		} else {
			events++
		}
	}
	return lines, events
}

func fileSize(t *testing.T, path string) int64 {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Size()
}

func head(path string, n int) string {
	b, _ := os.ReadFile(path)
	return string(b[:min(len(b), n)])
}
