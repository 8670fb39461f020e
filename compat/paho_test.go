package compat

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/certlab/certlab/iotda"
	"github.com/certlab/certlab/platform/platformtest"
)

// pahoScript is a device written with Eclipse paho for Python (Debian's
// python3-paho-mqtt, 1.6 on bookworm, 2.x later: both callback APIs work).
// It takes its settings as one JSON argument and prints one JSON event per
// line: connack, suback, message, puback, disconnect, error. Exit status:
// 0 done, 2 refused (CONNACK or dropped before it), 3 TLS or socket error,
// 4 timeout.
const pahoScript = `
import json, ssl, sys, time
import paho.mqtt.client as mqtt

cfg = json.loads(sys.argv[1])
state = {"exit": None, "connected": False}

def emit(**ev):
    print(json.dumps(ev), flush=True)

def code_of(rc):
    return int(getattr(rc, "value", rc))

kw = {}
if hasattr(mqtt, "CallbackAPIVersion"):  # paho 2.x
    kw["callback_api_version"] = mqtt.CallbackAPIVersion.VERSION2
proto = mqtt.MQTTv5 if cfg["version"] == 5 else mqtt.MQTTv311
client = mqtt.Client(client_id=cfg["client_id"], protocol=proto, **kw)
client.username_pw_set(cfg["username"])
client.tls_set(ca_certs=cfg["cafile"], certfile=cfg["cert"], keyfile=cfg["key"], cert_reqs=ssl.CERT_REQUIRED)

def on_connect(client, userdata, flags, rc, properties=None):
    code = code_of(rc)
    emit(event="connack", rc=code)
    if code != 0:
        state["exit"] = 2
        return
    state["connected"] = True
    if cfg.get("subscribe"):
        client.subscribe(cfg["subscribe"], qos=1)
    if cfg.get("publish"):
        client.publish(cfg["publish"], cfg["payload"], qos=1)

def on_subscribe(client, userdata, mid, *args):
    granted = args[0] if args else []
    emit(event="suback", codes=[code_of(c) for c in granted])

def on_message(client, userdata, msg):
    emit(event="message", topic=msg.topic, payload=msg.payload.decode())
    state["exit"] = 0

def on_publish(client, userdata, mid, *args):
    emit(event="puback", mid=mid)
    if not cfg.get("subscribe"):
        state["exit"] = 0

def on_disconnect(client, userdata, *args):
    emit(event="disconnect", detail=str(args))
    if state["exit"] is None:
        state["exit"] = 2

client.on_connect = on_connect
client.on_subscribe = on_subscribe
client.on_message = on_message
client.on_publish = on_publish
client.on_disconnect = on_disconnect

deadline = time.time() + cfg["timeout"]
try:
    client.connect(cfg["host"], cfg["port"], keepalive=120)
    while state["exit"] is None and time.time() < deadline:
        rc = client.loop(timeout=0.1)
        if rc != mqtt.MQTT_ERR_SUCCESS and state["exit"] is None:
            emit(event="loop_error", rc=rc)
            state["exit"] = 2 if not state["connected"] else 3
except Exception as e:  # TLS alerts, resets: the refusal of a certificate
    emit(event="error", error=repr(e))
    sys.exit(3)
if state["exit"] == 0:
    client.disconnect()
sys.exit(4 if state["exit"] is None else state["exit"])
`

// pahoPython finds a python3 that can import paho.mqtt (Debian's, which
// may not be the first python3 on PATH).
func pahoPython(t *testing.T) string {
	t.Helper()
	for _, p := range []string{"/usr/bin/python3", "python3"} {
		path, err := exec.LookPath(p)
		if err != nil {
			continue
		}
		ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
		err = exec.CommandContext(ctx, path, "-c", "import paho.mqtt.client").Run()
		cancel()
		if err == nil {
			return path
		}
	}
	platformtest.Missing(t, "no python3 with paho.mqtt (Debian package python3-paho-mqtt)")
	return ""
}

// pahoEvent is one line of the script's output.
type pahoEvent struct {
	Event   string `json:"event"`
	RC      int    `json:"rc"`
	Codes   []int  `json:"codes"`
	Topic   string `json:"topic"`
	Payload string `json:"payload"`
	Error   string `json:"error"`
}

// runPaho starts the script for a device.
func (f *fixture) runPaho(t *testing.T, python, script string, id identity, version int, extra map[string]any) *process {
	t.Helper()
	cfg := map[string]any{
		"host": f.host, "port": mustAtoi(t, f.port), "cafile": f.caFile, "cert": id.cert, "key": id.key,
		"client_id": id.clientID, "username": id.deviceID, "version": version, "timeout": 15,
	}
	for k, v := range extra {
		cfg[k] = v
	}
	arg, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return start(t, python, script, string(arg))
}

