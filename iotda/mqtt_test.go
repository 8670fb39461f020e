package iotda

import (
	"fmt"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

// [LOGIN-CLIENTID] the format and the parser agree.
func TestClientIDForParses(t *testing.T) {
	at := time.Date(2025, 4, 14, 23, 59, 0, 0, time.FixedZone("CST", 8*3600))
	s := ClientIDFor("prod_node_0", at)
	if s != "prod_node_0_0_0_2025041415" { // the hour in UTC
		t.Fatalf("ClientIDFor = %q", s)
	}
	id, err := ParseClientID(s)
	if err != nil || id.DeviceID != "prod_node_0" || id.SignType != 0 || !id.Timestamp.Equal(at.Truncate(time.Hour)) {
		t.Fatalf("ParseClientID(%q) = %+v, %v", s, id, err)
	}
}

func TestParseMQTTVersion(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want MQTTVersion
		ok   bool
	}{
		{"3.1.1", MQTT311, true}, {"311", MQTT311, true}, {"4", MQTT311, true}, {"v3.1.1", MQTT311, true}, {"MQTTv311", MQTT311, true},
		{"5", MQTT5, true}, {"5.0", MQTT5, true}, {"v5", MQTT5, true}, {"mqttv5", MQTT5, true},
		{"3.1", 0, false}, {"3", 0, false}, {"6", 0, false}, {"", 0, false}, {"mix", 0, false},
	} {
		got, err := ParseMQTTVersion(tc.in)
		if got != tc.want || (err == nil) != tc.ok {
			t.Errorf("ParseMQTTVersion(%q) = %d, %v; want %d, ok=%v", tc.in, got, err, tc.want, tc.ok)
		}
		if err != nil && !strings.Contains(err.Error(), "want 3.1.1 or 5") {
			t.Errorf("ParseMQTTVersion(%q) error %q does not say what is accepted", tc.in, err)
		}
	}
}

// The formatter's output parses back (for the versions IoTDA accepts).
func TestMQTTVersionString(t *testing.T) {
	for v, want := range map[MQTTVersion]string{MQTT31: "3.1", MQTT311: "3.1.1", MQTT5: "5", 6: "level 6"} {
		if got := v.String(); got != want {
			t.Errorf("%d.String() = %q, want %q", int(v), got, want)
		}
	}
	for _, v := range []MQTTVersion{MQTT311, MQTT5} {
		if got, err := ParseMQTTVersion(v.String()); got != v || err != nil {
			t.Errorf("ParseMQTTVersion(%q) = %d, %v", v.String(), got, err)
		}
	}
}

// [DEV-FINGERPRINT]
func TestFingerprintMatches(t *testing.T) {
	const sha256 = "6ad5c409b526e12e868b7d0f3de5fb61b64468071a5fc8dccdc4772051745ce7"
	const sha1 = "f4da7bf02522c6426797249f5c998810547fb12a"
	for _, tc := range []struct {
		name, registered, sha1, wantDigest string
		want                               bool
	}{
		{"SHA-256", sha256, "", DigestSHA256, true},
		{"SHA-256 upper case", strings.ToUpper(sha256), "", DigestSHA256, true},
		{"SHA-1", sha1, sha1, DigestSHA1, true},
		{"SHA-1 with colons", "F4:DA:7B:F0:25:22:C6:42:67:97:24:9F:5C:99:88:10:54:7F:B1:2A", sha1, DigestSHA1, true},
		{"SHA-1 not computed", sha1, "", DigestSHA1, false},
		{"other SHA-256", strings.Repeat("ab", 32), "", DigestSHA256, false},
		{"malformed", "abc", sha1, "", false},
		{"empty", "", sha1, "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if d := FingerprintDigest(tc.registered); d != tc.wantDigest {
				t.Errorf("FingerprintDigest = %q, want %q", d, tc.wantDigest)
			}
			if got := FingerprintMatches(tc.registered, sha256, tc.sha1); got != tc.want {
				t.Errorf("FingerprintMatches = %v, want %v", got, tc.want)
			}
		})
	}
}

// [ACL-OWN-TOPICS]
func TestDeviceTopics(t *testing.T) {
	const dev = "prod_node"
	if got := DeviceTopic(dev, TopicMessagesUp); got != "$oc/devices/prod_node/sys/messages/up" {
		t.Errorf("DeviceTopic = %q", got)
	}
	if got := DeviceOfTopic(DeviceTopic(dev, TopicPropertiesReport)); got != dev {
		t.Errorf("DeviceOfTopic = %q", got)
	}
	if got := DeviceOfTopic("other/topic"); got != "" {
		t.Errorf("DeviceOfTopic(other) = %q", got)
	}
	for topic, want := range map[string]bool{
		DeviceTopic(dev, TopicMessagesDown):   true,
		TopicPrefix(dev) + "user/anything":    true,
		TopicPrefix(dev) + "user/+":           false, // a filter, not a topic name
		TopicPrefix(dev) + "#":                false,
		TopicPrefix(dev+"x") + "sys/messages": false, // another device whose ID starts with this one's
		TopicPrefix("prod") + "node/sys":      false,
		"$oc/devices/" + dev:                  false,
	} {
		if got := IsOwnTopic(dev, topic); got != want {
			t.Errorf("IsOwnTopic(%q) = %v, want %v", topic, got, want)
		}
	}
}

