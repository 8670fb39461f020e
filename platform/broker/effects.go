package broker

// effects.go: what the broker does with a login's verdict (login.go decides
// it) and with a session once it ends: refuse with the right CONNACK, bind a
// first fingerprint, admit the session (taking over an older one), release it,
// kick it, end it for breaking a limit. Every effect that changes the
// directory, the session table or the peer is here; the attempt record and
// the metrics are in attempts.go and metrics.go.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/certlab/certlab/iotda"
	"github.com/certlab/certlab/platform/registry"
)

// connect decides the CONNECT stage of the login and applies the verdict: a
// refusal gets its CONNACK and is recorded; an accepted login binds a first
// fingerprint when the verdict asks for it, then is admitted.
func (b *Broker) connect(st *connState, cl *mqtt.Client, pk packets.Packet) error {
	st.client, st.version = cl, cl.Properties.ProtocolVersion
	l := &st.login
	l.clientID, l.username, l.keepalive = pk.Connect.ClientIdentifier, string(pk.Connect.Username), pk.Connect.Keepalive
	l.will = cl.Properties.Will.Flag != 0

	v := l.decide(stageConnect)
	st.settle(v)
	if !v.ok() {
		return b.refuseConnect(st, v.reason, v.detail)
	}
	if v.bind {
		if reason, detail := b.bindFingerprint(st); reason != iotda.ReasonOK {
			return b.refuseConnect(st, reason, detail)
		}
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

// bindFingerprint records the leaf's fingerprint as the device's first one.
// It may still refuse: another certificate was bound first (a concurrent
// first login), or the directory could not write. [DEV-FINGERPRINT-BIND]
func (b *Broker) bindFingerprint(st *connState) (iotda.Reason, string) {
	ctx, cancel := context.WithTimeout(b.ctx, bindTimeout)
	defer cancel()
	bound, err := b.dir.BindFingerprint(ctx, st.deviceID, st.login.sha256)
	if err != nil {
		return iotda.ReasonServerBusy, fmt.Sprintf(detailBindFailed, err)
	}
	if !bound {
		return iotda.ReasonFingerprintMismatch, fmt.Sprintf(detailBindLost, st.login.sha256)
	}
	return iotda.ReasonOK, ""
}

// admit decides the admission stage under b.mu and publishes the session,
// taking over any previous one of the same device. [LOGIN-SUCCESS] [LOGIN-TAKEOVER]
//
// Status writes happen under b.mu so that a device's ONLINE and OFFLINE
// reach the directory in session order.
func (b *Broker) admit(st *connState) error {
	l := &st.login
	// mochi's own takeover (inheritClientSession) is keyed on the ClientId
	// and runs after this hook, outside b.mu: logins that share a ClientId
	// race it against b.sessions, and both the session mochi keeps and the one
	// b.sessions names survive. Each connection gets a mochi ID of its own, so
	// mochi never takes over; b.sessions, under b.mu, is the one session table.
	// Set before the session is published: nothing else reads it yet.
	st.client.ID = l.clientID + "#" + strconv.FormatUint(b.connSeq.Add(1), 10)

	b.mu.Lock()
	old := b.sessions[st.deviceID]
	l.sessions, l.takeover, l.maxClients = len(b.sessions), old != nil, b.cfg.MaxClients
	if v := l.decide(stageAdmission); !v.ok() {
		b.mu.Unlock()
		return b.refuseConnect(st, v.reason, v.detail)
	}
	st.prefix = iotda.TopicPrefix(st.deviceID)
	st.accepted = true
	b.sessions[st.deviceID] = st
	b.setOnline(st.deviceID, true)     // [DEV-STATUS]
	kickOld := old != nil && !b.closed // once closed, Close ends every session
	if kickOld {
		b.bg.Add(1)
	}
	b.mu.Unlock()

	if old == nil {
		b.metrics.connected.Inc()
	} else {
		b.metrics.dropped[causeTakeover].Inc()
	}
	if kickOld {
		// In the background: the old session's end waits for its own
		// CONNACK and then for its close_notify to be written, which a
		// peer that does not read can hold for seconds; this login need not.
		go func() {
			defer b.bg.Done()
			b.kick(old, packets.ErrSessionTakenOver)
		}()
	}
	b.record(st, iotda.ReasonOK, "")
	b.metrics.connectSeconds.Observe(time.Since(st.handshakeDone).Seconds())
	return nil
}

// setOnline tells the directory; call with b.mu held (see admit).
func (b *Broker) setOnline(deviceID string, online bool) {
	ctx, cancel := context.WithTimeout(b.ctx, statusTimeout)
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

// kick ends a live session once, however it ends (takeover, CA deleted,
// device frozen or deleted, fingerprint reset, a broken limit): after its
// CONNACK (awaitConnack), MQTT 5 gets a DISCONNECT with code, MQTT 3.1.1
// no packet at all (it has no server DISCONNECT: hook.go OnPacketEncode
// drops it); then mochi closes the TLS connection, which sends close_notify.
//
// Nothing here may make a TLS write fail once crypto/tls has sealed its
// record: the record's sequence number is spent, and the close_notify that
// follows would reach the peer as a record it cannot decrypt (bad record
// MAC). The write deadline below only expires on a peer that has stopped
// reading.
func (b *Broker) kick(st *connState, code packets.Code) {
	cl := st.client
	if cl == nil || !st.kicked.CompareAndSwap(false, true) {
		return
	}
	if !st.awaitConnack(kickWriteTimeout) {
		// The CONNACK write is stuck behind a peer that does not read: no
		// packet can follow it in order. Cut the socket.
		_ = st.raw.Close()
		cl.Stop(code)
		return
	}
	_ = st.raw.SetWriteDeadline(time.Now().Add(kickWriteTimeout)) // a peer that does not read cannot stall us
	_ = b.srv.DisconnectClient(cl, code)
}

// endForLimit ends a connection that broke an MQTT limit. [MQTT-LIMITS]
func (b *Broker) endForLimit(cl *mqtt.Client, code packets.Code) {
	if st := stateOf(cl); st != nil {
		b.kick(st, code)
		return
	}
	_ = b.srv.DisconnectClient(cl, code)
}

// connectFailed records a connection that ended before OnConnect: no CONNECT
// before the deadline, or a first packet mochi refused.
func (b *Broker) connectFailed(st *connState, err error) {
	var reason iotda.Reason
	var detail string
	switch {
	case isTimeout(err):
		reason, detail = iotda.ReasonConnectTimeout, fmt.Sprintf(detailConnectTimeout, b.cfg.ConnectTimeout)
	case st.badLevel:
		reason, detail = iotda.ReasonMalformedConnect, fmt.Sprintf(detailProtocolLevel, st.version)
	case err == nil || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF):
		reason, detail = iotda.ReasonMalformedConnect, detailClosedBeforeConnect
	default:
		reason, detail = iotda.ReasonMalformedConnect, fmt.Sprintf(detailMalformed, errText(err))
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
