package device

// MQTT 5 session on eclipse/paho.golang's paho.Client (docs/libraries.md A2).

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/eclipse/paho.golang/packets"
	"github.com/eclipse/paho.golang/paho"
	"github.com/eclipse/paho.golang/paho/log"

	"github.com/certlab/certlab/iotda"
)

// maxRetainedWriteBuf is the largest coalescing buffer a session keeps
// between packets; a bigger one (a large PUBLISH) is dropped after use.
const maxRetainedWriteBuf = 1 << 10

// coalescingConn is the net.Conn handed to paho. paho writes a packet as
// several Write calls (fixed header, variable header, payload ...) between
// Lock and Unlock of the conn (packets.ControlPacket.WriteTo); on a *tls.Conn
// each Write would be its own TLS record and syscall. coalescingConn buffers
// them and flushes one Write per packet under a write deadline. It replaces
// packets.NewThreadSafeConn (it is a sync.Locker for the same reason).
//
// paho writes only through ControlPacket.WriteTo, so Write is only ever
// called between Lock and Unlock.
type coalescingConn struct {
	net.Conn
	writeTimeout time.Duration

	mu       sync.Mutex
	buf      []byte
	err      error        // first flush error; later writes fail with it
	lastSent atomic.Int64 // unix nanos of the last flushed packet (for the pinger)
}

func (c *coalescingConn) Lock() { c.mu.Lock() }

func (c *coalescingConn) Unlock() {
	if len(c.buf) > 0 && c.err == nil {
		_ = c.Conn.SetWriteDeadline(time.Now().Add(c.writeTimeout))
		if _, err := c.Conn.Write(c.buf); err != nil {
			// paho's WriteTo has already returned nil: close the conn so its
			// reader fails, and keep the cause for classification.
			c.err = err
			_ = c.Conn.Close()
		} else {
			c.lastSent.Store(time.Now().UnixNano())
		}
	}
	if cap(c.buf) > maxRetainedWriteBuf {
		c.buf = nil
	} else {
		c.buf = c.buf[:0]
	}
	c.mu.Unlock()
}

func (c *coalescingConn) Write(p []byte) (int, error) {
	if c.err != nil {
		return 0, c.err
	}
	c.buf = append(c.buf, p...)
	return len(p), nil
}

// writeErr returns the first flush error, if any.
func (c *coalescingConn) writeErr() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// pinger replaces paho's DefaultPinger, which sends a PINGREQ right after
// CONNACK (one extra packet per login for the server under test) and then
// only after a whole keepalive of silence. Like the 3.1.1 session, it pings
// after three quarters of the keepalive without a packet sent, and gives up
// when a PINGREQ is unanswered for as long [MQTT-3.1.2-20].
type pinger struct {
	conn    *coalescingConn
	pingOut atomic.Bool
	timeout func() // called before Run returns ErrKeepaliveTimeout
}

var _ paho.Pinger = (*pinger)(nil)

func (p *pinger) Run(ctx context.Context, conn net.Conn, keepAlive uint16) error {
	if keepAlive == 0 {
		return nil
	}
	period := time.Duration(keepAlive) * time.Second * 3 / 4
	t := time.NewTimer(period)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		if p.pingOut.Load() {
			p.timeout()
			return ErrKeepaliveTimeout
		}
		if idle := time.Since(time.Unix(0, p.conn.lastSent.Load())); idle < period {
			t.Reset(period - idle)
			continue
		}
		p.pingOut.Store(true)
		if _, err := packets.NewControlPacket(packets.PINGREQ).WriteTo(conn); err != nil {
			return fmt.Errorf("send PINGREQ: %w", err)
		}
		t.Reset(period)
	}
}

func (p *pinger) PacketSent()         {}
func (p *pinger) PacketReceived()     {}
func (p *pinger) PingResp()           { p.pingOut.Store(false) }
func (p *pinger) SetDebug(log.Logger) {}

// session5 adapts paho.Client to transport.
type session5 struct {
	c    *paho.Client
	conn *coalescingConn

	mu        sync.Mutex
	ended     bool
	closing   bool
	cause     error
	known     error // a cause known before paho reports the fallout (keepalive timeout)
	doneCh    chan struct{}
	closeOnce sync.Once
	closeErr  error
}

