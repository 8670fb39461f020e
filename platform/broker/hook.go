package broker

// hook.go: the adapter to mochi. It hands each callback to the broker —
// CONNECT to the login (effects.go connect), disconnects to release — and
// enforces what mochi leaves to hooks: the topic ACL, the MQTT limits, the
// 3.1.1 CONNACK codes. mochi ORs authentication and ACL hooks, so this must
// stay the only hook that grants anything (never register auth.AllowHook next
// to it).

import (
	"strings"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"
)

type x509Hook struct {
	mqtt.HookBase
	b *Broker
}

func (h *x509Hook) ID() string { return "certlab-x509" }

func (h *x509Hook) Provides(b byte) bool {
	switch b {
	case mqtt.OnConnect, mqtt.OnConnectAuthenticate, mqtt.OnACLCheck, mqtt.OnDisconnect,
		mqtt.OnPacketRead, mqtt.OnPacketEncode, mqtt.OnPacketSent:
		return true
	}
	return false
}

// OnConnect hands the CONNECT to the login (Broker.connect). Returning an
// error closes the connection without a CONNACK, so refusals send theirs first.
func (h *x509Hook) OnConnect(cl *mqtt.Client, pk packets.Packet) error {
	st := stateOf(cl)
	if st == nil { // not from our listener: no certificate to check
		return packets.ErrNotAuthorized
	}
	return h.b.connect(st, cl, pk)
}

// OnConnectAuthenticate grants only what OnConnect accepted. [MQTT-3.1.4-2]
func (h *x509Hook) OnConnectAuthenticate(cl *mqtt.Client, _ packets.Packet) bool {
	st := stateOf(cl)
	return st != nil && st.accepted
}

// OnACLCheck runs on every publish, subscribe and delivery: no allocation.
func (h *x509Hook) OnACLCheck(cl *mqtt.Client, topic string, _ bool) bool {
	st := stateOf(cl)
	return st != nil && st.accepted && strings.HasPrefix(topic, st.prefix) // [ACL-OWN-TOPICS]
}

// OnDisconnect ends the device's session if it is still the current one.
func (h *x509Hook) OnDisconnect(cl *mqtt.Client, _ error, _ bool) {
	if st := stateOf(cl); st != nil {
		h.b.release(st)
	}
}

// OnPacketRead enforces the MQTT limits mochi cannot express. [MQTT-LIMITS]
func (h *x509Hook) OnPacketRead(cl *mqtt.Client, pk packets.Packet) (packets.Packet, error) {
	switch pk.FixedHeader.Type {
	case packets.Connect:
		if st := stateOf(cl); st != nil {
			st.version = pk.ProtocolVersion   // for the record, should mochi refuse the CONNECT
			st.badLevel = !supportedLevel(pk) // answered in OnPacketEncode
		}
		// Wills are refused in OnConnect with our code. Neutralise the parts
		// mochi's validateConnect would reject first, with a v5-only code
		// (0x9A/0x9B) even to 3.1.1 clients and unseen by our hook.
		if pk.Connect.WillFlag {
			pk.Connect.WillQos, pk.Connect.WillRetain = 0, false
		}
		// Sessions are never persistent. mochi would keep a 3.1.1 session
		// with CleanSession 0 in its client table after the connection ends,
		// under a per-connection ID nobody reuses (admit), until its expiry
		// sweep. (Clean also lets an empty ClientId reach the login, which
		// refuses it as clientid_format with 0x02, as [MQTT-3.1.3-8] asks.)
		pk.Connect.Clean = true
	case packets.Publish:
		switch {
		case pk.FixedHeader.Qos > 1:
			h.b.endForLimit(cl, packets.ErrQosNotSupported) // [MQTT-3.2.2-11]
			return pk, packets.ErrRejectPacket
		case pk.FixedHeader.Retain:
			h.b.endForLimit(cl, packets.ErrRetainNotSupported) // [MQTT-3.3.1-8]
			return pk, packets.ErrRejectPacket
		case len(pk.Payload) > MaxPayload:
			// MaxPacketSize leaves room for the topic and properties, so
			// the payload limit itself is checked here.
			h.b.endForLimit(cl, packets.ErrPacketTooLarge)
			return pk, packets.ErrRejectPacket
		}
	}
	return pk, nil
}

