package broker

// admission.go: the bound on concurrent TLS handshakes. [server_busy]
//
// A mutual-TLS handshake costs the server a signature, the client chain's
// verification and a key exchange (≈250 µs of CPU, docs/performance.md). When more
// devices log in at once than the platform can serve — a reconnect storm, a
// handshake flood — taking them all only stretches every handshake until the
// deadlines expire and the work is wasted. So:
//
//   - At most MaxHandshakes connections are in their handshake at once. A
//     connection takes its slot when its ClientHello has arrived (in
//     tls.Config.GetConfigForClient, before any public-key work), so silent
//     peers hold no slot: the connect deadline and the connection limit bound
//     those.
//   - Up to HandshakeQueue more wait for a slot, first come first served, for
//     at most HandshakeQueueWait (and never past the connect deadline).
//   - Beyond that a connection is refused with server_busy by closing it
//     with a TCP reset, before the server sends a single TLS byte: at accept,
//     when slots and queue are already full (no goroutine, no read), or when
//     its ClientHello finds them full or its wait runs out. A client sees its
//     connection reset (or closed) before any ServerHello; certlab's load
//     generator reports that as closed_before_tls. It is the cheapest refusal
//     there is: no CONNACK can be sent before a handshake, and a TLS alert
//     would say nothing more ("internal error").
//
// Every refusal is a login attempt with reason server_busy (attempt log,
// certlab_platform_logins_total{reason="server_busy"}) and is counted in
// certlab_platform_handshakes_refused_total{at}; a WARN line says so at most
// once per busyWarnInterval, with the count since the last one.
//
// The admission step at accept is listener.admit: the connection limit
// (accept.go, --max-conns) first, then this bound.

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/certlab/certlab/iotda"
)

// Defaults of the handshake bound.
const (
	// HandshakesPerProc is the default bound per GOMAXPROCS: enough to keep
	// every core busy while handshakes wait on their peers' round trips,
	// few enough that a storm cannot stretch them towards the deadline.
	HandshakesPerProc = 32
	// DefaultHandshakeQueueWait is how long a connection may wait for a
	// handshake slot by default.
	DefaultHandshakeQueueWait = time.Second
	busyWarnInterval          = 10 * time.Second
)

// DefaultMaxHandshakes is the default bound on TLS handshakes in flight:
// HandshakesPerProc per GOMAXPROCS.
func DefaultMaxHandshakes() int { return HandshakesPerProc * runtime.GOMAXPROCS(0) }

// Where a connection was refused (the closed label set of
// certlab_platform_handshakes_refused_total{at}).
const (
	refusedAtAccept      = "accept"       // slots and queue were full when it was accepted
	refusedAtClientHello = "client_hello" // its ClientHello found slots and queue full
	refusedAtQueue       = "queue"        // it waited for a slot longer than the queue allows
)

// admissionTicket is what a connection holds of the handshake bound.
type admissionTicket uint8

const (
	ticketNone admissionTicket = iota
	ticketSlot                 // holds a handshake slot: release after the handshake
)

// handshakeGate bounds concurrent TLS handshakes. With max <= 0 it only
// counts them.
type handshakeGate struct {
	max      int           // 0: unbounded
	slots    chan struct{} // nil when unbounded
	queueMax int64
	wait     time.Duration
	inFlight atomic.Int64
	queued   atomic.Int64
	closing  chan struct{}
	stop     sync.Once

	refused  map[string]prometheus.Counter // certlab_platform_handshakes_refused_total{at}
	lastWarn atomic.Int64                  // unix nanos of the last WARN line
	held     atomic.Int64                  // refusals since the last WARN line
}

// newHandshakeGate builds the gate of cfg (withDefaults applied) and
// registers its metrics.
func newHandshakeGate(cfg Config) (*handshakeGate, error) {
	g := &handshakeGate{wait: cfg.HandshakeQueueWait, closing: make(chan struct{}), refused: map[string]prometheus.Counter{}}
	if cfg.MaxHandshakes > 0 {
		g.max = cfg.MaxHandshakes
		g.slots = make(chan struct{}, cfg.MaxHandshakes)
		g.queueMax = int64(max(cfg.HandshakeQueue, 0))
	}
	const ns, sub = "certlab", "platform"
	inFlight := prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: ns, Subsystem: sub, Name: "tls_handshakes_in_flight",
		Help: "MQTTS TLS handshakes under way (ClientHello received, handshake not finished)."},
		func() float64 { return float64(g.inFlight.Load()) })
	queued := prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: ns, Subsystem: sub, Name: "tls_handshake_queue",
		Help: "MQTTS connections waiting for a TLS handshake slot (--max-handshakes)."},
		func() float64 { return float64(g.queued.Load()) })
	limit := prometheus.NewGauge(prometheus.GaugeOpts{Namespace: ns, Subsystem: sub, Name: "max_tls_handshakes",
		Help: "The bound on concurrent MQTTS TLS handshakes (--max-handshakes); 0 = unbounded."})
	limit.Set(float64(g.max))
	refused := prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "handshakes_refused_total",
		Help: "MQTTS connections closed before their TLS handshake because the handshake bound and its queue were full (server_busy), by where: accept, client_hello, queue."},
		[]string{"at"})
	for _, c := range []prometheus.Collector{inFlight, queued, limit, refused} {
		if err := cfg.Registerer.Register(c); err != nil {
			return nil, fmt.Errorf("register admission metrics: %w", err)
		}
	}
	for _, at := range []string{refusedAtAccept, refusedAtClientHello, refusedAtQueue} {
		g.refused[at] = refused.WithLabelValues(at)
	}
	return g, nil
}

