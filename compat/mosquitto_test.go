package compat

import (
	"regexp"
	"strconv"
	"testing"

	"github.com/certlab/certlab/iotda"
	"github.com/certlab/certlab/platform/platformtest"
)

// mosquittoVersions are the -V values and the protocol level each stands for.
var mosquittoVersions = []struct {
	flag  string
	level int // 4 = MQTT 3.1.1, 5 = MQTT 5
}{{"mqttv311", 4}, {"mqttv5", 5}}

// mosquittoArgs are the connection flags of a certificate device (IoTDA's
// ClientId and username, keepalive 120 s, the platform's server CA).
func (f *fixture) mosquittoArgs(id identity, version string) []string {
	return []string{
		"-h", f.host, "-p", f.port, "-V", version,
		"--cafile", f.caFile, "--cert", id.cert, "--key", id.key,
		"-i", id.clientID, "-u", id.deviceID, "-k", "120", "-d",
	}
}

var connackLine = regexp.MustCompile(`received CONNACK \((\d+)\)`)

// connackOf returns the CONNACK code mosquitto printed (-d), or -1.
func connackOf(out string) int {
	m := connackLine.FindStringSubmatch(out)
	if m == nil {
		return -1
	}
	n, _ := strconv.Atoi(m[1])
	return n
}

// refusalCode is the CONNACK code of a refusal for an MQTT protocol level.
func refusalCode(r iotda.Reason, level int) int {
	ref, _ := iotda.RefusalFor(r)
	return int(ref.Code(iotda.MQTTVersion(level)))
}

func TestMosquitto(t *testing.T) {
	sub := platformtest.RequireTool(t, "mosquitto-clients", "mosquitto_sub")
	pub := platformtest.RequireTool(t, "mosquitto-clients", "mosquitto_pub")
	stdbuf := platformtest.RequireTool(t, "coreutils", "stdbuf")
	f := newFixture(t)
	for _, v := range mosquittoVersions {
		t.Run(v.flag, func(t *testing.T) {
			t.Run("subscriber receives a message sent through the API", func(t *testing.T) {
				t.Parallel()
				id := f.identity(t, "mosq-sub-"+v.flag, good)
				want := "compat hello from the API to mosquitto " + v.flag
				// stdbuf: mosquitto_sub block-buffers its -d lines on a pipe; the test acts on SUBACK.
				p := start(t, stdbuf, append([]string{"-oL", sub}, append(f.mosquittoArgs(id, v.flag),
					"-t", id.topic("sys/messages/down"), "-q", "1", "-C", "1", "-W", "15")...)...)
				p.waitLine(t, "received CONNACK (0)")
				p.waitLine(t, "received SUBACK")
				f.sendDown(t, id.deviceID, want)
				p.waitLine(t, want)
				if code, out := p.wait(t); code != 0 {
					t.Fatalf("mosquitto_sub exit status %d:\n%s", code, out)
				}
			})
			t.Run("publisher's properties report reaches the shadow", func(t *testing.T) {
				t.Parallel()
				id := f.identity(t, "mosq-pub-"+v.flag, good)
				client := "mosquitto_pub " + v.flag
				p := start(t, pub, append(f.mosquittoArgs(id, v.flag),
					"-t", id.topic("sys/properties/report"), "-q", "1", "-m", propertiesReport(client))...)
				code, out := p.wait(t)
				if code != 0 || connackOf(out) != 0 {
					t.Fatalf("mosquitto_pub exit status %d, CONNACK %d:\n%s", code, connackOf(out), out)
				}
				f.requireShadow(t, id.deviceID, client)
			})
			t.Run("certificate of an unknown CA is refused in TLS", func(t *testing.T) {
				t.Parallel()
				id := f.identity(t, "mosq-unknown-"+v.flag, unknownCA)
				p := start(t, pub, append(f.mosquittoArgs(id, v.flag), "-t", id.topic("sys/messages/up"), "-m", "x")...)
				code, out := p.wait(t)
				if code == 0 || connackOf(out) == 0 {
					t.Fatalf("mosquitto_pub with an unknown CA's certificate: exit status %d, CONNACK %d, want a refusal:\n%s", code, connackOf(out), out)
				}
				t.Logf("refused as expected (exit status %d):\n%s", code, out)
			})
			t.Run("certificate with an unregistered fingerprint is refused with the table's code", func(t *testing.T) {
				t.Parallel()
				id := f.identity(t, "mosq-fp-"+v.flag, wrongFingerprint)
				p := start(t, pub, append(f.mosquittoArgs(id, v.flag), "-t", id.topic("sys/messages/up"), "-m", "x")...)
				code, out := p.wait(t)
				want := refusalCode(iotda.ReasonFingerprintMismatch, v.level)
				if code == 0 || connackOf(out) != want {
					t.Fatalf("mosquitto_pub with a wrong fingerprint: exit status %d, CONNACK %d, want CONNACK %d (0x%02x):\n%s", code, connackOf(out), want, want, out)
				}
				t.Logf("refused as expected (exit status %d):\n%s", code, out)
			})
			t.Run("another device's topic is denied", func(t *testing.T) {
				t.Parallel()
				id := f.identity(t, "mosq-acl-"+v.flag, good)
				p := start(t, sub, append(f.mosquittoArgs(id, v.flag),
					"-t", iotda.DeviceTopic(productID+"_someone-else", iotda.TopicMessagesDown), "-q", "1", "-C", "1", "-W", "10")...)
				_, out := p.wait(t)
				// [ACL-OWN-TOPICS] SUBACK failure: 0x80 (3.1.1), 0x80 or 0x87 (5).
				if connackOf(out) != 0 || !regexp.MustCompile(`Subscribed \(mid: \d+\): (128|135)`).MatchString(out) {
					t.Fatalf("subscription to another device's topic was not denied:\n%s", out)
				}
			})
		})
	}
}
