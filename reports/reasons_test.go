package reports

import (
	"fmt"
	"strings"
	"testing"

	"github.com/certlab/certlab/iotda"
)

func TestReasonMeaning(t *testing.T) {
	for _, tc := range []struct {
		reason, want string
	}{
		{"connack:0x86", "bad user name or password; certlab: device_not_found or username_mismatch"},
		{"connack:0x04", "bad user name or password; certlab: device_not_found or username_mismatch"},
		{"connack:0x85", "client identifier not valid; certlab: clientid_format or keepalive_range"},
		{"connack:0x8a", "banned; certlab: device_frozen"},
		{"connack:0x89", "server busy; certlab: server_busy"},
		{"connack:0x03", "server unavailable; certlab: server_busy"},
		{"connack:0x01", "unacceptable protocol version"},
		{"connack:0x9f", "connection rate exceeded"},
		{"connack:0x7f", "not an MQTT CONNACK code"},
		{"disconnect:0x8e", "server DISCONNECT: session taken over"},
		{"disconnect:0x01", ""},
		{"connack:zz", ""},
		{"tls_alert:bad certificate", ""},
		{"timeout", ""},
		{"", ""},
	} {
		if got := reasonMeaning(tc.reason); got != tc.want {
			t.Errorf("reasonMeaning(%q) = %q, want %q", tc.reason, got, tc.want)
		}
	}
}

// Every CONNECT-stage refusal of certlab's table is named under both its
// MQTT 3.1.1 and its MQTT 5 code, so no refused login shows a bare code.
func TestEveryRefusalCodeIsExplained(t *testing.T) {
	for _, r := range refusalTable() {
		if r.Stage != iotda.StageConnect {
			continue
		}
		for _, code := range []byte{r.MQTT3, r.MQTT5} {
			m := reasonMeaning(fmt.Sprintf("connack:0x%02x", code))
			if strings.HasPrefix(m, "not an MQTT") || !strings.Contains(m, string(r.Reason)) {
				t.Errorf("%s (code 0x%02x): meaning %q", r.Reason, code, m)
			}
		}
	}
}
