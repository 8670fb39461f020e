package device

// MQTT 3.1.1 (and 3.1) client session. References to "spec" are to
// https://docs.oasis-open.org/mqtt/mqtt/v3.1.1/os/mqtt-v3.1.1-os.html.
// Packets are encoded and decoded with mochi-mqtt's codec; this file owns
// only the session: packet ids, acks, keepalive and the read loop.

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/certlab/certlab/iotda"
)

// maxInboundPacket bounds the remaining length we accept from the server: IoTDA
// caps PUBLISH at 1 MB [MQTT-LIMITS]; the slack covers the topic and header.
const maxInboundPacket = 1<<20 + 64<<10

// alertGrace bounds the read for a TLS alert after a failed CONNECT write.
const alertGrace = 200 * time.Millisecond

// pastDeadline makes every pending I/O on a conn fail at once.
var pastDeadline = time.Unix(1, 0)

type ack3 struct {
	code byte
}

// session3 is one MQTT 3.1.1 connection. Lock order: wmu is never held while
// taking mu, and mu is never held across I/O.
type session3 struct {
	conn       net.Conn
	level      byte          // protocol level: 4 (3.1.1) or 3 (3.1)
	keepalive  time.Duration // 0 = no keepalive
	ackTimeout time.Duration
	onMessage  func(Message)

	wmu      sync.Mutex   // serialises writes; a packet is one Write (one TLS record)
	lastSent atomic.Int64 // unix nanos of the last packet written

	mu        sync.Mutex
	nextID    uint16
	pending   map[uint16]chan ack3 // QoS 1 PUBLISH and SUBSCRIBE awaiting their ack; nil until first use
	pingSent  bool                 // a PINGREQ is unanswered
	ended     bool
	cause     error
	timer     *time.Timer // keepalive
	closeOnce sync.Once
	closeErr  error

	closing bool // Close is under way: the cause is ErrClosed whatever happens

	doneCh chan struct{} // closed by the read loop when it returns
	br     byteReader    // read loop only (and the CONNACK read before it starts)
}

// byteReader reads single bytes from the connection without a bufio buffer:
// crypto/tls already buffers a decrypted record, and a held session should
// not pay for a second buffer.
type byteReader struct {
	r io.Reader
	b [1]byte
}

func (br *byteReader) ReadByte() (byte, error) {
	if _, err := io.ReadFull(br.r, br.b[:]); err != nil {
		return 0, err
	}
	return br.b[0], nil
}

