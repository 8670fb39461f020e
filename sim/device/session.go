package device

import (
	"context"
	"errors"
	"fmt"
	"net"

	"github.com/certlab/certlab/iotda"
)

// Sentinel errors.
var (
	// ErrClosed is Session.Err after the client closed the session itself.
	ErrClosed = errors.New("session closed by client")
	// ErrKeepaliveTimeout means no PINGRESP arrived within a keepalive period
	// of our PINGREQ.
	ErrKeepaliveTimeout = errors.New("keepalive: no PINGRESP from server")
	// ErrProtocol marks an MQTT packet the client did not expect or could not decode.
	ErrProtocol = errors.New("mqtt protocol violation")
	// ErrQoS2 is returned for QoS 2, which IoTDA does not support. [MQTT-LIMITS]
	ErrQoS2 = errors.New("QoS 2 is not supported")
)

// DisconnectError is Session.Err when the server ended the session with a
// DISCONNECT packet (MQTT 5; mochi also sends a bare one to 3.1.1 clients).
// Code 0x8E is a session takeover [LOGIN-TAKEOVER], 0x98 an administrative
// action (e.g. a frozen device [DEV-FREEZE]).
type DisconnectError struct {
	Code   byte   // MQTT 5 reason code (0 for 3.1.1)
	Reason string // reason string, if the server sent one
}

func (e *DisconnectError) Error() string {
	if e.Reason != "" {
		return fmt.Sprintf("server DISCONNECT 0x%02x: %s", e.Code, e.Reason)
	}
	return fmt.Sprintf("server DISCONNECT 0x%02x", e.Code)
}

// Message is an inbound PUBLISH.
type Message struct {
	Topic     string
	Payload   []byte // owned by the receiver
	QoS       byte
	Retain    bool
	Duplicate bool
}

// transport is what each protocol version implements.
type transport interface {
	publish(ctx context.Context, topic string, qos byte, payload []byte) (byte, error)
	subscribe(ctx context.Context, filter string, qos byte) (byte, error)
	done() <-chan struct{}
	err() error
	close() error
}

// Session is a logged-in device connection. Its methods are safe for
// concurrent use.
type Session struct {
	t       transport
	version iotda.MQTTVersion
	raw     net.Conn // the TCP connection under TLS (Abort)
}

// Version is the MQTT protocol level of the session.
func (s *Session) Version() iotda.MQTTVersion { return s.version }

// Publish sends a PUBLISH. With QoS 1 it waits (at most AckTimeout, and ctx)
// for the PUBACK and returns its reason code: under MQTT 5 a denied publish is
// (0x87, nil) [ACL-OWN-TOPICS]; under 3.1.1 there is no code, and the server's
// answer to a denied QoS 1 publish is to disconnect, which returns an error.
// With QoS 0 it returns once the packet is written. QoS 2 is refused with
// ErrQoS2 [MQTT-LIMITS].
func (s *Session) Publish(ctx context.Context, topic string, qos byte, payload []byte) (reasonCode byte, err error) {
	if qos > 1 {
		return 0, fmt.Errorf("publish %s: %w", topic, ErrQoS2)
	}
	select {
	case <-s.t.done():
		return 0, fmt.Errorf("publish %s: %w", topic, s.t.err())
	default:
	}
	return s.t.publish(ctx, topic, qos, payload)
}

// Subscribe subscribes to one filter and returns the SUBACK code: the
// granted QoS (0x00, 0x01), or a refusal (0x80 under 3.1.1; 0x80 or 0x87
// under MQTT 5). A refusal is a result (nil error). [ACL-OWN-TOPICS]
func (s *Session) Subscribe(ctx context.Context, filter string, qos byte) (granted byte, err error) {
	if qos > 1 {
		return 0, fmt.Errorf("subscribe %s: %w", filter, ErrQoS2)
	}
	select {
	case <-s.t.done():
		return 0, fmt.Errorf("subscribe %s: %w", filter, s.t.err())
	default:
	}
	return s.t.subscribe(ctx, filter, qos)
}

// Done is closed when the connection has ended: server drop, takeover,
// keepalive failure or Close.
func (s *Session) Done() <-chan struct{} { return s.t.done() }

// Err says why the session ended: ErrClosed after Close, a *DisconnectError
// when the server sent DISCONNECT, ErrKeepaliveTimeout, or the read/write
// error (io.EOF when the server closed the connection). It is nil while the
// session is live.
func (s *Session) Err() error { return s.t.err() }

// Abort ends the session the way a network failure does: the TCP
// connection is reset at once, with no DISCONNECT and no TLS close_notify,
// so the server sees the connection drop. It waits until the session has
// ended (Done); Err then reports the read error. Close after Abort is a no-op.
func (s *Session) Abort() {
	if s.raw != nil {
		ResetOnClose(s.raw)
		_ = s.raw.Close()
	}
	<-s.t.done()
}

// Close sends DISCONNECT (normal disconnection), closes the connection and
// waits for the session's goroutines to end. It is idempotent; it returns
// the error of writing DISCONNECT, if any, and nil if the session had already
// ended.
func (s *Session) Close() error { return s.t.close() }