// nextEvent waits for the script's next event of a kind (skipping others).
func nextEvent(t *testing.T, p *process, kind string) pahoEvent {
	t.Helper()
	var ev pahoEvent
	line := p.waitLine(t, `"event": "`+kind+`"`)
	if err := json.Unmarshal([]byte(line), &ev); err != nil {
		t.Fatalf("paho script printed %q: %v", line, err)
	}
	return ev
}

// connackFromEvents returns the rc of the script's connack event, or -1.
func connackFromEvents(out string) int {
	var ev pahoEvent
	for _, line := range splitLines(out) {
		if json.Unmarshal([]byte(line), &ev) == nil && ev.Event == "connack" {
			return ev.RC
		}
	}
	return -1
}

func TestPaho(t *testing.T) {
	python := pahoPython(t)
	f := newFixture(t)
	script := filepath.Join(t.TempDir(), "device.py")
	if err := os.WriteFile(script, []byte(pahoScript), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, version := range []int{4, 5} {
		name := map[int]string{4: "mqttv311", 5: "mqttv5"}[version]
		t.Run(name, func(t *testing.T) {
			t.Run("subscriber receives a message sent through the API", func(t *testing.T) {
				t.Parallel()
				id := f.identity(t, "paho-sub-"+name, good)
				p := f.runPaho(t, python, script, id, version, map[string]any{"subscribe": id.topic("sys/messages/down")})
				if ev := nextEvent(t, p, "connack"); ev.RC != 0 {
					t.Fatalf("CONNACK %d, want 0:\n%s", ev.RC, p.text())
				}
				if ev := nextEvent(t, p, "suback"); len(ev.Codes) != 1 || ev.Codes[0] > 1 {
					t.Fatalf("SUBACK %v, want QoS 0 or 1 granted:\n%s", ev.Codes, p.text())
				}
				want := "compat hello from the API to paho " + name
				f.sendDown(t, id.deviceID, want)
				if ev := nextEvent(t, p, "message"); ev.Payload != want || ev.Topic != id.topic("sys/messages/down") {
					t.Fatalf("received %q on %s, want %q on %s", ev.Payload, ev.Topic, want, id.topic("sys/messages/down"))
				}
				if code, out := p.wait(t); code != 0 {
					t.Fatalf("paho script exit status %d:\n%s", code, out)
				}
			})
			t.Run("publisher's properties report reaches the shadow", func(t *testing.T) {
				t.Parallel()
				id := f.identity(t, "paho-pub-"+name, good)
				client := "paho " + name
				p := f.runPaho(t, python, script, id, version, map[string]any{"publish": id.topic("sys/properties/report"), "payload": propertiesReport(client)})
				if code, out := p.wait(t); code != 0 || connackFromEvents(out) != 0 {
					t.Fatalf("paho publish: exit status %d:\n%s", code, out)
				}
				f.requireShadow(t, id.deviceID, client)
			})
			t.Run("certificate of an unknown CA is refused in TLS", func(t *testing.T) {
				t.Parallel()
				id := f.identity(t, "paho-unknown-"+name, unknownCA)
				p := f.runPaho(t, python, script, id, version, map[string]any{"publish": id.topic("sys/messages/up"), "payload": "x"})
				code, out := p.wait(t)
				if code == 0 || code == 4 || connackFromEvents(out) == 0 {
					t.Fatalf("paho with an unknown CA's certificate: exit status %d, want a refusal (2 or 3):\n%s", code, out)
				}
				t.Logf("refused as expected (exit status %d):\n%s", code, out)
			})
			t.Run("certificate with an unregistered fingerprint is refused with the table's code", func(t *testing.T) {
				t.Parallel()
				id := f.identity(t, "paho-fp-"+name, wrongFingerprint)
				p := f.runPaho(t, python, script, id, version, map[string]any{"publish": id.topic("sys/messages/up"), "payload": "x"})
				code, out := p.wait(t)
				if want := refusalCode(iotda.ReasonFingerprintMismatch, version); code != 2 || connackFromEvents(out) != want {
					t.Fatalf("paho with a wrong fingerprint: exit status %d, CONNACK %d, want 2 and CONNACK %d:\n%s", code, connackFromEvents(out), want, out)
				}
				t.Logf("refused as expected (exit status %d):\n%s", code, out)
			})
		})
	}
}