// loginV3 sends CONNECT and reads CONNACK under the login's deadline (set
// on the connection by login; stop ends its cancellation). It starts a
// session only for Login: a LoginProbe login is left in a.accepted.
func (a *attempt) loginV3(ctx, parent context.Context, tc *tls.Conn, stop func() bool, cfg Config, res *Result, certAccepted, probe bool) *Session {
	level := byte(cfg.MQTTVersion)
	name := "MQTT"
	if level == 3 {
		name = "MQIsdp"
	}
	pk := packets.Packet{
		FixedHeader:     packets.FixedHeader{Type: packets.Connect},
		ProtocolVersion: level,
		Connect: packets.ConnectParams{
			ProtocolName:     []byte(name),
			Clean:            cfg.cleanStart(),
			Keepalive:        cfg.Keepalive,
			ClientIdentifier: cfg.ClientID,
			UsernameFlag:     cfg.Username != "",
			Username:         []byte(cfg.Username),
			PasswordFlag:     cfg.Password != nil, // [MQTT-3.1.2-22]: a password needs a username
			Password:         cfg.Password,
		},
	}
	var cb [256]byte // one allocation that a certificate device's CONNECT fits in
	buf := bytes.NewBuffer(cb[:0])
	dl, _ := ctx.Deadline()
	if err := pk.ConnectEncode(buf); err != nil {
		a.close(ctx, tc, dl)
		res.fail(iotda.OutcomeError, PhaseConfig, ReasonConfig, fmt.Errorf("encode CONNECT: %w", err))
		return nil
	}

	// The CONNECT is queued behind the client's last TLS 1.3 flight; both
	// leave with the read of the CONNACK (BatchConn).
	t := time.Now()
	_, err := tc.Write(buf.Bytes())
	br := byteReader{r: tc}
	var fh packets.FixedHeader
	var body []byte
	if err == nil {
		fh, body, err = readPacket(&br)
	} else if !certAccepted {
		// Under TLS 1.3 the write fails (EPIPE/ECONNRESET) when the server has
		// already rejected our certificate; its alert may still be readable.
		if rdl := time.Now().Add(alertGrace); rdl.Before(dl) {
			setReadDeadline(ctx, tc, rdl)
		}
		if _, _, rerr := readPacket(&br); rerr != nil {
			if _, ok := tlsAlert(rerr); ok {
				err = rerr
			}
		}
	}
	res.Connack = time.Since(t)
	if !stop() {
		err = context.Cause(ctx) // ctx ended while we read: the conn is unusable
	}
	if err != nil {
		a.close(ctx, tc, dl)
		res.failAfterHandshake(parent, ctx, fmt.Errorf("connect: %w", err), certAccepted, PhaseConnect)
		return nil
	}
	if fh.Type != packets.Connack {
		a.close(ctx, tc, dl)
		res.fail(iotda.OutcomeError, PhaseConnect, ReasonProtocol,
			fmt.Errorf("connect: %w: got %s instead of CONNACK", ErrProtocol, packets.PacketNames[fh.Type]))
		return nil
	}
	ack := packets.Packet{FixedHeader: fh, ProtocolVersion: level}
	if err := ack.ConnackDecode(body); err != nil || len(body) != 2 {
		a.close(ctx, tc, dl)
		res.fail(iotda.OutcomeError, PhaseConnect, ReasonProtocol, fmt.Errorf("connect: %w: CONNACK % x", ErrProtocol, body))
		return nil
	}
	res.ConnackCode = ack.ReasonCode
	if ack.ReasonCode != 0 { // only 0x00 is success [MQTT-3.2.2-5]
		a.close(ctx, tc, dl)
		res.fail(iotda.OutcomeRefused, PhaseConnect, ConnackReason(ack.ReasonCode),
			fmt.Errorf("connect: CONNACK return code 0x%02x", ack.ReasonCode))
		return nil
	}
	res.Outcome = iotda.OutcomeSuccess
	if probe {
		a.accepted = tc // LoginProbe disconnects it after timing the login
		return nil
	}
	_ = tc.SetDeadline(time.Time{})
	a.bc.Release() // session packets go out one write each

	s := &session3{
		conn:       tc,
		level:      level,
		keepalive:  time.Duration(cfg.Keepalive) * time.Second,
		ackTimeout: cfg.AckTimeout,
		onMessage:  cfg.OnMessage,
		doneCh:     make(chan struct{}),
	}
	s.br.r = tc
	s.lastSent.Store(t.UnixNano())
	if s.keepalive > 0 {
		s.mu.Lock() // the timer may fire before this assignment is visible
		s.timer = time.AfterFunc(s.pingAfter(), s.keepaliveTick)
		s.mu.Unlock()
	}
	go s.readLoop()
	return &Session{t: s, version: cfg.MQTTVersion}
}

// readPacket reads one packet from the session's connection.
func (s *session3) readPacket() (packets.FixedHeader, []byte, error) { return readPacket(&s.br) }

// readPacket reads one packet: the fixed header byte by byte, then the body
// in one allocation owned by the caller.
func readPacket(br *byteReader) (packets.FixedHeader, []byte, error) {
	var fh packets.FixedHeader
	b, err := br.ReadByte()
	if err != nil {
		return fh, nil, err
	}
	if err := fh.Decode(b); err != nil {
		return fh, nil, fmt.Errorf("%w: fixed header 0x%02x: %w", ErrProtocol, b, err)
	}
	n, _, err := packets.DecodeLength(br)
	if err != nil {
		if err == packets.ErrMalformedVariableByteInteger {
			return fh, nil, fmt.Errorf("%w: %w", ErrProtocol, err)
		}
		return fh, nil, err
	}
	if n > maxInboundPacket {
		return fh, nil, fmt.Errorf("%w: %s of %d bytes", ErrProtocol, packets.PacketNames[fh.Type], n)
	}
	fh.Remaining = n
	if n == 0 {
		return fh, nil, nil
	}
	body := make([]byte, n)
	if _, err := io.ReadFull(br.r, body); err != nil {
		return fh, nil, err
	}
	return fh, body, nil
}

func (s *session3) readLoop() {
	defer close(s.doneCh)
	for {
		fh, body, err := s.readPacket()
		if err != nil {
			s.end(fmt.Errorf("read: %w", err))
			return
		}
		if err := s.handle(fh, body); err != nil {
			s.end(err)
			return
		}
	}
}

