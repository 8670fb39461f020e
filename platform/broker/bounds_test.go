package broker

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"log/slog"
	"math/big"
	"net"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/certlab/certlab/iotda"
	"github.com/certlab/certlab/platform/internal/bound"
)

// TestAttemptBounds: whatever a peer sends — a 60,000-byte ClientId and
// username full of control bytes, a certificate whose subject is 20,000
// bytes, a long SNI — the attempt it leaves holds at most bound.Field of each
// value, bound.Detail of detail, maxAttemptBytes in all, and no control byte;
// and so does its log line.
func TestAttemptBounds(t *testing.T) {
	d := newDir(t)
	var buf syncBuffer
	b := startBroker(t, d, func(c *Config) { c.Logger = slog.New(slog.NewJSONHandler(&buf, nil)) })
	dev := addDevice(t, d, getFixture(t).caA, "prod-mqtt_bounds", nil)

	huge := strings.Repeat("\x01", 60_000)
	t.Run("oversized CONNECT", func(t *testing.T) {
		c := dialRaw(t, b.Addr(), dev.Leaf, tls.VersionTLS13, 4)
		raw, _ := c.login(connectOpts{clientID: huge + "_0_0_2025010100", username: huge, keepalive: 120})
		requireBytes(t, raw, []byte{0x20, 0x02, 0x00, 0x02})
		requireBounded(t, waitAttempt(t, b.Broker, "", iotda.ReasonClientIDFormat))
	})
	t.Run("username mismatch quoting a long username", func(t *testing.T) {
		c := dialRaw(t, b.Addr(), dev.Leaf, tls.VersionTLS13, 4)
		c.login(connectOpts{clientID: clientID(dev.ID), username: huge, keepalive: 120})
		a := requireBounded(t, waitAttempt(t, b.Broker, "", iotda.ReasonUsernameMismatch))
		if !strings.Contains(a.Detail, "Set the username to the device_id") {
			t.Errorf("the detail lost its remedy: %q", a.Detail)
		}
	})
	t.Run("certificate with a 20,000-byte subject, long SNI", func(t *testing.T) {
		cfg := tlsConfig(t, nil, tls.VersionTLS13)
		cfg.Certificates = []tls.Certificate{hugeSubjectCert(t, strings.Repeat("\x7fA", 10_000))}
		cfg.ServerName = strings.Repeat("a", 250) + ".example"
		cfg.InsecureSkipVerify = true // the server certificate names localhost
		probeRefused(t, b.Addr(), cfg)
		a := requireBounded(t, waitAttempt(t, b.Broker, "", iotda.ReasonUnknownCA))
		if !strings.HasSuffix(a.CertSubject, " bytes]") {
			t.Errorf("the subject was not cut: %d bytes", len(a.CertSubject))
		}
	})
	// The log lines: bounded too.
	eventually(t, "three refusal lines", func() bool { return strings.Count(buf.String(), `"msg":"login refused"`) == 3 })
	for _, line := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
		if len(line) > 2*maxAttemptBytes {
			t.Errorf("a log line of %d bytes", len(line))
		}
	}
}

// requireBounded checks every text field of an attempt against its bound.
func requireBounded(t *testing.T, a iotda.LoginAttempt) iotda.LoginAttempt {
	t.Helper()
	total := 0
	v := reflect.ValueOf(a)
	for i := range v.NumField() {
		f := v.Field(i)
		if f.Kind() != reflect.String {
			continue
		}
		s, name := f.String(), v.Type().Field(i).Name
		total += len(s)
		limit := bound.Field + bound.MarkerMax
		if name == "Detail" {
			limit = bound.Detail + bound.MarkerMax
		}
		if len(s) > limit {
			t.Errorf("%s holds %d bytes, more than %d", name, len(s), limit)
		}
		for j := 0; j < len(s); j++ {
			if s[j] < 0x20 || s[j] == 0x7f {
				t.Errorf("%s holds control byte 0x%02x", name, s[j])
				break
			}
		}
	}
	if total > maxAttemptBytes {
		t.Errorf("the attempt holds %d bytes of text, more than %d", total, maxAttemptBytes)
	}
	if body, _ := json.Marshal(a); len(body) > 2*maxAttemptBytes {
		t.Errorf("the attempt is %d bytes of JSON", len(body))
	}
	return a
}

