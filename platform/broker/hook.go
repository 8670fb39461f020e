package broker

// hook.go: the mochi hook that turns a verified TLS connection into a device
// session. mochi ORs authentication and ACL hooks, so this must stay the only
// hook that grants anything (never register auth.AllowHook next to it).

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/certlab/certlab/iotda"
	"github.com/certlab/certlab/platform/registry"
)

// connackCode is the CONNACK code for a refusal, for the client's protocol
// version. mochi maps only a few v5 codes to v3 (it would send a raw 0x87 or
// 0x8A to a 3.1.1 client), so both codes come from the table. [LOGIN-*]
func connackCode(reason iotda.Reason, version byte) packets.Code {
	r, _ := iotda.RefusalFor(reason)
	if version < 5 {
		return packets.Code{Code: r.Code(iotda.MQTTVersion(version))}
	}
	return packets.Code{Code: r.Code(iotda.MQTTVersion(version)), Reason: string(reason)} // the Reason String names the refusal
}

type x509Hook struct {
	mqtt.HookBase
	b *Broker
}

func (h *x509Hook) ID() string { return "certlab-x509" }

func (h *x509Hook) Provides(b byte) bool {
	switch b {
	case mqtt.OnConnect, mqtt.OnConnectAuthenticate, mqtt.OnACLCheck, mqtt.OnDisconnect,
		mqtt.OnPacketRead, mqtt.OnPacketEncode:
		return true
	}
	return false
}

