package broker

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"
	"github.com/mochi-mqtt/server/v2/packets"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/certlab/certlab/iotda"
	"github.com/certlab/certlab/platform/registry"
)

// dialSilent opens a TCP connection that never sends anything.
func dialSilent(t *testing.T, addr string) net.Conn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 3*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// waitClosedByServer reads until the server closes the connection; it
// returns how long that took.
func waitClosedByServer(t *testing.T, c net.Conn, limit time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	_ = c.SetReadDeadline(start.Add(limit))
	buf := make([]byte, 512)
	for {
		_, err := c.Read(buf)
		if err == nil {
			continue
		}
		if ne, ok := errors.AsType[net.Error](err); ok && ne.Timeout() {
			t.Fatalf("server did not close the connection within %s", limit)
		}
		return time.Since(start)
	}
}

// A TCP peer that never starts TLS and a TLS peer that never sends CONNECT
// are both closed at the connect deadline, and both are recorded.
func TestConnectDeadline(t *testing.T) {
	d := newDir(t)
	const timeout = 300 * time.Millisecond
	b := startBroker(t, d, func(c *Config) { c.ConnectTimeout = timeout })
	dev := addDevice(t, d, getFixture(t).caA, "prod-mqtt_quiet", nil)

	t.Run("silent TCP peer", func(t *testing.T) {
		c := dialSilent(t, b.Addr())
		took := waitClosedByServer(t, c, 3*time.Second)
		if took < timeout-50*time.Millisecond || took > timeout+time.Second {
			t.Errorf("closed after %v, want about %v", took, timeout)
		}
		a := waitAttempt(t, b.Broker, "", iotda.ReasonTLSHandshake)
		if a.Stage != iotda.StageTLS {
			t.Errorf("attempt %+v", a)
		}
	})
	t.Run("quiet after the TLS handshake", func(t *testing.T) {
		c, err := dialTLS(t, b.Addr(), tlsConfig(t, dev.Leaf, tls.VersionTLS13))
		if err != nil {
			t.Fatal(err)
		}
		took := waitClosedByServer(t, c, 3*time.Second)
		if took > timeout+time.Second {
			t.Errorf("closed after %v, want about %v", took, timeout)
		}
		a := waitAttempt(t, b.Broker, "", iotda.ReasonConnectTimeout)
		if a.Stage != iotda.StageConnect || a.CertSHA256 != dev.Leaf.FingerprintSHA256() {
			t.Errorf("attempt %+v", a)
		}
	})
	t.Run("first packet is not CONNECT", func(t *testing.T) {
		c, err := dialTLS(t, b.Addr(), tlsConfig(t, dev.Leaf, tls.VersionTLS13))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.Write([]byte{0xC0, 0x00}); err != nil { // PINGREQ
			t.Fatal(err)
		}
		waitClosedByServer(t, c, 3*time.Second)
		waitAttempt(t, b.Broker, "", iotda.ReasonMalformedConnect)
	})
	// mochi refuses a CONNECT with the reserved flag set before our hook, with
	// 0x82; a 3.1.1 client must not see that v5-only code: the connection is
	// closed without a CONNACK ([MQTT-3.1.2-3]), an MQTT 5 client gets 0x82.
	for _, version := range []byte{4, 5} {
		t.Run(fmt.Sprintf("reserved CONNECT flag over MQTT %d", version), func(t *testing.T) {
			c, err := dialTLS(t, b.Addr(), tlsConfig(t, dev.Leaf, tls.VersionTLS13))
			if err != nil {
				t.Fatal(err)
			}
			pkt := []byte{0x10, 0x0e, 0x00, 0x04, 'M', 'Q', 'T', 'T', version, 0x03, 0x00, 0x3c, 0x00, 0x02, 'i', 'd'}
			if version == 5 {
				pkt = []byte{0x10, 0x0f, 0x00, 0x04, 'M', 'Q', 'T', 'T', version, 0x03, 0x00, 0x3c, 0x00, 0x00, 0x02, 'i', 'd'}
			}
			if _, err := c.Write(pkt); err != nil {
				t.Fatal(err)
			}
			rc := newRawClient(t, c, version)
			got := rc.expectCleanClose(2 * time.Second)
			switch {
			case version == 4 && len(got) != 0:
				t.Errorf("MQTT 3.1.1 client got %s, want no CONNACK", describe(got))
			case version == 5 && (len(got) != 1 || got[0].ReasonCode != 0x82):
				t.Errorf("MQTT 5 client got %s, want CONNACK 0x82", describe(got))
			}
			eventually(t, "the attempt, with the client's protocol version", func() bool {
				a := b.LoginAttempts("", string(iotda.ReasonMalformedConnect), 1)
				return len(a) == 1 && a[0].MQTTVersion == iotda.MQTTVersion(version)
			})
		})
	}
	// [MQTT-3.1.2-2] A protocol level the server does not speak gets CONNACK
	// 0x01 "unacceptable protocol level" in 3.1.1's format (mochi would send
	// 0x82), then a clean close. MQTT 5's rule is the same code family: a
	// client that says level 5 with the 3.1 name gets 0x84.
	for _, tc := range []struct {
		name  string
		level int
		pkt   []byte
		reply []byte
	}{
		{"level 9", 9, []byte{0x10, 0x0e, 0x00, 0x04, 'M', 'Q', 'T', 'T', 9, 0x02, 0x00, 0x3c, 0x00, 0x02, 'i', 'd'},
			[]byte{0x20, 0x02, 0x00, 0x01}},
		{"level 3 named MQTT", 3, []byte{0x10, 0x0e, 0x00, 0x04, 'M', 'Q', 'T', 'T', 3, 0x02, 0x00, 0x3c, 0x00, 0x02, 'i', 'd'},
			[]byte{0x20, 0x02, 0x00, 0x01}},
		{"level 4 named MQIsdp", 4, []byte{0x10, 0x10, 0x00, 0x06, 'M', 'Q', 'I', 's', 'd', 'p', 4, 0x02, 0x00, 0x3c, 0x00, 0x02, 'i', 'd'},
			[]byte{0x20, 0x02, 0x00, 0x01}},
		{"level 5 named MQIsdp", 5, []byte{0x10, 0x11, 0x00, 0x06, 'M', 'Q', 'I', 's', 'd', 'p', 5, 0x02, 0x00, 0x3c, 0x00, 0x00, 0x02, 'i', 'd'},
			nil}, // MQTT 5 CONNACK with properties: checked by reason code below
	} {
		t.Run("unsupported protocol "+tc.name, func(t *testing.T) {
			c, err := dialTLS(t, b.Addr(), tlsConfig(t, dev.Leaf, tls.VersionTLS13))
			if err != nil {
				t.Fatal(err)
			}
			if _, err := c.Write(tc.pkt); err != nil {
				t.Fatal(err)
			}
			version := byte(4)
			if tc.reply == nil {
				version = 5
			}
			rc := newRawClient(t, c, version)
			raw, pk, err := rc.read(2 * time.Second)
			if err != nil {
				t.Fatalf("no CONNACK: %v (got % x)", err, raw)
			}
			if tc.reply != nil {
				requireBytes(t, raw, tc.reply)
			} else if pk.FixedHeader.Type != packets.Connack || pk.ReasonCode != 0x84 {
				t.Errorf("got % x, want CONNACK 0x84", raw)
			}
			if got := rc.expectCleanClose(2 * time.Second); len(got) != 0 {
				t.Errorf("after the CONNACK: %s", describe(got))
			}
			want := int(pk.ReasonCode)
			if tc.reply != nil {
				want = int(raw[len(raw)-1])
			}
			eventually(t, "the attempt with the CONNACK code and the protocol level", func() bool {
				a := b.LoginAttempts("", string(iotda.ReasonMalformedConnect), 1)
				return len(a) == 1 && a[0].ConnackCode == want && int(a[0].MQTTVersion) == tc.level &&
					strings.Contains(a[0].Detail, fmt.Sprintf("protocol level %d", tc.level))
			})
		})
	}
	t.Run("a session outlives the connect deadline", func(t *testing.T) {
		c := loginRaw(t, b.Addr(), dev, 4)
		if _, _, err := c.read(2 * timeout); !isTimeout(err) {
			t.Fatalf("session ended: %v", err) // mochi replaced the deadline with 1.5 x keepalive
		}
	})
}