func (s *session3) handle(fh packets.FixedHeader, body []byte) error {
	pk := packets.Packet{FixedHeader: fh, ProtocolVersion: s.level}
	switch fh.Type {
	case packets.Puback:
		if err := pk.PubackDecode(body); err != nil {
			return fmt.Errorf("%w: PUBACK: %w", ErrProtocol, err)
		}
		s.deliver(pk.PacketID, ack3{})
	case packets.Suback:
		if err := pk.SubackDecode(body); err != nil || len(pk.ReasonCodes) == 0 {
			return fmt.Errorf("%w: SUBACK % x", ErrProtocol, body)
		}
		s.deliver(pk.PacketID, ack3{code: pk.ReasonCodes[0]})
	case packets.Pingresp:
		s.mu.Lock()
		s.pingSent = false
		s.mu.Unlock()
	case packets.Publish:
		if fh.Qos > 1 {
			return fmt.Errorf("%w: inbound QoS 2 PUBLISH (never subscribed at QoS 2)", ErrProtocol)
		}
		if err := pk.PublishDecode(body); err != nil {
			return fmt.Errorf("%w: PUBLISH: %w", ErrProtocol, err)
		}
		if s.onMessage != nil {
			s.onMessage(Message{Topic: pk.TopicName, Payload: pk.Payload, QoS: fh.Qos, Retain: fh.Retain, Duplicate: fh.Dup})
		}
		if fh.Qos == 1 {
			out := packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Puback}, PacketID: pk.PacketID, ProtocolVersion: s.level}
			var buf bytes.Buffer
			_ = out.PubackEncode(&buf)
			if err := s.write(time.Now().Add(s.ackTimeout), buf.Bytes()); err != nil {
				return fmt.Errorf("write PUBACK: %w", err)
			}
		}
	case packets.Disconnect:
		// Not in 3.1.1 from a server, but mochi sends one before closing.
		return &DisconnectError{}
	default:
		return fmt.Errorf("%w: unexpected %s", ErrProtocol, packets.PacketNames[fh.Type])
	}
	return nil
}

// register allocates a packet id with a channel for its ack.
func (s *session3) register() (uint16, chan ack3, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ended {
		return 0, nil, s.cause
	}
	if s.pending == nil {
		s.pending = make(map[uint16]chan ack3, 1)
	}
	if len(s.pending) >= 1<<16-1 {
		return 0, nil, fmt.Errorf("no free packet id")
	}
	for {
		s.nextID++
		if s.nextID != 0 && s.pending[s.nextID] == nil { // [MQTT-2.3.1-1]
			break
		}
	}
	ch := make(chan ack3, 1)
	s.pending[s.nextID] = ch
	return s.nextID, ch, nil
}

func (s *session3) unregister(id uint16) {
	s.mu.Lock()
	delete(s.pending, id)
	if len(s.pending) == 0 {
		s.pending = nil // a held, idle session keeps no map
	}
	s.mu.Unlock()
}

func (s *session3) deliver(id uint16, a ack3) {
	s.mu.Lock()
	ch := s.pending[id]
	s.mu.Unlock()
	if ch != nil {
		select {
		case ch <- a:
		default: // duplicate ack
		}
	}
}

// write sends one encoded packet under the write lock and a deadline. Any
// write error ends the session: a partial TLS record leaves the stream unusable.
func (s *session3) write(deadline time.Time, b []byte) error {
	s.wmu.Lock()
	_ = s.conn.SetWriteDeadline(deadline)
	_, err := s.conn.Write(b)
	if err == nil {
		s.lastSent.Store(time.Now().UnixNano())
	}
	s.wmu.Unlock()
	if err != nil {
		s.end(fmt.Errorf("write: %w", err))
	}
	return err
}

func (s *session3) opDeadline(ctx context.Context) time.Time {
	dl := time.Now().Add(s.ackTimeout)
	if cd, ok := ctx.Deadline(); ok && cd.Before(dl) {
		dl = cd
	}
	return dl
}

func (s *session3) publish(ctx context.Context, topic string, qos byte, payload []byte) (byte, error) {
	pk := packets.Packet{
		FixedHeader:     packets.FixedHeader{Type: packets.Publish, Qos: qos},
		TopicName:       topic,
		Payload:         payload,
		ProtocolVersion: s.level,
	}
	var ch chan ack3
	if qos == 1 {
		id, c, err := s.register()
		if err != nil {
			return 0, fmt.Errorf("publish %s: %w", topic, err)
		}
		defer s.unregister(id)
		pk.PacketID, ch = id, c
	}
	var buf bytes.Buffer
	if err := pk.PublishEncode(&buf); err != nil {
		return 0, fmt.Errorf("publish %s: encode: %w", topic, err)
	}
	dl := s.opDeadline(ctx)
	if err := s.write(dl, buf.Bytes()); err != nil {
		return 0, fmt.Errorf("publish %s: %w", topic, err)
	}
	if qos == 0 {
		return 0, nil
	}
	a, err := s.wait(ctx, dl, ch)
	if err != nil {
		return 0, fmt.Errorf("publish %s: await PUBACK: %w", topic, err)
	}
	return a.code, nil
}