// [LOGIN-KEEPALIVE]
func TestKeepaliveAllowed(t *testing.T) {
	for s, want := range map[int]bool{0: false, 29: false, 30: true, 120: true, 1200: true, 1201: false} {
		if got := KeepaliveAllowed(s); got != want {
			t.Errorf("KeepaliveAllowed(%d) = %v", s, got)
		}
	}
}

// The refusal table lists each reason once, the TLS stage before CONNECT,
// with CONNACK codes only at CONNECT; LoginReasons is ok, the table, the
// failures.
func TestRefusalTable(t *testing.T) {
	seen := map[Reason]bool{}
	connect := false
	for _, r := range Refusals {
		if seen[r.Reason] {
			t.Errorf("%s listed twice", r.Reason)
		}
		seen[r.Reason] = true
		switch r.Stage {
		case StageTLS:
			if connect {
				t.Errorf("%s: a TLS-stage row after a CONNECT-stage row", r.Reason)
			}
			if r.MQTT3 != 0 || r.MQTT5 != 0 {
				t.Errorf("%s: a TLS-stage row with a CONNACK code", r.Reason)
			}
		case StageConnect:
			connect = true
			if r.MQTT3 == 0 || r.MQTT3 > 5 || r.MQTT5 < 0x80 {
				t.Errorf("%s: codes 0x%02x/0x%02x", r.Reason, r.MQTT3, r.MQTT5)
			}
		default:
			t.Errorf("%s: stage %q", r.Reason, r.Stage)
		}
		if got, ok := RefusalFor(r.Reason); !ok || got != r {
			t.Errorf("RefusalFor(%s) = %+v, %v", r.Reason, got, ok)
		}
		if r.Reason.Stage() != r.Stage || r.Reason.Outcome() != OutcomeRefused {
			t.Errorf("%s: Stage %s Outcome %s", r.Reason, r.Reason.Stage(), r.Reason.Outcome())
		}
	}
	for _, r := range append([]Reason{ReasonOK}, Failures...) {
		if _, ok := RefusalFor(r); ok {
			t.Errorf("%s is in the refusal table", r)
		}
	}
	if ReasonTLSHandshake.Stage() != StageTLS || ReasonConnectTimeout.Stage() != StageConnect || ReasonOK.Outcome() != OutcomeSuccess {
		t.Error("stages or outcomes of the non-refusal reasons")
	}
	all := LoginReasons()
	if len(all) != 1+len(Refusals)+len(Failures) || all[0] != ReasonOK || !slices.Equal(all[len(all)-len(Failures):], Failures) {
		t.Errorf("LoginReasons() = %v", all)
	}
	if ref, _ := RefusalFor(ReasonDeviceFrozen); ref.Code(MQTT311) != 0x05 || ref.Code(MQTT5) != 0x8A {
		t.Errorf("device_frozen codes %+v", ref)
	}
}

// docs/requirements.md §4 states the refusal table for people: the same
// rows in the same order with the same stages and codes.
func TestRefusalTableMatchesDocs(t *testing.T) {
	doc, err := os.ReadFile("../docs/requirements.md")
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(doc), "## 4. Login refusals")
	if !ok {
		t.Fatal("docs/requirements.md has no section 4. Login refusals")
	}
	var rows []string
	for _, m := range regexp.MustCompile(`(?m)^\| ([a-z_]+) \| (tls|connect) \| (0x[0-9A-F]{2}|-) \| (0x[0-9A-F]{2}|-) \|`).FindAllStringSubmatch(section, -1) {
		rows = append(rows, strings.Join(m[1:], " "))
	}
	var want []string
	for _, r := range Refusals {
		code := func(c byte) string {
			if c == 0 {
				return "-"
			}
			return fmt.Sprintf("0x%02X", c)
		}
		want = append(want, strings.Join([]string{string(r.Reason), string(r.Stage), code(r.MQTT3), code(r.MQTT5)}, " "))
	}
	if !slices.Equal(rows, want) {
		t.Errorf("docs/requirements.md §4 has\n  %q\niotda.Refusals is\n  %q", rows, want)
	}
}
