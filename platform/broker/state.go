package broker

// state.go: what the broker keeps per connection, from accept to the end of
// the session.

import (
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"net"
	"sync"
	"sync/atomic"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"

	"github.com/certlab/certlab/iotda"
	"github.com/certlab/certlab/platform/registry"
)

// connState is one connection on its way through the login and, once
// admitted, its session. Fields are written in stage order on the
// connection's own goroutine (accept, handshake, OnConnect); other goroutines
// read the session fields only after the session is published in
// Broker.sessions under Broker.mu.
type connState struct {
	// accept
	acceptedAt time.Time
	raw        net.Conn
	peer       string

	// handshake (VerifyConnection runs on the handshake goroutine)
	verifyRan     bool
	subject       string       // leaf subject, formatted once, for the record
	issuer        string       // leaf issuer, formatted once, for the record
	failReason    iotda.Reason // TLS-stage refusal, with its explanation
	failDetail    string
	handshake     time.Duration
	handshakeDone time.Time
	tlsVersion    uint16
	cipher        uint16
	sni           string
	resumed       bool
	conn          *mqttConn // set once the handshake succeeded

	// login: its inputs and the verdict under construction (login.go)
	login login

	// CONNECT and session: what the last verdict established
	client    *mqtt.Client
	version   byte
	deviceID  string
	projectID string
	ca        *registry.CA // the anchoring CA (ca_not_verified: the unverified one) [CA-DELETE]
	prefix    string       // iotda.TopicPrefix(deviceID) [ACL-OWN-TOPICS]
	accepted  bool

	// bookkeeping
	recorded    bool          // an attempt was recorded for this connection
	connack     int           // last CONNACK code written, -1 none
	badLevel    bool          // the CONNECT names a protocol level mochi does not speak (hook.go)
	connackOut  chan struct{} // closed once the CONNACK is written or can no longer be (see awaitConnack)
	connackOnce sync.Once
	kicked      atomic.Bool     // kick ran (a session is ended once)
	released    atomic.Bool     // the session was released (release runs once)
	admission   admissionTicket // what it holds of the handshake bound (admission.go)
}

func newConnState(raw net.Conn) *connState {
	return &connState{acceptedAt: time.Now(), raw: raw, peer: raw.RemoteAddr().String(), connack: -1, connackOut: make(chan struct{})}
}

// connackDone marks the CONNACK written (hook.go OnPacketSent), or the
// connection over before it could be (listener.go handle).
func (st *connState) connackDone() {
	st.connackOnce.Do(func() { close(st.connackOut) })
}

// awaitConnack waits, at most timeout, until the connection's CONNACK is
// written. The CONNACK is the first packet the server sends
// [MQTT-3.2.0-1]: a session admitted (and so in Broker.sessions) can be
// taken over or kicked in the microseconds before mochi writes its CONNACK,
// and its DISCONNECT (or, on 3.1.1, its TLS close) must not overtake it.
// It reports whether the CONNACK went out in time.
func (st *connState) awaitConnack(timeout time.Duration) bool {
	select {
	case <-st.connackOut:
		return true
	default:
	}
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-st.connackOut:
		return true
	case <-t.C:
		return false
	}
}

// settle keeps what a verdict established about the login, for the session
// and its records.
func (st *connState) settle(v verdict) {
	st.deviceID, st.projectID, st.ca = v.deviceID, v.projectID, v.ca
}

// leafNames caches formatted leaf subjects and issuers across connections.
var leafNames nameCache

// setLeaf computes, once per connection, the leaf's fingerprint (for the
// login) and its names (for the record).
func (st *connState) setLeaf(leaf *x509.Certificate) {
	st.login.sha256 = sha256Hex(leaf.Raw)
	st.subject = leafNames.format(leaf.RawSubject, &leaf.Subject)
	st.issuer = leafNames.format(leaf.RawIssuer, &leaf.Issuer)
}

func sha256Hex(der []byte) string {
	s := sha256.Sum256(der)
	return hex.EncodeToString(s[:])
}