// OnConnect runs the CONNECT checks. Returning an error closes the
// connection without a CONNACK, so refusals send theirs first.
func (h *x509Hook) OnConnect(cl *mqtt.Client, pk packets.Packet) error {
	st := stateOf(cl)
	if st == nil { // not from our listener: no certificate to check
		return packets.ErrNotAuthorized
	}
	return h.b.login(st, cl, pk)
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
		// Wills are refused in OnConnect with our code. Neutralise the parts
		// mochi's validateConnect would reject first, with a v5-only code
		// (0x9A/0x9B) even to 3.1.1 clients and unseen by our hook.
		if pk.Connect.WillFlag {
			pk.Connect.WillQos, pk.Connect.WillRetain = 0, false
		}
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

// OnPacketEncode fixes CONNACKs on their way out: a 3.1.1 client never gets
// a v5-only code (mochi sends some pre-hook refusals raw: libraries.md A1.4);
// an MQTT 5 success CONNACK announces the limits mochi does not. [MQTT-LIMITS]
func (h *x509Hook) OnPacketEncode(cl *mqtt.Client, pk packets.Packet) packets.Packet {
	if pk.FixedHeader.Type != packets.Connack {
		return pk
	}
	st := stateOf(cl)
	if pk.ProtocolVersion < 5 && pk.ReasonCode > 0x05 {
		if c, ok := v3Connack[pk.ReasonCode]; ok {
			pk.ReasonCode = c
		} else {
			// No 3.1.1 equivalent (protocol errors): 3.1.1 says close without
			// a CONNACK. An unknown packet type makes mochi's WritePacket
			// fail without writing, and mochi then closes the connection.
			pk.FixedHeader.Type = packets.Reserved
			return pk
		}
	}
	if pk.ProtocolVersion == 5 && pk.ReasonCode == 0 {
		pk.Properties.RetainAvailable, pk.Properties.RetainAvailableFlag = 0, true
		pk.Properties.MaximumPacketSize = MaxPacketSize
	}
	if st != nil {
		st.connack = int(pk.ReasonCode)
	}
	return pk
}

// login applies the CONNECT checks in the order of the login-refusal table
// and accepts or refuses the connection.
func (b *Broker) login(st *connState, cl *mqtt.Client, pk packets.Packet) error {
	st.client = cl
	st.version = cl.Properties.ProtocolVersion
	st.clientID = pk.Connect.ClientIdentifier
	st.username = string(pk.Connect.Username)
	st.keepalive = pk.Connect.Keepalive

	reason, detail := b.check(st, cl)
	if reason != iotda.ReasonOK {
		return b.refuseConnect(st, reason, detail)
	}
	return b.admit(st)
}

// refuseConnect sends the refusal's CONNACK and records it. A TLS-stage
// reason found at CONNECT (the CA was deleted during the login) has no
// CONNACK code: the connection is just closed.
func (b *Broker) refuseConnect(st *connState, reason iotda.Reason, detail string) error {
	if reason.Stage() == iotda.StageTLS {
		b.refused(st, reason, detail)
		return packets.ErrNotAuthorized
	}
	code := connackCode(reason, st.version)
	_ = b.srv.SendConnack(st.client, code, false, nil) // best effort: the peer may be gone
	b.refused(st, reason, detail)
	return code
}

// check returns ReasonOK or the first refusal, with a human explanation.
func (b *Broker) check(st *connState, cl *mqtt.Client) (iotda.Reason, string) {
	// Until the device is known, attribute the attempt to the project of the
	// CA that anchors the certificate, so refusals that come before the
	// device lookup are visible to that project's users in the login log.
	if len(st.anchors) > 0 && st.anchors[0].ca != nil {
		st.projectID = st.anchors[0].ca.ProjectID
	}
	id, err := iotda.ParseClientID(st.clientID) // [LOGIN-CLIENTID]
	if err != nil {
		return iotda.ReasonClientIDFormat, fmt.Sprintf(detailClientIDFormat, st.clientID, err)
	}
	st.deviceID = id.DeviceID
	if !iotda.KeepaliveAllowed(int(st.keepalive)) { // [LOGIN-KEEPALIVE]
		return iotda.ReasonKeepaliveRange, fmt.Sprintf(detailKeepalive, st.keepalive, iotda.MinKeepalive, iotda.MaxKeepalive)
	}
	if cl.Properties.Will.Flag != 0 { // [MQTT-LIMITS]
		return iotda.ReasonWillNotSupported, detailWill
	}
	dev, ok := b.dir.LookupDevice(id.DeviceID)
	if !ok {
		return iotda.ReasonDeviceNotFound, fmt.Sprintf(detailDeviceNotFound, id.DeviceID)
	}
	st.projectID = dev.ProjectID
	if st.username != id.DeviceID { // [LOGIN-USERNAME] the password is ignored
		return iotda.ReasonUsernameMismatch, fmt.Sprintf(detailUsername, st.username, id.DeviceID)
	}
	if dev.AuthType != iotda.AuthCertificates {
		return iotda.ReasonAuthTypeMismatch, fmt.Sprintf(detailAuthType, dev.ID, dev.AuthType)
	}
	trust := b.dir.Trust()
	if st.ca = projectAnchor(trust, st.anchors, dev.ProjectID); st.ca == nil { // [LOGIN-PROJECT]
		if !anchorsKnown(trust, st.anchors) { // [CA-DELETE] deleted since the handshake
			return iotda.ReasonUnknownCA, detailCADeletedDuringLogin
		}
		return iotda.ReasonWrongProject, b.wrongProjectDetail(st, dev.ID, dev.ProjectID)
	}
	prod, err := b.dir.Product(dev.ProjectID, dev.ProductID) // [PROTO-MQTT-ONLY]
	if err != nil {
		return iotda.ReasonNotMQTTProduct, fmt.Sprintf(detailProductMissing, dev.ID, dev.ProductID, err)
	}
	if prod.ProtocolType != iotda.ProtocolMQTT {
		return iotda.ReasonNotMQTTProduct, fmt.Sprintf(detailNotMQTT, dev.ID, prod.ID, prod.ProtocolType)
	}
	if dev.Frozen { // [DEV-FREEZE]
		return iotda.ReasonDeviceFrozen, fmt.Sprintf(detailFrozen, dev.ID)
	}
	if reason, detail := b.checkFingerprint(st, dev.ID, dev.Fingerprint, dev.SecondaryFingerprint); reason != iotda.ReasonOK {
		return reason, detail
	}
	return iotda.ReasonOK, ""
}

// checkFingerprint compares the leaf with the registered fingerprints:
// primary, then secondary; with no primary, the first login binds it.
func (b *Broker) checkFingerprint(st *connState, deviceID, primary, secondary string) (iotda.Reason, string) {
	if fingerprintMatches(primary, st) { // [DEV-FINGERPRINT]
		return iotda.ReasonOK, ""
	}
	if fingerprintMatches(secondary, st) { // [DEV-FINGERPRINT-SECONDARY]
		return iotda.ReasonOK, ""
	}
	if primary != "" {
		return iotda.ReasonFingerprintMismatch, fmt.Sprintf(detailFingerprint, st.sha256, st.sha1Hex())
	}
	// [DEV-FINGERPRINT-BIND]
	ctx, cancel := context.WithTimeout(context.Background(), bindTimeout)
	defer cancel()
	bound, err := b.dir.BindFingerprint(ctx, deviceID, st.sha256)
	if err != nil {
		return iotda.ReasonServerBusy, fmt.Sprintf(detailBindFailed, err)
	}
	if !bound {
		return iotda.ReasonFingerprintMismatch, fmt.Sprintf(detailBindLost, st.sha256)
	}
	return iotda.ReasonOK, ""
}

// fingerprintMatches compares a registered fingerprint with the leaf's,
// computing its SHA-1 only when the registered one is SHA-1. [DEV-FINGERPRINT]
func fingerprintMatches(registered string, st *connState) bool {
	sha1 := ""
	if iotda.FingerprintDigest(registered) == iotda.DigestSHA1 {
		sha1 = st.sha1Hex()
	}
	return iotda.FingerprintMatches(registered, st.sha256, sha1)
}

// admit registers the session (taking over any previous one of the same
// device), with the server_busy check last. [LOGIN-SUCCESS] [LOGIN-TAKEOVER]
//
// Status writes happen under b.mu so that a device's ONLINE and OFFLINE
// reach the directory in session order. The anchoring CA is checked once
// more under b.mu against the current snapshot: the registry swaps the
// snapshot before HandleEvent scans the sessions (also under b.mu), so a CA
// deleted during this login either refuses it here or drops it there. [CA-DELETE]
func (b *Broker) admit(st *connState) error {
	b.mu.Lock()
	old := b.sessions[st.deviceID]
	if max := b.cfg.MaxClients; max > 0 && old == nil && len(b.sessions) >= max {
		b.mu.Unlock()
		return b.refuseConnect(st, iotda.ReasonServerBusy, fmt.Sprintf(detailBusy, max))
	}
	if projectAnchor(b.dir.Trust(), st.anchors, st.projectID) == nil {
		b.mu.Unlock()
		return b.refuseConnect(st, iotda.ReasonUnknownCA, detailCADeletedDuringLogin)
	}
	st.prefix = iotda.TopicPrefix(st.deviceID)
	st.accepted = true
	b.sessions[st.deviceID] = st
	b.setOnline(st.deviceID, true) // [DEV-STATUS]
	b.mu.Unlock()

	if old == nil {
		b.metrics.connected.Inc()
	} else {
		b.metrics.dropped[causeTakeover].Inc()
		switch {
		case old.client == nil:
		case old.client.ID != st.client.ID:
			b.kick(old, packets.ErrSessionTakenOver)
		case old.version < 5:
			// Same ClientId: mochi's inheritClientSession ends the old client
			// (and marks it taken over before it can delete the new one's
			// entry), but it would send 3.1.1 a DISCONNECT, which 3.1.1 does
			// not have: make that write fail instead.
			_ = old.raw.SetWriteDeadline(time.Unix(1, 0))
		}
	}
	b.record(st, iotda.ReasonOK, "")
	b.metrics.connectSeconds.Observe(time.Since(st.handshakeDone).Seconds())
	return nil
}

// setOnline tells the directory; call with b.mu held (see admit).
func (b *Broker) setOnline(deviceID string, online bool) {
	ctx, cancel := context.WithTimeout(context.Background(), statusTimeout)
	defer cancel()
	err := b.dir.SetOnline(ctx, deviceID, online, b.now())
	switch {
	case err == nil:
	case errors.Is(err, registry.ErrNotFound): // deleted while connected
		b.log.Debug("device status not updated: device deleted", "device_id", deviceID)
	default:
		b.log.Warn("device status update failed", "device_id", deviceID, "online", online, "error", err)
	}
}

// release ends a session once: the device goes offline only if this
// connection is still its current session. [DEV-STATUS] [LOGIN-TAKEOVER]
func (b *Broker) release(st *connState) {
	if !st.accepted || !st.released.CompareAndSwap(false, true) {
		return
	}
	b.mu.Lock()
	current := b.sessions[st.deviceID] == st
	if current {
		delete(b.sessions, st.deviceID)
		b.setOnline(st.deviceID, false)
	}
	b.mu.Unlock()
	if current {
		b.metrics.connected.Dec()
	}
}

// kick ends a live session: MQTT 5 clients get a DISCONNECT with the reason
// first (3.1.1 has no server DISCONNECT); the socket is then closed.
func (b *Broker) kick(st *connState, code packets.Code) {
	cl := st.client
	if cl == nil {
		return
	}
	if st.version == 5 {
		_ = st.raw.SetWriteDeadline(time.Now().Add(kickWriteTimeout)) // a peer that does not read cannot stall us
		_ = b.srv.DisconnectClient(cl, code)
		return
	}
	cl.Stop(code)
}

// endForLimit ends a connection that broke an MQTT limit. [MQTT-LIMITS]
func (b *Broker) endForLimit(cl *mqtt.Client, code packets.Code) {
	if cl.Properties.ProtocolVersion == 5 {
		_ = b.srv.DisconnectClient(cl, code)
		return
	}
	cl.Stop(code)
}

// connectFailed records a connection that ended before OnConnect: no CONNECT
// before the deadline, or a first packet mochi refused.
func (b *Broker) connectFailed(st *connState, err error) {
	var reason iotda.Reason
	var detail string
	switch {
	case isTimeout(err):
		reason, detail = iotda.ReasonConnectTimeout, fmt.Sprintf(detailConnectTimeout, b.cfg.ConnectTimeout)
	case err == nil || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF):
		reason, detail = iotda.ReasonMalformedConnect, detailClosedBeforeConnect
	default:
		reason, detail = iotda.ReasonMalformedConnect, fmt.Sprintf(detailMalformed, err)
	}
	b.refused(st, reason, detail)
}

func isTimeout(err error) bool {
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return true
	}
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
