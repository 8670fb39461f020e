package iotda

// mqtt.go: the MQTT half of IoTDA's contract, defined once for the platform
// (server side) and for the simulator, the load generator, the BDD steps and
// `certlab check` (client side): the ClientId, the device topics, the
// keepalive bounds, the MQTT protocol versions, how a login ends (Outcome)
// and how a registered fingerprint names a certificate. Sources:
// docs/iotda.md §8.2–§8.5.

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// ---- ClientId (docs/iotda.md §8.2) ----

// MaxClientIDLen bounds the ClientId length. [LOGIN-CLIENTID]
const MaxClientIDLen = 256

// ClientIDTimeLayout is the time layout of the ClientId's last field
// (YYYYMMDDHH, UTC).
const ClientIDTimeLayout = "2006010215"

// ClientID is an IoTDA ClientId: {device_id}_{identity type}_{sign type}_{YYYYMMDDHH}.
type ClientID struct {
	DeviceID     string
	IdentityType byte      // always 0 (device ID)
	SignType     byte      // 0: HMAC-SHA256 without timestamp check, 1: with
	Timestamp    time.Time // the YYYYMMDDHH field, UTC
}

// ClientIDFor returns the ClientId a certificate (or secret, sign type 0)
// device sends when it logs in at t: {device_id}_0_0_{YYYYMMDDHH}, the hour
// in UTC. [LOGIN-CLIENTID]
func ClientIDFor(deviceID string, t time.Time) string {
	return ClientID{DeviceID: deviceID, Timestamp: t}.String()
}

// String formats the ClientId.
func (c ClientID) String() string {
	return c.DeviceID + "_" + strconv.Itoa(int(c.IdentityType)) + "_" + strconv.Itoa(int(c.SignType)) +
		"_" + c.Timestamp.UTC().Format(ClientIDTimeLayout)
}

// ParseClientID parses an IoTDA ClientId from the right, because device IDs
// contain underscores (product_id + "_" + node_id). The error says what is
// wrong in words a device vendor can act on. [LOGIN-CLIENTID]
func ParseClientID(s string) (ClientID, error) {
	var id ClientID
	if s == "" {
		return id, errors.New("it is empty")
	}
	if len(s) > MaxClientIDLen {
		return id, fmt.Errorf("it is %d characters long (at most %d)", len(s), MaxClientIDLen)
	}
	// Three separators from the right; the device ID keeps the rest.
	i3 := strings.LastIndexByte(s, '_')
	i2 := strings.LastIndexByte(s[:max(i3, 0)], '_')
	i1 := strings.LastIndexByte(s[:max(i2, 0)], '_')
	if i1 < 0 || i2 < 0 || i3 < 0 {
		return id, errors.New("it has fewer than four _-separated fields")
	}
	rest, ident, sign, ts := s[:i1], s[i1+1:i2], s[i2+1:i3], s[i3+1:]
	if len(ts) != len(ClientIDTimeLayout) || strings.Trim(ts, "0123456789") != "" {
		return id, fmt.Errorf("the timestamp %q is not 10 digits YYYYMMDDHH", ts)
	}
	t, err := time.Parse(ClientIDTimeLayout, ts)
	if err != nil {
		return id, fmt.Errorf("the timestamp %q is not a valid hour (YYYYMMDDHH)", ts)
	}
	if sign != "0" && sign != "1" {
		return id, fmt.Errorf("the signature type %q is not 0 or 1", sign)
	}
	if ident != "0" {
		return id, fmt.Errorf("the identity type %q is not 0", ident)
	}
	if rest == "" {
		return id, errors.New("the device_id is empty")
	}
	return ClientID{DeviceID: rest, IdentityType: 0, SignType: sign[0] - '0', Timestamp: t}, nil
}

// ---- Topics (docs/iotda.md §8.5) ----

// TopicRoot starts every device topic: $oc/devices/{device_id}/...
const TopicRoot = "$oc/devices/"

// System topics, relative to a device's prefix (DeviceTopic).
const (
	TopicMessagesUp       = "sys/messages/up"
	TopicMessagesDown     = "sys/messages/down"
	TopicPropertiesReport = "sys/properties/report"
)

// TopicPrefix is the prefix of a device's own topics, "$oc/devices/{device_id}/":
// a device publishes and subscribes only below it. [ACL-OWN-TOPICS]
func TopicPrefix(deviceID string) string { return TopicRoot + deviceID + "/" }

// DeviceTopic is the device's topic with the given suffix, e.g.
// DeviceTopic(id, TopicMessagesUp). DeviceTopic("+", suffix) is the filter
// that matches that topic of every device.
func DeviceTopic(deviceID, suffix string) string { return TopicRoot + deviceID + "/" + suffix }

// DeviceOfTopic returns {device_id} of "$oc/devices/{device_id}/...", or ""
// when topic is not a device topic.
func DeviceOfTopic(topic string) string {
	rest, ok := strings.CutPrefix(topic, TopicRoot)
	if !ok {
		return ""
	}
	id, _, _ := strings.Cut(rest, "/")
	return id
}