// Close returns promptly with silent, half-open and established peers, and
// is idempotent. MQTT 5 sessions are told the server is shutting down.
func TestCloseIsPrompt(t *testing.T) {
	d := newDir(t)
	b := startBroker(t, d, func(c *Config) { c.ConnectTimeout = 10 * time.Second })
	f := getFixture(t)
	dev4 := addDevice(t, d, f.caA, "prod-mqtt_close-4", nil)
	dev5 := addDevice(t, d, f.caA, "prod-mqtt_close-5", nil)
	quiet := addDevice(t, d, f.caA, "prod-mqtt_close-quiet", nil)

	silent := dialSilent(t, b.Addr())
	tlsQuiet, err := dialTLS(t, b.Addr(), tlsConfig(t, quiet.Leaf, tls.VersionTLS12))
	if err != nil {
		t.Fatal(err)
	}
	v4 := loginRaw(t, b.Addr(), dev4, 4)
	v5, err := loginPaho(t, b.Addr(), dev5, clientID(dev5.ID))
	if err != nil {
		t.Fatal(err)
	}
	// A peer that stops reading: fill its receive window with downlinks.
	sub := iotda.DeviceTopic(dev5.ID, iotda.TopicMessagesDown)
	if _, err := v5.c.Subscribe(ctxT(t), &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: sub, QoS: 0}}}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "two sessions", func() bool { return b.Connected() == 2 })

	start := time.Now()
	if err := b.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	took := time.Since(start)
	t.Logf("Close took %v with 4 peers connected", took)
	if took > 2*time.Second {
		t.Errorf("Close took %v", took)
	}
	if err := b.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	select {
	case disc := <-v5.discon:
		if disc.ReasonCode != 0x8B {
			t.Errorf("MQTT 5 session got DISCONNECT 0x%02x, want 0x8B", disc.ReasonCode)
		}
	case <-time.After(2 * time.Second):
		t.Error("MQTT 5 session got no DISCONNECT")
	}
	for name, c := range map[string]net.Conn{"silent": silent, "TLS quiet": tlsQuiet, "MQTT 3.1.1": v4.conn} {
		_ = c.SetReadDeadline(time.Now().Add(time.Second))
		data, err := io.ReadAll(c)
		if ne, ok := errors.AsType[net.Error](err); ok && ne.Timeout() {
			t.Errorf("%s peer still connected after Close", name)
		}
		if name == "MQTT 3.1.1" && len(data) > 0 {
			t.Errorf("MQTT 3.1.1 session got % x on shutdown; 3.1.1 has no server DISCONNECT", data)
		}
	}
	// Every session ended, so both devices went offline.
	for _, id := range []string{dev4.ID, dev5.ID} {
		s := d.statusCalls(id)
		if len(s) == 0 || s[len(s)-1].online {
			t.Errorf("%s status writes %+v, want OFFLINE last", id, s)
		}
	}
	// A shutdown is not a failed login.
	if as := b.LoginAttempts("", "", 0); len(as) != 2 {
		t.Errorf("%d attempts recorded, want the 2 logins: %+v", len(as), as)
	}
	if err := b.Start(t.Context()); err == nil {
		t.Error("Start after Close succeeded")
	}
}

