package reports

// reasons.go: what an outcome's reason means. A refusal recorded as
// "connack:0x86" is shown with the MQTT name of its code and the certlab
// refusal reasons that carry that code (docs/requirements.md, "Login
// refusals"), e.g. "connack:0x86 (bad user name or password; certlab:
// device_not_found or username_mismatch)".

import (
	"strconv"
	"strings"

	"github.com/certlab/certlab/iotda"
)

// connackNames311 are the CONNACK return codes of MQTT 3.1.1 (§3.2.2.3).
var connackNames311 = map[byte]string{
	0x00: "connection accepted",
	0x01: "unacceptable protocol version",
	0x02: "identifier rejected",
	0x03: "server unavailable",
	0x04: "bad user name or password",
	0x05: "not authorized",
}

// connackNames5 are the CONNACK reason codes of MQTT 5 (§3.2.2.2.2).
var connackNames5 = map[byte]string{
	0x00: "success",
	0x80: "unspecified error",
	0x81: "malformed packet",
	0x82: "protocol error",
	0x83: "implementation specific error",
	0x84: "unsupported protocol version",
	0x85: "client identifier not valid",
	0x86: "bad user name or password",
	0x87: "not authorized",
	0x88: "server unavailable",
	0x89: "server busy",
	0x8A: "banned",
	0x8C: "bad authentication method",
	0x90: "topic name invalid",
	0x95: "packet too large",
	0x97: "quota exceeded",
	0x99: "payload format invalid",
	0x9A: "retain not supported",
	0x9B: "QoS not supported",
	0x9C: "use another server",
	0x9D: "server moved",
	0x9F: "connection rate exceeded",
}

// disconnectNames5 are the DISCONNECT reason codes of MQTT 5 (§3.14.2.1)
// that a server sends.
var disconnectNames5 = map[byte]string{
	0x00: "normal disconnection",
	0x80: "unspecified error",
	0x81: "malformed packet",
	0x82: "protocol error",
	0x83: "implementation specific error",
	0x87: "not authorized",
	0x89: "server busy",
	0x8B: "server shutting down",
	0x8D: "keep alive timeout",
	0x8E: "session taken over",
	0x8F: "topic filter invalid",
	0x90: "topic name invalid",
	0x93: "receive maximum exceeded",
	0x94: "topic alias invalid",
	0x95: "packet too large",
	0x96: "message rate too high",
	0x97: "quota exceeded",
	0x98: "administrative action",
	0x99: "payload format invalid",
	0x9A: "retain not supported",
	0x9B: "QoS not supported",
	0x9C: "use another server",
	0x9D: "server moved",
	0x9E: "shared subscriptions not supported",
	0x9F: "connection rate exceeded",
	0xA0: "maximum connect time",
	0xA1: "subscription identifiers not supported",
	0xA2: "wildcard subscriptions not supported",
}

// connackName is the MQTT name of a CONNACK code. Codes below 0x80 other
// than 0 are MQTT 3.1.1 return codes (MQTT 5 refuses with 0x80 and above),
// so the code alone tells the version.
func connackName(code byte) string {
	names := connackNames5
	if code > 0 && code < 0x80 {
		names = connackNames311
	}
	if n, ok := names[code]; ok {
		return n
	}
	return "not an MQTT CONNACK code"
}

// refusalTable is certlab's login-refusal table, in its check order.
func refusalTable() []iotda.Refusal { return iotda.Refusals }

// refusalsWithCode lists the certlab refusal reasons that carry CONNACK code
// code in its MQTT version (see connackName).
func refusalsWithCode(code byte) []string {
	version := iotda.MQTT5
	if code < 0x80 {
		version = iotda.MQTT311
	}
	var out []string
	for _, r := range refusalTable() {
		if r.Stage == iotda.StageConnect && r.Code(version) == code {
			out = append(out, string(r.Reason))
		}
	}
	return out
}

// reasonMeaning explains a result reason ("connack:0x86", or a session
// drop "disconnect:0x8e"); "" when there is nothing to add.
func reasonMeaning(reason string) string {
	if hex, ok := strings.CutPrefix(reason, "disconnect:0x"); ok {
		if code, err := strconv.ParseUint(hex, 16, 8); err == nil {
			if n, ok := disconnectNames5[byte(code)]; ok {
				return "server DISCONNECT: " + n
			}
		}
		return ""
	}
	hex, ok := strings.CutPrefix(reason, "connack:0x")
	if !ok {
		return ""
	}
	code, err := strconv.ParseUint(hex, 16, 8)
	if err != nil {
		return ""
	}
	meaning := connackName(byte(code))
	if rs := refusalsWithCode(byte(code)); len(rs) > 0 {
		meaning += "; certlab: " + orList(rs)
	}
	return meaning
}

// orList joins "a", "a or b", "a, b or c".
func orList(items []string) string {
	if len(items) <= 1 {
		return strings.Join(items, "")
	}
	return strings.Join(items[:len(items)-1], ", ") + " or " + items[len(items)-1]
}
