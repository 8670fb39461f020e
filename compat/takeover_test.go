package compat

import (
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/certlab/certlab/platform/platformtest"
)

// MQTT packet types the takeover clients report.
const (
	packetConnack    = 2
	packetDisconnect = 14
	packetTorn       = -1 // a packet cut short by the end of the stream
)

// reasonSessionTakenOver is MQTT 5's DISCONNECT reason 0x8E.
const reasonSessionTakenOver = 0x8E

// takeoverConn is one line of testdata/takeover.py's output.
type takeoverConn struct {
	I       int `json:"i"`
	Packets []struct {
		Type int `json:"type"`
		Code int `json:"code"`
	} `json:"packets"`
	End   string `json:"end"`
	Error string `json:"error"`
}

// runTakeovers runs testdata/takeover.py (raw MQTT on Python's ssl module)
// for one device and returns one record per connection.
func (f *fixture) runTakeovers(t *testing.T, id identity, version int, mode string, count int) []takeoverConn {
	t.Helper()
	python := "/usr/bin/python3"
	if _, err := exec.LookPath(python); err != nil {
		platformtest.Missing(t, "no /usr/bin/python3 (Debian package python3)")
	}
	arg, err := json.Marshal(map[string]any{
		"host": f.host, "port": mustAtoi(t, f.port), "cafile": f.caFile, "cert": id.cert, "key": id.key,
		"client_id": id.clientID, "username": id.deviceID, "version": version,
		"count": count, "mode": mode, "timeout": 3,
	})
	if err != nil {
		t.Fatal(err)
	}
	status, out := start(t, python, "testdata/takeover.py", string(arg)).wait(t)
	if status != 0 {
		t.Fatalf("takeover.py exited %d:\n%s", status, out)
	}
	var conns []takeoverConn
	for _, line := range splitLines(out) {
		var c takeoverConn
		if err := json.Unmarshal([]byte(line), &c); err != nil {
			t.Fatalf("takeover.py printed %q: %v\n%s", line, err, out)
		}
		conns = append(conns, c)
	}
	if len(conns) != count {
		t.Fatalf("takeover.py reported %d connections, want %d:\n%s", len(conns), count, out)
	}
	return conns
}

// takeoverProblems lists what is wrong with how a connection was ended by
// a takeover [LOGIN-TAKEOVER]: endingProblems with DISCONNECT 0x8E.
func takeoverProblems(c takeoverConn, version int) []string {
	return endingProblems(c, version, reasonSessionTakenOver)
}

// endingProblems lists what is wrong with how the server ended a session:
// its first packet must be CONNACK 0x00; then MQTT 5 gets DISCONNECT with
// reason, MQTT 3.1.1 no DISCONNECT at all (3.1.1 has no
// server DISCONNECT); then a clean TLS close (close_notify), never a record
// that cannot be decrypted.
func endingProblems(c takeoverConn, version int, reason int) []string {
	var p []string
	switch c.End {
	case "close_notify":
	case "bad_record_mac":
		p = append(p, "TLS stream corrupted: "+c.Error)
	default:
		p = append(p, fmt.Sprintf("ended with %s, not close_notify %s", c.End, c.Error))
	}
	if len(c.Packets) == 0 || c.Packets[0].Type != packetConnack || c.Packets[0].Code != 0 {
		p = append(p, fmt.Sprintf("first packet is not CONNACK 0x00: %+v", c.Packets))
	}
	for i, pk := range c.Packets[min(1, len(c.Packets)):] {
		switch {
		case pk.Type == packetDisconnect && version == 5 && pk.Code == reason && i == len(c.Packets)-2:
		case pk.Type == packetDisconnect && version < 5:
			p = append(p, "MQTT 3.1.1 was sent a DISCONNECT packet")
		case pk.Type == packetTorn:
			p = append(p, "a packet was cut short")
		default:
			p = append(p, fmt.Sprintf("unexpected packet after CONNACK: %+v (all: %+v)", pk, c.Packets))
		}
	}
	if version == 5 && (len(c.Packets) < 2 || c.Packets[len(c.Packets)-1].Type != packetDisconnect) {
		p = append(p, fmt.Sprintf("MQTT 5 got no DISCONNECT 0x%02X: %+v", reason, c.Packets))
	}
	return p
}

