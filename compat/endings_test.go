package compat

import (
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/certlab/certlab/iotda"
	"github.com/certlab/certlab/platform/platformtest"
)

// publishSpec is a PUBLISH testdata/takeover.py sends once logged in.
type publishSpec struct {
	Topic  string `json:"topic"`
	QoS    int    `json:"qos"`
	Retain bool   `json:"retain"`
	Size   int    `json:"size"` // payload bytes
}

// maxPayload is the platform's PUBLISH payload limit (IoTDA: 1 MB). [MQTT-LIMITS]
const maxPayload = 1 << 20

// MQTT 5 DISCONNECT reasons of the session endings.
const (
	reasonNotAuthorized      = 0x87
	reasonPacketTooLarge     = 0x95
	reasonRetainNotSupported = 0x9A
	reasonQoSNotSupported    = 0x9B
	packetPuback             = 4
)

// runEnding logs one device in with testdata/takeover.py (mode single),
// sends pub if any, runs trigger once the client has its CONNACK, and
// returns how the connection ended; the client gives up after timeout.
func (f *fixture) runEnding(t *testing.T, id identity, version int, pub *publishSpec, trigger func(), timeout time.Duration) takeoverConn {
	t.Helper()
	python := "/usr/bin/python3"
	if _, err := exec.LookPath(python); err != nil {
		platformtest.Missing(t, "no /usr/bin/python3 (Debian package python3)")
	}
	cfg := map[string]any{
		"host": f.host, "port": mustAtoi(t, f.port), "cafile": f.caFile, "cert": id.cert, "key": id.key,
		"client_id": id.clientID, "username": id.deviceID, "version": version,
		"count": 1, "mode": "single", "timeout": timeout.Seconds(),
	}
	if pub != nil {
		cfg["publish"] = pub
	}
	arg, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	p := start(t, python, "testdata/takeover.py", string(arg))
	p.waitLine(t, `"ready"`)
	if trigger != nil {
		trigger()
	}
	status, out := p.wait(t)
	if status != 0 {
		t.Fatalf("takeover.py exited %d:\n%s", status, out)
	}
	lines := splitLines(out)
	var c takeoverConn
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &c); err != nil {
		t.Fatalf("takeover.py printed %q: %v", out, err)
	}
	return c
}