// full reports whether every slot is taken and the queue is full: a new
// connection would be refused when its ClientHello arrives, so it is refused
// at accept instead.
func (g *handshakeGate) full() bool {
	return g.slots != nil && len(g.slots) == cap(g.slots) && g.queued.Load() >= g.queueMax
}

// acquire takes a handshake slot for a connection whose ClientHello has
// arrived, waiting in the queue when there is room in it. It returns where
// it was refused ("" when it holds a slot).
func (g *handshakeGate) acquire(ctx context.Context) (admissionTicket, string) {
	if g.slots == nil {
		g.inFlight.Add(1)
		return ticketSlot, ""
	}
	select {
	case g.slots <- struct{}{}:
		g.inFlight.Add(1)
		return ticketSlot, ""
	default:
	}
	if g.queued.Add(1) > g.queueMax {
		g.queued.Add(-1)
		return ticketNone, refusedAtClientHello
	}
	defer g.queued.Add(-1)
	t := time.NewTimer(g.wait)
	defer t.Stop()
	// Senders blocked on a full channel are served in arrival order: the
	// queue is first come, first served.
	select {
	case g.slots <- struct{}{}:
		g.inFlight.Add(1)
		return ticketSlot, ""
	case <-t.C:
	case <-ctx.Done():
	case <-g.closing:
	}
	return ticketNone, refusedAtQueue
}

// release gives a slot back once the handshake has ended.
func (g *handshakeGate) release(t admissionTicket) {
	if t != ticketSlot {
		return
	}
	g.inFlight.Add(-1)
	if g.slots != nil {
		<-g.slots
	}
}

// close ends every wait in the queue (the listener is closing).
func (g *handshakeGate) close() { g.stop.Do(func() { close(g.closing) }) }

// admit is the admission step at accept, before any TLS work: it refuses
// (closes and counts) a connection the platform cannot take now — beyond
// the connection limit (accept.go) or with every handshake slot and the
// queue taken — and reports whether the connection may go on.
func (l *listener) admit(st *connState) bool {
	if open := l.openConns(); l.guard.full(open) { // [server_busy] --max-conns
		l.guard.refuse(l.b, st.raw, open)
		return false
	}
	if l.gate.full() { // [server_busy] --max-handshakes
		l.b.refuseBusy(st, refusedAtAccept)
		return false
	}
	return true
}

// errBusy ends a handshake refused by the handshake bound.
var errBusy = fmt.Errorf("refused before the TLS handshake: %s", iotda.ReasonServerBusy)

// takeHandshakeSlot is tls.Config.GetConfigForClient for one connection: it
// runs when the ClientHello has arrived, before any public-key work, and
// holds the handshake until a slot is free. A refused connection is closed
// and recorded here, so the peer gets no TLS byte; the handshake then fails
// with errBusy.
func (l *listener) takeHandshakeSlot(st *connState, hello *tls.ClientHelloInfo) error {
	t, at := l.gate.acquire(hello.Context())
	st.admission = t
	if at == "" {
		return nil
	}
	if l.isClosed() {
		return errBusy // a shutdown is not a refused login
	}
	st.sni = hello.ServerName
	l.b.refuseBusy(st, at)
	return errBusy
}

// refuseBusy closes a connection refused by the handshake bound, counts it
// and records it (without the per-refusal log line: a storm would flood the
// log; count logs a summary).
func (b *Broker) refuseBusy(st *connState, at string) {
	// Counted before the reset: whoever sees the connection end sees it counted.
	b.ln.gate.count(b, at)
	b.record(st, iotda.ReasonServerBusy, b.ln.gate.detail(at))
	resetClose(st.raw)
}

// count counts one refusal and logs at most one WARN per busyWarnInterval.
func (g *handshakeGate) count(b *Broker, at string) {
	g.refused[at].Inc()
	g.held.Add(1)
	now := time.Now().UnixNano()
	last := g.lastWarn.Load()
	if now-last < int64(busyWarnInterval) || !g.lastWarn.CompareAndSwap(last, now) {
		return
	}
	b.log.Warn("TLS handshake bound reached: refusing new connections before the handshake (server_busy)",
		"refused", g.held.Swap(0), "max_handshakes", g.max, "queue", g.queueMax, "at", at)
}

func (g *handshakeGate) detail(at string) string {
	switch at {
	case refusedAtQueue:
		return fmt.Sprintf(detailBusyQueue, g.max, g.wait)
	default:
		return fmt.Sprintf(detailBusyHandshakes, g.max, g.queueMax)
	}
}

// resetClose closes a TCP connection with a reset: the refused peer learns
// at once, and the server keeps no TIME_WAIT socket for it.
func resetClose(c net.Conn) {
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	_ = c.Close()
}
