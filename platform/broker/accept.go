package broker

// accept.go: the TCP accept stage of the MQTTS listener. Two things happen
// here before any TLS work:
//
//   - Accept failures (EMFILE, ENFILE when the process or the system is out
//     of file descriptors) are logged at WARN, at most once per
//     ratelog.DefaultInterval per cause with a count of the ones held back,
//     and counted; the loop backs off and retries as net/http does.
//   - [server_busy] At most Config.MaxConns connections are open at once,
//     whatever their stage (handshaking, waiting for CONNECT, logged in), so
//     MQTT alone can never use up the process's file descriptors: the API
//     and the metrics endpoint keep theirs. A connection beyond the limit is
//     closed at once, before TLS, which is the cheapest refusal there is (no
//     handshake, no CONNACK: the client sees its connection closed during the
//     handshake). It is counted in certlab_platform_mqtt_accept_refused_total
//     and in logins_total{reason="server_busy"}, and logged at WARN
//     (rate-limited); it is not put in the login-attempt log, which a flood
//     would otherwise wash out.

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"syscall"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/certlab/certlab/iotda"
	"github.com/certlab/certlab/platform/internal/ratelog"
)

// Accept failure causes: the closed label set of
// certlab_platform_mqtt_accept_errors_total.
const (
	acceptEMFILE = "emfile" // the process is out of file descriptors
	acceptENFILE = "enfile" // the system is out of file descriptors
	acceptNoMem  = "nomem"  // ENOBUFS / ENOMEM
	acceptOther  = "other"
)

// acceptGuard is the accept stage's state: the connection limit, the
// rate-limited log and the metrics.
type acceptGuard struct {
	maxConns int // 0 = unlimited
	warn     *ratelog.Logger
	errors   map[string]prometheus.Counter // certlab_platform_mqtt_accept_errors_total{cause}
	refused  prometheus.Counter            // certlab_platform_mqtt_accept_refused_total
}

// newAcceptGuard builds the guard and registers its metrics; open reports the
// listener's open connections at scrape time.
func newAcceptGuard(cfg Config, open func() int) (*acceptGuard, error) {
	const ns, sub = "certlab", "platform"
	errs := prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "mqtt_accept_errors_total",
		Help: "Failed accepts on the MQTTS listener by cause (emfile: process out of file descriptors, enfile: system out of them, nomem, other)."},
		[]string{"cause"})
	refused := prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "mqtt_accept_refused_total",
		Help: "MQTTS connections closed right after accept, before TLS, because the connection limit (--max-conns) was reached (server_busy)."})
	openConns := prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: ns, Subsystem: sub, Name: "mqtt_open_connections",
		Help: "Open MQTTS connections, whatever their stage (handshaking, waiting for CONNECT, logged in)."},
		func() float64 { return float64(open()) })
	limit := prometheus.NewGauge(prometheus.GaugeOpts{Namespace: ns, Subsystem: sub, Name: "mqtt_max_connections",
		Help: "The MQTTS connection limit (--max-conns); 0 = unlimited."})
	limit.Set(float64(cfg.MaxConns))
	for _, c := range []prometheus.Collector{errs, refused, openConns, limit} {
		if err := cfg.Registerer.Register(c); err != nil {
			return nil, fmt.Errorf("register accept metrics: %w", err)
		}
	}
	g := &acceptGuard{
		maxConns: cfg.MaxConns,
		warn:     ratelog.New(cfg.Logger, slog.LevelWarn, 0),
		errors:   make(map[string]prometheus.Counter),
		refused:  refused,
	}
	for _, c := range []string{acceptEMFILE, acceptENFILE, acceptNoMem, acceptOther} {
		g.errors[c] = errs.WithLabelValues(c)
	}
	return g, nil
}

// acceptCause classifies an Accept error.
func acceptCause(err error) string {
	switch {
	case errors.Is(err, syscall.EMFILE):
		return acceptEMFILE
	case errors.Is(err, syscall.ENFILE):
		return acceptENFILE
	case errors.Is(err, syscall.ENOBUFS), errors.Is(err, syscall.ENOMEM):
		return acceptNoMem
	}
	return acceptOther
}

// acceptFailed logs (rate-limited) and counts a failed Accept.
func (g *acceptGuard) acceptFailed(err error, addr string) {
	cause := acceptCause(err)
	g.errors[cause].Inc()
	g.warn.Log("accept_"+cause, "MQTT listener cannot accept connections; retrying with backoff",
		slog.String("listener", addr), slog.Any("err", err))
}

// full reports whether open connections reached the limit. [server_busy]
func (g *acceptGuard) full(open int) bool {
	return g.maxConns > 0 && open >= g.maxConns
}

// refuse closes a connection accepted beyond the limit, counts it and logs
// (rate-limited). [server_busy]
func (g *acceptGuard) refuse(b *Broker, raw net.Conn, open int) {
	_ = raw.Close()
	g.refused.Inc()
	b.metrics.login(iotda.ReasonServerBusy)
	g.warn.Log("max_conns", "MQTT connection limit reached: closing new connections at accept (server_busy)",
		slog.Int("open", open), slog.Int("max_conns", g.maxConns))
}

// close writes the pending log summaries.
func (g *acceptGuard) close() { g.warn.Close() }

// openConns returns the listener's open connections, whatever their stage.
func (l *listener) openConns() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.conns)
}