// The attempt log keeps the newest AttemptLogSize attempts, newest first.
func TestAttemptLogBounded(t *testing.T) {
	d := newDir(t)
	b := startBroker(t, d, func(c *Config) { c.AttemptLogSize = 4 })
	f := getFixture(t)
	dev := addDevice(t, d, f.caA, "prod-mqtt_log", nil)
	for i := range 6 {
		c := dialRaw(t, b.Addr(), dev.Leaf, tls.VersionTLS13, 4)
		c.login(connectOpts{clientID: clientID(dev.ID), username: dev.ID, keepalive: uint16(10 + i)})
		c.expectCleanClose(2 * time.Second)
	}
	loginRaw(t, b.Addr(), dev, 4)
	waitAttempt(t, b.Broker, dev.ID, iotda.ReasonOK)
	all := b.LoginAttempts("", "", 0)
	if len(all) != 4 {
		t.Fatalf("%d attempts kept, want 4", len(all))
	}
	wantKeepalive := []int{120, 15, 14, 13}
	for i, a := range all {
		if a.Keepalive != wantKeepalive[i] {
			t.Errorf("attempt %d keepalive %d, want %d (newest first)", i, a.Keepalive, wantKeepalive[i])
		}
	}
	if got := b.LoginAttempts(dev.ID, string(iotda.ReasonKeepaliveRange), 2); len(got) != 2 || got[0].Keepalive != 15 {
		t.Errorf("filtered+limited: %+v", got)
	}
	if got := b.LoginAttempts("prod-mqtt_nobody", "", 0); len(got) != 0 {
		t.Errorf("other device: %+v", got)
	}
}

func TestAttemptLogRing(t *testing.T) {
	l := newAttemptLog(3)
	for i := range 5 {
		l.add(iotda.LoginAttempt{Keepalive: i, DeviceID: []string{"a", "b"}[i%2]})
	}
	if l.len() != 3 {
		t.Fatalf("len %d", l.len())
	}
	for _, tc := range []struct {
		name   string
		device string
		limit  int
		want   []int
	}{
		{"all, newest first", "", 0, []int{4, 3, 2}},
		{"limit", "", 2, []int{4, 3}},
		{"device a", "a", 0, []int{4, 2}},
		{"device b", "b", 0, []int{3}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got []int
			for _, a := range l.list(tc.device, "", tc.limit) {
				got = append(got, a.Keepalive)
			}
			if len(got) != len(tc.want) {
				t.Fatalf("got %v, want %v", got, tc.want)
			}
			for i := range got {
				if got[i] != tc.want[i] {
					t.Fatalf("got %v, want %v", got, tc.want)
				}
			}
		})
	}
}