// hugeSubjectCert is a self-signed client certificate whose subject CN is cn.
func hugeSubjectCert(t *testing.T, cn string) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// Refusal lines are rate-limited per reason: the first at once, the rest
// counted into one summary ("more_like_this") when the interval ends; another
// reason has its own line.
func TestRefusalLogIsRateLimited(t *testing.T) {
	d := newDir(t)
	var buf syncBuffer
	b := startBroker(t, d, func(c *Config) {
		c.Logger = slog.New(slog.NewJSONHandler(&buf, nil))
		c.LogInterval = time.Second
	})
	dev := addDevice(t, d, getFixture(t).caA, "prod-mqtt_ratelog", nil)
	const n = 6
	for i := range n {
		c := dialRaw(t, b.Addr(), dev.Leaf, tls.VersionTLS13, 4)
		c.login(connectOpts{clientID: clientID(dev.ID), username: dev.ID, keepalive: uint16(1 + i)}) // keepalive_range
		c.expectCleanClose(2 * time.Second)
	}
	c := dialRaw(t, b.Addr(), dev.Leaf, tls.VersionTLS13, 4)
	c.login(connectOpts{clientID: clientID(dev.ID), username: "someone-else", keepalive: 120}) // username_mismatch
	var lines int
	counts := map[string]int{}
	eventually(t, "lines accounting for every refusal", func() bool {
		lines, counts = 0, map[string]int{}
		for _, l := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
			var m map[string]any
			if json.Unmarshal([]byte(l), &m) != nil || m["msg"] != "login refused" {
				continue
			}
			lines++
			if more, ok := m["more_like_this"].(float64); ok {
				counts[m["reason"].(string)] += int(more)
			} else {
				counts[m["reason"].(string)]++
			}
		}
		return counts["keepalive_range"] == n && counts["username_mismatch"] == 1
	})
	if lines >= n+1 {
		t.Errorf("%d lines for %d refusals: nothing was held back:\n%s", lines, n+1, buf.String())
	}
}

// mochi's own log lines never carry a packet's payload: a 3.1.1 publish to
// a foreign topic (mochi logs "error processing packet" with the packet)
// is summarised in a bounded line, and repeats within the interval are
// counted into a summary, not written.
func TestMochiLogIsBounded(t *testing.T) {
	d := newDir(t)
	var buf syncBuffer
	b := startBroker(t, d, func(c *Config) {
		c.Logger = slog.New(slog.NewJSONHandler(&buf, nil))
		c.LogInterval = 300 * time.Millisecond
	})
	dev := addDevice(t, d, getFixture(t).caA, "prod-mqtt_mochilog", nil)
	payload := []byte(strings.Repeat("P", 512<<10))
	const n = 4
	for range n {
		c := loginRaw(t, b.Addr(), dev, 4)
		if err := c.write(packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Publish, Qos: 1}, PacketID: 3,
			TopicName: iotda.DeviceTopic("prod-mqtt_other", iotda.TopicMessagesUp), Payload: payload}); err != nil {
			t.Fatal(err)
		}
		c.expectCleanClose(2 * time.Second)
	}
	eventually(t, "lines accounting for every denied publish", func() bool {
		events := 0
		for _, l := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
			var m map[string]any
			if json.Unmarshal([]byte(l), &m) == nil && m["msg"] == "error processing packet" {
				if more, ok := m["more_like_this"].(float64); ok {
					events += int(more)
				} else {
					events++
				}
			}
		}
		return events == n
	})
	out := buf.String()
	if strings.Contains(out, "PPPPPPPP") {
		t.Fatalf("the payload is in the log (%d bytes)", len(out))
	}
	if len(out) > 8<<10 {
		t.Errorf("%d denied publishes wrote %d bytes of log", n, len(out))
	}
	if !strings.Contains(out, `payload_bytes=524288`) || !strings.Contains(out, `"component":"mochi"`) {
		t.Errorf("no packet summary in:\n%s", out)
	}
}

// Logins whose connection is reset right after the CONNECT (so that writing
// the CONNACK may fail and mochi's attachClient returns before its own
// cleanup) leave nothing behind: no session, and no client in mochi's table
// once its expiry sweep ran (each connection has its own mochi ID, so no
// later login of the device replaces such a client).
func TestResetLoginsLeaveNoClient(t *testing.T) {
	d := newDir(t)
	b := startBroker(t, d, nil)
	dev := addDevice(t, d, getFixture(t).caA, "prod-mqtt_reset", nil)
	for range 60 {
		c := dialRaw(t, b.Addr(), dev.Leaf, tls.VersionTLS13, 5)
		if err := c.sendConnect(connectOpts{clientID: clientID(dev.ID), username: dev.ID, keepalive: 120}); err != nil {
			t.Fatal(err)
		}
		raw := c.conn.(*tls.Conn).NetConn().(*net.TCPConn)
		_ = raw.SetLinger(0) // close with a reset
		_ = raw.Close()
	}
	left := func() (n int) {
		for _, cl := range b.srv.Clients.GetAll() {
			if strings.HasPrefix(cl.ID, dev.ID) {
				n++
			}
		}
		return n
	}
	// The sweep runs every second and removes clients stopped before the
	// current second: allow it a few runs.
	for deadline := time.Now().Add(6 * time.Second); left() > 0 || b.Connected() > 0; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%d mochi clients and %d sessions of the device left", left(), b.Connected())
		}
	}
}