// IsOwnTopic reports whether topic is a topic name (no wildcards) under the
// device's own prefix. [ACL-OWN-TOPICS]
func IsOwnTopic(deviceID, topic string) bool {
	rest, ok := strings.CutPrefix(topic, TopicRoot)
	if !ok {
		return false
	}
	rest, ok = strings.CutPrefix(rest, deviceID)
	return ok && strings.HasPrefix(rest, "/") && !strings.ContainsAny(topic, "+#")
}

// ---- Keepalive (docs/iotda.md §8.2) ----

// Keepalive bounds of the CONNECT, in seconds. [LOGIN-KEEPALIVE]
const (
	MinKeepalive     = 30
	MaxKeepalive     = 1200
	DefaultKeepalive = 120 // IoTDA's SDKs and recommendation
)

// KeepaliveAllowed reports whether a CONNECT keepalive (seconds) is within
// MinKeepalive..MaxKeepalive. [LOGIN-KEEPALIVE]
func KeepaliveAllowed(seconds int) bool {
	return seconds >= MinKeepalive && seconds <= MaxKeepalive
}

// ---- MQTT protocol versions ----

// MQTTVersion is an MQTT protocol level as the CONNECT packet carries it.
// IoTDA accepts MQTT 3.1.1 and 5; certlab's device simulator can also send
// 3.1 to test refusals.
type MQTTVersion int

// Protocol levels.
const (
	MQTT31  MQTTVersion = 3 // MQTT 3.1 ("MQIsdp")
	MQTT311 MQTTVersion = 4 // MQTT 3.1.1
	MQTT5   MQTTVersion = 5
)

// ParseMQTTVersion reads an MQTT version as people write it: "3.1.1" (or
// "311", "4", "v3.1.1", "mqttv311") and "5" (or "5.0", "v5", "mqttv5").
func ParseMQTTVersion(s string) (MQTTVersion, error) {
	switch strings.ToLower(s) {
	case "3.1.1", "311", "4", "v3.1.1", "mqttv311":
		return MQTT311, nil
	case "5", "5.0", "v5", "mqttv5":
		return MQTT5, nil
	}
	return 0, fmt.Errorf("MQTT version %q: want 3.1.1 or 5", s)
}

// String is the version as people write it: "3.1", "3.1.1" or "5"; any
// other level is "level N".
func (v MQTTVersion) String() string {
	switch v {
	case MQTT31:
		return "3.1"
	case MQTT311:
		return "3.1.1"
	case MQTT5:
		return "5"
	}
	return "level " + strconv.Itoa(int(v))
}

// ---- Outcomes ----

// Outcome is how a login attempt ended, as the platform records it and as a
// device sees it.
type Outcome string

// Login outcomes.
const (
	// OutcomeSuccess: a CONNACK 0x00 was sent (read); nothing else counts as success.
	OutcomeSuccess Outcome = "success"
	// OutcomeRefused: the server refused the device with a reason of the
	// refusal table: a TLS alert, a CONNACK code other than 0x00, or (TLS
	// 1.3) a drop before CONNACK.
	OutcomeRefused Outcome = "refused"
	// OutcomeError: the attempt failed for a reason that is not the
	// server's verdict on the device (timeout, TCP refused, protocol error).
	// Only clients record it.
	OutcomeError Outcome = "error"
)

// ---- Fingerprints (docs/iotda.md §7.1) ----

// Digests a registered fingerprint can be written in.
const (
	DigestSHA256 = "SHA-256"
	DigestSHA1   = "SHA-1"
)

// FingerprintDigest names the digest a registered fingerprint is written in,
// by its length once colons are removed: 64 hex digits are SHA-256, 40 are
// SHA-1; anything else is "". [DEV-FINGERPRINT]
func FingerprintDigest(registered string) string {
	switch len(registered) - strings.Count(registered, ":") {
	case 64:
		return DigestSHA256
	case 40:
		return DigestSHA1
	}
	return ""
}

// FingerprintMatches reports whether a registered fingerprint names the
// certificate whose SHA-256 and SHA-1 (hex) are given: compared with the
// digest its length says, case-insensitively, colons ignored. sha1Hex may be
// "" unless FingerprintDigest(registered) is DigestSHA1 (SHA-1 is computed
// only when asked for). An empty registered fingerprint matches nothing.
// [DEV-FINGERPRINT]
func FingerprintMatches(registered, sha256Hex, sha1Hex string) bool {
	var want string
	switch FingerprintDigest(registered) {
	case DigestSHA256:
		want = sha256Hex
	case DigestSHA1:
		want = sha1Hex
	default:
		return false
	}
	if strings.Contains(registered, ":") { // allocates only for the colon form
		registered = strings.ReplaceAll(registered, ":", "")
	}
	return want != "" && strings.EqualFold(registered, want)
}