func TestNewValidates(t *testing.T) {
	d := newDir(t)
	cert := getFixture(t).serverCert
	reg := prometheus.NewRegistry()
	for _, tc := range []struct {
		name string
		cfg  Config
	}{
		{"no directory", Config{Certificate: cert}},
		{"no certificate", Config{Directory: d}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := New(tc.cfg); err == nil {
				t.Error("New accepted the configuration")
			}
		})
	}
	if _, err := New(Config{Certificate: cert, Directory: d, Registerer: reg}); err != nil {
		t.Fatal(err)
	}
	if _, err := New(Config{Certificate: cert, Directory: d, Registerer: reg}); err == nil {
		t.Error("second broker on the same registerer: metrics registered twice without an error")
	}
}

func TestLifecycle(t *testing.T) {
	d := newDir(t)
	b, err := New(Config{Addr: "127.0.0.1:0", Certificate: getFixture(t).serverCert, Directory: d})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Close(); err != nil {
		t.Fatalf("Close before Start: %v", err)
	}
	if err := b.Start(t.Context()); !errors.Is(err, ErrClosed) {
		t.Fatalf("Start after Close: %v, want ErrClosed", err)
	}

	b, err = New(Config{Addr: "127.0.0.1:0", Certificate: getFixture(t).serverCert, Directory: d})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = b.Close() }()
	if err := b.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	if err := b.Start(t.Context()); err != nil {
		t.Fatalf("second Start: %v", err)
	}
	taken := b.Addr()
	b2, err := New(Config{Addr: taken, Certificate: getFixture(t).serverCert, Directory: d})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = b2.Close() }()
	if err := b2.Start(t.Context()); err == nil {
		t.Fatalf("second broker bound %s too", taken)
	}
}

// Start's context bounds the start only: the broker keeps logging devices in
// (directory calls included: a first-fingerprint bind, the status writes)
// after that context is cancelled, until Close.
func TestStartContextBoundsOnlyTheStart(t *testing.T) {
	d := newDir(t)
	b, err := New(Config{Addr: "127.0.0.1:0", Certificate: getFixture(t).serverCert, Directory: d})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = b.Close() }()
	ctx, cancel := context.WithCancel(t.Context())
	if err := b.Start(ctx); err != nil {
		t.Fatal(err)
	}
	cancel()
	dev := addDevice(t, d, getFixture(t).caA, "prod-mqtt_after-start", func(dv *registry.Device) { dv.Fingerprint = "" })
	c := loginRaw(t, b.Addr(), dev, 4)
	if got := d.device(dev.ID).Fingerprint; got != dev.Leaf.FingerprintSHA256() {
		t.Errorf("fingerprint %q after the login, want it bound", got)
	}
	_ = c.conn.Close()
	eventually(t, "device offline", func() bool {
		s := d.statusCalls(dev.ID)
		return len(s) == 2 && s[0].online && !s[1].online
	})
}

// One Info line per refusal, with the reason and the certificate facts.
func TestRefusalLogLine(t *testing.T) {
	d := newDir(t)
	var buf syncBuffer
	log := slog.New(slog.NewJSONHandler(&buf, nil))
	b := startBroker(t, d, func(c *Config) { c.Logger = log })
	dev := addDevice(t, d, getFixture(t).caA, "prod-mqtt_logline", func(dv *registry.Device) { dv.Frozen = true })
	c := dialRaw(t, b.Addr(), dev.Leaf, tls.VersionTLS13, 4)
	c.login(connectOpts{clientID: clientID(dev.ID), username: dev.ID, keepalive: 120})
	waitAttempt(t, b.Broker, dev.ID, iotda.ReasonDeviceFrozen)
	eventually(t, "the log line", func() bool { return strings.Contains(buf.String(), "login refused") })
	var lines []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("log line %q: %v", l, err)
		}
		if m["msg"] == "login refused" {
			lines = append(lines, m)
		}
	}
	if len(lines) != 1 {
		t.Fatalf("%d refusal lines, want 1: %s", len(lines), buf.String())
	}
	l := lines[0]
	if l["level"] != "INFO" || l["reason"] != "device_frozen" || l["device_id"] != dev.ID || l["cert_sha256"] != dev.Leaf.FingerprintSHA256() || l["detail"] == "" {
		t.Errorf("log line %v", l)
	}
}

type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