// TestSessionEndsCleanly ends a logged-in session in every way the
// platform ends one, on MQTT 3.1.1 and 5, and checks what the client (raw
// MQTT on Python's ssl module) saw: CONNACK 0x00, then MQTT 5 a DISCONNECT
// with the reason and 3.1.1 no packet at all, then close_notify; never a TLS
// record it cannot decrypt. [CA-DELETE] [DEV-FREEZE] [MQTT-LIMITS] [ACL-OWN-TOPICS]
func TestSessionEndsCleanly(t *testing.T) {
	f := newFixture(t)
	type ending struct {
		name    string
		publish func(id identity) *publishSpec                  // sent by the device once logged in
		trigger func(t *testing.T, ctx context.Context, e *env) // done through the API once the device is logged in
		reason  int                                             // MQTT 5 DISCONNECT reason
	}
	endings := []ending{
		{name: "CA deleted", reason: reasonNotAuthorized, trigger: func(t *testing.T, ctx context.Context, e *env) {
			if err := f.client.DeleteCertificate(ctx, e.caID); err != nil {
				t.Errorf("delete CA: %v", err)
			}
		}},
		{name: "device frozen", reason: reasonNotAuthorized, trigger: func(t *testing.T, ctx context.Context, e *env) {
			if err := f.client.FreezeDevice(ctx, e.id.deviceID); err != nil {
				t.Errorf("freeze: %v", err)
			}
		}},
		{name: "device deleted", reason: reasonNotAuthorized, trigger: func(t *testing.T, ctx context.Context, e *env) {
			if err := f.client.DeleteDevice(ctx, e.id.deviceID); err != nil {
				t.Errorf("delete device: %v", err)
			}
		}},
		{name: "fingerprint reset with force_disconnect", reason: reasonNotAuthorized, trigger: func(t *testing.T, ctx context.Context, e *env) {
			fp, force := strings.Repeat("ab", 32), true
			if _, err := f.client.ResetFingerprint(ctx, e.id.deviceID, iotda.ResetFingerprint{Fingerprint: &fp, ForceDisconnect: &force}); err != nil {
				t.Errorf("reset fingerprint: %v", err)
			}
		}},
		{name: "QoS 2 publish", reason: reasonQoSNotSupported, publish: func(id identity) *publishSpec {
			return &publishSpec{Topic: id.topic(iotda.TopicMessagesUp), QoS: 2, Size: 8}
		}},
		{name: "retained publish", reason: reasonRetainNotSupported, publish: func(id identity) *publishSpec {
			return &publishSpec{Topic: id.topic(iotda.TopicMessagesUp), Retain: true, Size: 8}
		}},
		{name: "publish over 1 MB", reason: reasonPacketTooLarge, publish: func(id identity) *publishSpec {
			return &publishSpec{Topic: id.topic(iotda.TopicMessagesUp), QoS: 1, Size: maxPayload + 1}
		}},
	}
	clean, total := 0, 0
	for _, version := range []int{4, 5} {
		for i, e := range endings {
			t.Run(fmt.Sprintf("mqtt%d/%s", version, e.name), func(t *testing.T) {
				ev := &env{}
				ca, caID := f.ca, ""
				if e.name == "CA deleted" { // a CA of its own: the others' stays
					ca, caID = f.enrolCA(t, fmt.Sprintf("compat CA to delete %d", version))
				}
				ev.caID = caID
				ev.id = f.identityOf(t, ca, fmt.Sprintf("end-%d-%d", version, i), good)
				var pub *publishSpec
				if e.publish != nil {
					pub = e.publish(ev.id)
				}
				var trigger func()
				if e.trigger != nil {
					trigger = func() {
						ctx, cancel := context.WithTimeout(t.Context(), 15*time.Second)
						defer cancel()
						e.trigger(t, ctx, ev)
					}
				}
				c := f.runEnding(t, ev.id, version, pub, trigger, 5*time.Second)
				total++
				if p := endingProblems(c, version, e.reason); len(p) > 0 {
					t.Errorf("%s", strings.Join(p, "; "))
				} else {
					clean++
				}
			})
		}
	}
	// A publish to a topic that is not the device's own: 3.1.1 cannot say
	// "not authorized" in a PUBACK, so the session ends (no DISCONNECT);
	// MQTT 5 gets PUBACK 0x87 and keeps its session.
	for _, version := range []int{4, 5} {
		t.Run(fmt.Sprintf("mqtt%d/publish QoS 1 to a foreign topic", version), func(t *testing.T) {
			id := f.identity(t, fmt.Sprintf("end-acl-%d", version), good)
			pub := &publishSpec{Topic: iotda.DeviceTopic(productID+"_someone-else", iotda.TopicMessagesUp), QoS: 1, Size: 8}
			timeout := 5 * time.Second
			if version == 5 {
				timeout = time.Second // it stays open: read it for a second
			}
			c := f.runEnding(t, id, version, pub, nil, timeout)
			total++
			if version == 4 {
				if p := endingProblems(c, version, 0); len(p) > 0 {
					t.Errorf("%s", strings.Join(p, "; "))
					return
				}
				clean++
				return
			}
			if c.End != "open" || len(c.Packets) != 2 || c.Packets[0].Type != packetConnack || c.Packets[1].Type != packetPuback || c.Packets[1].Code != reasonNotAuthorized {
				t.Errorf("MQTT 5 got %+v and %s %s, want CONNACK 0x00, PUBACK 0x87 and the session kept", c.Packets, c.End, c.Error)
				return
			}
			clean++
		})
	}
	t.Logf("%d session endings, %d clean (no TLS decryption error, no illegal packet)", total, clean)
}

// env is what a session ending's trigger acts on.
type env struct {
	id   identity
	caID string // the CA's certificate ID, for "CA deleted"
}
