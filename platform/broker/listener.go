package broker

// listener.go: the mutual-TLS listener. mochi's own TCP listener runs the
// TLS handshake lazily inside its first read, with no deadline before
// CONNECT, and its Close waits forever for silent peers (docs/libraries.md A1.7).
// This one accepts, handshakes under a deadline, and only then hands mochi a
// connection whose CONNECT must still arrive before the same deadline.

import (
	"context"
	"crypto/tls"
	"errors"
	"log/slog"
	"net"
	"sync"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/listeners"
)

// mqttConn is the net.Conn mochi sees: the TLS connection plus what the
// handshake and the login learnt about it. Hooks reach the state through
// cl.Net.Conn.
type mqttConn struct {
	*tls.Conn
	st *connState
}

// stateOf returns the per-connection state of a client of our listener, or
// nil (the inline client, or a listener we did not create).
func stateOf(cl *mqtt.Client) *connState {
	if c, ok := cl.Net.Conn.(*mqttConn); ok {
		return c.st
	}
	return nil
}

type listener struct {
	id        string
	addr      string
	b         *Broker
	clientsWg *sync.WaitGroup // mochi's Listeners.ClientsWg (see enter)
	guard     *acceptGuard    // accept failures and the connection limit (accept.go)
	gate      *handshakeGate  // the bound on TLS handshakes in flight (admission.go)

	mu     sync.Mutex
	ln     net.Listener
	closed bool
	conns  map[*connState]struct{} // every open connection, whatever its stage
	wg     sync.WaitGroup          // one per accepted connection
}

var _ listeners.Listener = (*listener)(nil)

// ID returns the listener ID.
func (l *listener) ID() string { return l.id }

// Protocol names the listener's protocol.
func (l *listener) Protocol() string { return "mqtts" }

// Address returns the bound address once listening, else the configured one.
func (l *listener) Address() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.ln != nil {
		return l.ln.Addr().String()
	}
	return l.addr
}

// listen opens the TCP socket; Broker.start calls it before handing the
// listener to mochi, with the caller's context.
//
// TCP keep-alive probes are off: every connection already has a read
// deadline (ConnectTimeout until the login, then mochi's 1.5 x the MQTT
// keepalive, which [LOGIN-KEEPALIVE] bounds to iotda.MaxKeepalive), so a dead peer is
// dropped without them, and enabling them costs four setsockopt calls per
// accepted connection on the login hot path.
func (l *listener) listen(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, listenTimeout)
	defer cancel()
	lc := net.ListenConfig{KeepAlive: -1}
	ln, err := lc.Listen(ctx, "tcp", l.addr)
	if err != nil {
		return err
	}
	l.mu.Lock()
	l.ln = ln
	l.mu.Unlock()
	return nil
}

// Init is called by mochi's AddListener, after listen opened the socket.
func (l *listener) Init(*slog.Logger) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.ln == nil {
		return errors.New("mqtts listener: not listening")
	}
	return nil
}

// Serve accepts until Close; each connection is handled on its own goroutine.
func (l *listener) Serve(establish listeners.EstablishFn) {
	var backoff time.Duration
	for {
		raw, err := l.ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			// Resource exhaustion (EMFILE...): say so, back off like net/http does.
			l.guard.acceptFailed(err, l.Address())
			backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
			time.Sleep(backoff)
			continue
		}
		backoff = 0
		st := newConnState(raw)
		if !l.admit(st) { // [server_busy] the admission step, before any TLS work (admission.go)
			continue
		}
		if !l.track(st) {
			_ = raw.Close()
			return
		}
		go l.handle(st, establish)
	}
}

func (l *listener) track(st *connState) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return false
	}
	l.conns[st] = struct{}{}
	l.wg.Add(1)
	return true
}

func (l *listener) untrack(st *connState) {
	l.mu.Lock()
	delete(l.conns, st)
	l.mu.Unlock()
	l.wg.Done()
}

func (l *listener) isClosed() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.closed
}

// enter registers a connection with mochi's client WaitGroup before mochi
// does, under the same lock that Close takes, so that no Add from the zero
// count can race with the Wait in mochi's Listeners.CloseAll.
func (l *listener) enter() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return false
	}
	l.clientsWg.Add(1)
	return true
}

// handle runs one connection: handshake under the deadline, then mochi.
func (l *listener) handle(st *connState, establish listeners.EstablishFn) {
	defer l.untrack(st)
	b := l.b
	timeout := b.cfg.ConnectTimeout
	// One deadline for the handshake and the CONNECT packet; mochi replaces
	// it with 1.5 x keepalive right after OnConnect accepts the login.
	_ = st.raw.SetDeadline(st.acceptedAt.Add(timeout))

	cfg := b.base.Clone() // shallow; shares certificates and ticket keys
	cfg.VerifyConnection = func(cs tls.ConnectionState) error { return b.verifyConnection(st, cs) }
	cfg.GetConfigForClient = func(hello *tls.ClientHelloInfo) (*tls.Config, error) {
		return nil, l.takeHandshakeSlot(st, hello) // [server_busy] (admission.go)
	}
	if b.cfg.SendCAList {
		cfg.ClientCAs = b.dir.Trust().Verified
	}
	tc := tls.Server(st.raw, cfg)
	// The deadline bounds the handshake, and Close cuts the raw socket of
	// every connection, so no context is needed: with a cancellable one,
	// crypto/tls would start a goroutine per handshake to watch it.
	start := time.Now()
	err := tc.Handshake()
	l.gate.release(st.admission)
	st.admission = ticketNone
	st.handshake = time.Since(start)
	st.handshakeDone = time.Now()
	cs := tc.ConnectionState()
	st.tlsVersion, st.cipher, st.sni, st.resumed = cs.Version, cs.CipherSuite, cs.ServerName, cs.DidResume
	if err == nil || st.verifyRan { // not silent peers and scanners timing out
		b.metrics.tlsSeconds.Observe(st.handshake.Seconds())
	}
	if err != nil {
		_ = st.raw.Close()
		if !l.isClosed() && !st.recorded { // a shutdown is not a failed login; a busy refusal is recorded already
			b.tlsRefused(st, err)
		}
		return
	}

	st.conn = &mqttConn{Conn: tc, st: st}
	if !l.enter() {
		_ = tc.Close()
		return
	}
	err = establish(l.id, st.conn) // returns when the session ends
	st.connackDone()               // if no CONNACK was written, none will be
	l.clientsWg.Done()
	b.release(st)
	if !st.recorded && !l.isClosed() {
		b.connectFailed(st, err) // ended before our OnConnect ran
	}
}

// Close stops accepting and closes every connection. mochi calls it from
// Server.Close before waiting for its client goroutines, so nothing here
// may block on a peer: established MQTT 5 clients get a DISCONNECT for at
// most closeGrace, then every socket is cut.
func (l *listener) Close(closeClients listeners.CloseFn) {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return
	}
	l.closed = true
	conns := make([]*connState, 0, len(l.conns))
	for st := range l.conns {
		conns = append(conns, st)
	}
	ln := l.ln
	l.mu.Unlock()

	if ln != nil {
		_ = ln.Close()
	}
	l.guard.close()
	l.gate.close()
	cut := func() {
		for _, st := range conns {
			_ = st.raw.Close()
		}
	}
	t := time.AfterFunc(closeGrace, cut) // unblocks a DISCONNECT write to a peer that does not read
	closeClients(l.id)
	t.Stop()
	cut()
}