// v3Connack maps MQTT 5 CONNACK codes to 3.1.1 return codes.
var v3Connack = map[byte]byte{
	0x84: 0x01, // unsupported protocol version
	0x85: 0x02, // client identifier not valid -> identifier rejected
	0x86: 0x04, // bad user name or password
	0x87: 0x05, // not authorized
	0x8A: 0x05, // banned -> not authorized
	0x8C: 0x05, // bad authentication method -> not authorized
	0x88: 0x03, // server unavailable
	0x89: 0x03, // server busy -> server unavailable
	0x9F: 0x03, // connection rate exceeded -> server unavailable
}

// OnPacketEncode fixes packets on their way out, before mochi encodes and
// writes them:
//   - a 3.1.1 client never gets a v5-only CONNACK code (mochi sends some
//     pre-hook refusals raw: docs/libraries.md A1.4), and an unsupported
//     protocol level gets 0x01 in 3.1.1's format [MQTT-3.1.2-2];
//   - an MQTT 5 success CONNACK announces the limits mochi does not [MQTT-LIMITS];
//   - a DISCONNECT waits for the connection's CONNACK [MQTT-3.2.0-1], and a
//     3.1.1 client gets none at all: 3.1.1 has no server DISCONNECT.
//
// To send nothing, the packet's type is made Reserved: mochi's WritePacket
// then fails with ErrNoValidPacketAvailable before it writes a byte (its
// encode switch has no case for it), so crypto/tls seals no record; mochi
// then closes the connection, and the close_notify is the next record the
// peer reads.
func (h *x509Hook) OnPacketEncode(cl *mqtt.Client, pk packets.Packet) packets.Packet {
	switch pk.FixedHeader.Type {
	case packets.Connack:
		return h.encodeConnack(cl, pk)
	case packets.Disconnect:
		if st := stateOf(cl); st != nil {
			st.awaitConnack(kickWriteTimeout)
		}
		if pk.ProtocolVersion != 5 {
			pk.FixedHeader.Type = packets.Reserved
		}
	}
	return pk
}

func (h *x509Hook) encodeConnack(cl *mqtt.Client, pk packets.Packet) packets.Packet {
	st := stateOf(cl)
	switch {
	case st != nil && st.badLevel && pk.ReasonCode != 0:
		// [MQTT-3.1.2-2] mochi answers 0x82 (protocol error), in the format
		// of a level it does not speak. An MQTT 5 client gets 0x84; any other
		// level gets 3.1.1's "unacceptable protocol level", in 3.1.1's format.
		if pk.ProtocolVersion == 5 {
			pk.ReasonCode = packets.ErrUnsupportedProtocolVersion.Code
		} else {
			pk.ProtocolVersion, pk.ReasonCode = 4, packets.Err3UnsupportedProtocolVersion.Code
		}
	case pk.ProtocolVersion != 5 && pk.ReasonCode > 0x05:
		if c, ok := v3Connack[pk.ReasonCode]; ok {
			pk.ReasonCode = c
		} else {
			// No 3.1.1 equivalent (protocol errors): 3.1.1 says close without
			// a CONNACK. Reserved: nothing is written (see OnPacketEncode).
			pk.FixedHeader.Type = packets.Reserved
			return pk
		}
	case pk.ProtocolVersion == 5 && pk.ReasonCode == 0:
		pk.Properties.RetainAvailable, pk.Properties.RetainAvailableFlag = 0, true
		pk.Properties.MaximumPacketSize = MaxPacketSize
	}
	if st != nil {
		st.connack = int(pk.ReasonCode)
	}
	return pk
}

// OnPacketSent notes that the CONNACK is out: a DISCONNECT may follow it.
func (h *x509Hook) OnPacketSent(cl *mqtt.Client, pk packets.Packet, _ []byte) {
	if pk.FixedHeader.Type == packets.Connack {
		if st := stateOf(cl); st != nil {
			st.connackDone()
		}
	}
}

// supportedLevel reports whether the CONNECT's protocol name and level are
// ones mochi speaks: MQTT 3.1 ("MQIsdp", 3), 3.1.1 ("MQTT", 4) and 5
// ("MQTT", 5). An unknown name is not a level problem: mochi closes the
// connection, as [MQTT-3.1.2-1] allows.
func supportedLevel(pk packets.Packet) bool {
	switch string(pk.Connect.ProtocolName) {
	case "MQTT":
		return pk.ProtocolVersion == 4 || pk.ProtocolVersion == 5
	case "MQIsdp":
		return pk.ProtocolVersion == 3
	}
	return true
}