func loginV5(ctx, parent context.Context, tc *tls.Conn, cfg Config, res *Result, certAccepted bool) *Session {
	s := &session5{
		conn:   &coalescingConn{Conn: tc, writeTimeout: cfg.AckTimeout},
		doneCh: make(chan struct{}),
	}
	onMessage := cfg.OnMessage
	s.c = paho.NewClient(paho.ClientConfig{
		Conn:          s.conn,
		PacketTimeout: cfg.AckTimeout,
		PingHandler:   &pinger{conn: s.conn, timeout: func() { s.note(ErrKeepaliveTimeout) }},
		OnPublishReceived: []func(paho.PublishReceived) (bool, error){
			func(pr paho.PublishReceived) (bool, error) {
				if onMessage != nil {
					p := pr.Packet
					onMessage(Message{Topic: p.Topic, Payload: p.Payload, QoS: p.QoS, Retain: p.Retain})
				}
				return true, nil
			},
		},
		OnServerDisconnect: func(d *paho.Disconnect) {
			de := &DisconnectError{Code: d.ReasonCode}
			if d.Properties != nil {
				de.Reason = d.Properties.ReasonString
			}
			s.finish(de)
		},
		OnClientError: func(err error) {
			if werr := s.conn.writeErr(); werr != nil {
				err = fmt.Errorf("write: %w", werr)
			}
			s.finish(err)
		},
	})

	rm := cfg.ReceiveMaximum // paho sizes a channel with it: 65535 would cost ~0.5 MB (docs/libraries.md A2.5)
	cp := &paho.Connect{
		ClientID:     cfg.ClientID,
		KeepAlive:    cfg.Keepalive,
		CleanStart:   cfg.cleanStart(),
		Username:     cfg.Username,
		UsernameFlag: cfg.Username != "",
		Password:     cfg.Password,
		PasswordFlag: cfg.Password != nil,
		Properties: &paho.ConnectProperties{
			ReceiveMaximum:     &rm,
			RequestProblemInfo: true, // else the broker drops reason strings (docs/libraries.md A2.3)
		},
	}
	t := time.Now()
	ca, err := s.c.Connect(ctx, cp)
	res.Connack = time.Since(t)

	// paho returns the CONNACK even when it refuses the connection.
	if ca != nil {
		res.ConnackCode = ca.ReasonCode
		if ca.Properties != nil {
			res.ReasonString = ca.Properties.ReasonString
		}
	}
	switch {
	case ca != nil && ca.ReasonCode != 0 && (ca.ReasonCode >= 0x80 || err != nil):
		// paho has closed the connection.
		res.fail(iotda.OutcomeRefused, PhaseConnect, ConnackReason(ca.ReasonCode),
			fmt.Errorf("connect: CONNACK reason code 0x%02x %s", ca.ReasonCode, res.ReasonString))
		return nil
	case err != nil:
		if werr := s.conn.writeErr(); werr != nil {
			err = werr // the real cause (EPIPE ...), not paho's "use of closed connection"
		}
		_ = tc.Close()
		res.failAfterHandshake(parent, ctx, fmt.Errorf("connect: %w", err), certAccepted, PhaseConnect)
		return nil
	case ca == nil || ca.ReasonCode != 0:
		// 0x01..0x7F are not CONNACK codes; only 0x00 is success.
		_ = s.c.Disconnect(&paho.Disconnect{ReasonCode: 0x82}) // protocol error
		res.fail(iotda.OutcomeError, PhaseConnect, ReasonProtocol, fmt.Errorf("connect: %w: CONNACK %v", ErrProtocol, ca))
		return nil
	}
	res.Outcome = iotda.OutcomeSuccess
	return &Session{t: s, version: 5}
}

// finish records why the session ended (first cause wins) and closes Done.
// paho calls OnServerDisconnect/OnClientError only after it has shut down.
func (s *session5) finish(cause error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ended {
		return
	}
	switch {
	case s.closing:
		cause = ErrClosed
	case s.known != nil:
		cause = s.known
	}
	s.ended, s.cause = true, cause
	close(s.doneCh)
}

// note records the cause of an end that paho will report as something else:
// when the pinger gives up, paho closes the conn, and its reader's "use of
// closed network connection" may reach OnClientError first.
func (s *session5) note(cause error) {
	s.mu.Lock()
	if s.known == nil {
		s.known = cause
	}
	s.mu.Unlock()
}

func (s *session5) publish(ctx context.Context, topic string, qos byte, payload []byte) (byte, error) {
	pr, err := s.c.Publish(ctx, &paho.Publish{Topic: topic, QoS: qos, Payload: payload})
	if pr != nil && pr.ReasonCode >= 0x80 {
		return pr.ReasonCode, nil // a refusal (0x87 ...) is a result
	}
	if err != nil {
		return 0, fmt.Errorf("publish %s: %w", topic, err)
	}
	if pr == nil {
		return 0, nil
	}
	return pr.ReasonCode, nil
}

func (s *session5) subscribe(ctx context.Context, filter string, qos byte) (byte, error) {
	sa, err := s.c.Subscribe(ctx, &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: filter, QoS: qos}}})
	if sa != nil && len(sa.Reasons) > 0 {
		return sa.Reasons[0], nil // a refusal (0x80, 0x87 ...) is a result
	}
	if err == nil {
		err = fmt.Errorf("%w: SUBACK without reason codes", ErrProtocol)
	}
	return 0, fmt.Errorf("subscribe %s: %w", filter, err)
}

func (s *session5) done() <-chan struct{} { return s.doneCh }

func (s *session5) err() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cause
}

func (s *session5) close() error {
	s.closeOnce.Do(func() {
		s.mu.Lock()
		ended := s.ended
		s.closing = true
		s.mu.Unlock()
		if ended {
			return
		}
		// Normal disconnection [MQTT-3.14.2-1]; paho closes the conn and
		// waits for its goroutines.
		err := s.c.Disconnect(&paho.Disconnect{ReasonCode: 0})
		if werr := s.conn.writeErr(); werr != nil {
			err = werr
		}
		if err != nil && !errors.Is(err, net.ErrClosed) {
			s.closeErr = fmt.Errorf("write DISCONNECT: %w", err)
		}
		s.finish(ErrClosed)
	})
	return s.closeErr
}