func (s *session3) subscribe(ctx context.Context, filter string, qos byte) (byte, error) {
	id, ch, err := s.register()
	if err != nil {
		return 0, fmt.Errorf("subscribe %s: %w", filter, err)
	}
	defer s.unregister(id)
	pk := packets.Packet{
		FixedHeader:     packets.FixedHeader{Type: packets.Subscribe, Qos: 1}, // [MQTT-3.8.1-1] flags 0010
		PacketID:        id,
		Filters:         packets.Subscriptions{{Filter: filter, Qos: qos}},
		ProtocolVersion: s.level,
	}
	var buf bytes.Buffer
	if err := pk.SubscribeEncode(&buf); err != nil {
		return 0, fmt.Errorf("subscribe %s: encode: %w", filter, err)
	}
	dl := s.opDeadline(ctx)
	if err := s.write(dl, buf.Bytes()); err != nil {
		return 0, fmt.Errorf("subscribe %s: %w", filter, err)
	}
	a, err := s.wait(ctx, dl, ch)
	if err != nil {
		return 0, fmt.Errorf("subscribe %s: await SUBACK: %w", filter, err)
	}
	return a.code, nil
}

func (s *session3) wait(ctx context.Context, dl time.Time, ch chan ack3) (ack3, error) {
	t := time.NewTimer(time.Until(dl))
	defer t.Stop()
	select {
	case a := <-ch:
		return a, nil
	case <-s.doneCh:
		return ack3{}, s.err()
	case <-ctx.Done():
		return ack3{}, context.Cause(ctx)
	case <-t.C:
		return ack3{}, context.DeadlineExceeded
	}
}

// pingAfter is how long the session may stay silent before it sends a
// PINGREQ: three quarters of the keepalive. The spec allows up to the whole
// keepalive [MQTT-3.1.2-23], but servers that compute 1.5 x keepalive in whole
// seconds (mochi: 1 s for a keepalive of 1) would race a PINGREQ sent at 1.0.
func (s *session3) pingAfter() time.Duration { return s.keepalive * 3 / 4 }

// keepaliveTick runs on a timer: it sends PINGREQ when nothing was sent for
// pingAfter and ends the session when the previous PINGREQ went unanswered
// for as long.
func (s *session3) keepaliveTick() {
	period := s.pingAfter()
	s.mu.Lock()
	if s.ended {
		s.mu.Unlock()
		return
	}
	if s.pingSent {
		s.mu.Unlock()
		s.end(ErrKeepaliveTimeout)
		return
	}
	idle := time.Since(time.Unix(0, s.lastSent.Load()))
	if idle < period {
		s.timer.Reset(period - idle)
		s.mu.Unlock()
		return
	}
	s.pingSent = true
	s.timer.Reset(period)
	s.mu.Unlock()
	_ = s.write(time.Now().Add(s.ackTimeout), []byte{packets.Pingreq << 4, 0})
}

// end records why the session ended (first cause wins) and closes the
// connection, which makes the read loop return and close done.
func (s *session3) end(cause error) {
	s.mu.Lock()
	if s.ended {
		s.mu.Unlock()
		return
	}
	if s.closing {
		cause = ErrClosed
	}
	s.ended, s.cause = true, cause
	if s.timer != nil {
		s.timer.Stop()
	}
	s.mu.Unlock()
	_ = s.conn.Close()
}

func (s *session3) done() <-chan struct{} { return s.doneCh }

func (s *session3) err() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cause
}

func (s *session3) close() error {
	s.closeOnce.Do(func() {
		s.mu.Lock()
		ended := s.ended
		s.closing = true
		s.mu.Unlock()
		if !ended {
			// DISCONNECT: the normal end of a 3.1.1 session [MQTT-3.14.4-1].
			if err := s.write(time.Now().Add(s.ackTimeout), []byte{packets.Disconnect << 4, 0}); err != nil {
				s.closeErr = fmt.Errorf("write DISCONNECT: %w", err)
			}
			s.end(ErrClosed)
		}
		<-s.doneCh
	})
	return s.closeErr
}