// TestTakeoverEndsTheOldSessionCleanly logs one device in again and again
// with the same ClientId, one login after the other and then 16 at once, on
// MQTT 3.1.1 and 5, and checks every connection that was taken over.
func TestTakeoverEndsTheOldSessionCleanly(t *testing.T) {
	f := newFixture(t)
	for _, version := range []int{4, 5} {
		for _, tc := range []struct {
			mode  string
			count int
		}{{"sequential", 6}, {"storm", 16}} {
			t.Run(fmt.Sprintf("mqtt%d/%s", version, tc.mode), func(t *testing.T) {
				id := f.identity(t, fmt.Sprintf("takeover-%d-%s", version, tc.mode), good)
				conns := f.runTakeovers(t, id, version, tc.mode, tc.count)
				survivors, bad := 0, 0
				for _, c := range conns {
					if c.End == "open" {
						survivors++
						if len(c.Packets) == 0 || c.Packets[0].Type != packetConnack || c.Packets[0].Code != 0 || len(c.Packets) > 1 {
							t.Errorf("connection %d kept its session but got %+v", c.I, c.Packets)
						}
						continue
					}
					if p := takeoverProblems(c, version); len(p) > 0 {
						bad++
						t.Errorf("connection %d: %s", c.I, strings.Join(p, "; "))
					}
				}
				if survivors != 1 {
					t.Errorf("%d connections kept a session, want exactly 1 (the last login)", survivors)
				}
				t.Logf("%d connections, %d taken over cleanly, %d not, %d kept", len(conns), len(conns)-survivors-bad, bad, survivors)
			})
		}
	}
}

// TestMosquittoTakeover has mosquitto_sub (libmosquitto on OpenSSL) taken
// over by a second mosquitto_sub with the same ClientId: the first must see
// its connection end without a TLS or protocol error.
func TestMosquittoTakeover(t *testing.T) {
	sub := platformtest.RequireTool(t, "mosquitto-clients", "mosquitto_sub")
	stdbuf := platformtest.RequireTool(t, "coreutils", "stdbuf")
	f := newFixture(t)
	for _, v := range mosquittoVersions {
		t.Run(v.flag, func(t *testing.T) {
			id := f.identity(t, "mosq-takeover-"+v.flag, good)
			args := func() []string {
				return append([]string{"-oL", sub}, append(f.mosquittoArgs(id, v.flag), "-t", id.topic("sys/messages/down"))...)
			}
			first := start(t, stdbuf, args()...)
			first.waitLine(t, "received SUBACK")
			second := start(t, stdbuf, args()...)
			second.waitLine(t, "received SUBACK")
			time.Sleep(300 * time.Millisecond) // the first one reads the end of its connection
			for _, bad := range []string{"bad record mac", "decryption failed", "Protocol error", "protocol error"} {
				if strings.Contains(first.text(), bad) {
					t.Errorf("the taken-over mosquitto_sub reported %q:\n%s", bad, first.text())
				}
			}
		})
	}
}

// TestMosquittoKicked has mosquitto_sub's session ended by the platform
// (its device frozen through the API): it must see the end without a TLS or
// protocol error. MQTT 5 prints the DISCONNECT 0x87 (135) and exits; 3.1.1,
// which gets no DISCONNECT, reconnects and is refused (0x05). [DEV-FREEZE]
func TestMosquittoKicked(t *testing.T) {
	sub := platformtest.RequireTool(t, "mosquitto-clients", "mosquitto_sub")
	stdbuf := platformtest.RequireTool(t, "coreutils", "stdbuf")
	f := newFixture(t)
	for _, v := range mosquittoVersions {
		t.Run(v.flag, func(t *testing.T) {
			id := f.identity(t, "mosq-kicked-"+v.flag, good)
			p := start(t, stdbuf, append([]string{"-oL", sub}, append(f.mosquittoArgs(id, v.flag), "-t", id.topic("sys/messages/down"))...)...)
			p.waitLine(t, "received SUBACK")
			ctx, cancel := context.WithTimeout(t.Context(), 15*time.Second)
			defer cancel()
			if err := f.client.FreezeDevice(ctx, id.deviceID); err != nil {
				t.Fatalf("freeze: %v", err)
			}
			want := "Received DISCONNECT (135)"
			if v.level < 5 {
				want = "received CONNACK (5)"
			}
			p.waitLine(t, want)
			for _, bad := range []string{"bad record mac", "decryption failed", "Protocol error", "protocol error"} {
				if strings.Contains(p.text(), bad) {
					t.Errorf("the kicked mosquitto_sub reported %q:\n%s", bad, p.text())
				}
			}
		})
	}
}
