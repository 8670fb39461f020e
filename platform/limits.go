package platform

// limits.go: staying reachable at the file-descriptor limit, and saying so.
//
// Every MQTT connection holds a descriptor from accept to close, whatever
// its stage, so a flood of MQTT connections (devices or not) could take all
// of the process's RLIMIT_NOFILE and leave none for the API, the metrics
// endpoint or the registry. The broker therefore admits at most MaxConns
// connections (beyond it they are closed at accept, server_busy), by default
// the open-file limit minus a reserve for everything else. Failures that do
// happen (EMFILE at an accept) are logged at WARN, rate-limited, and
// counted: the MQTT listener in the broker, the HTTP servers here through
// their ErrorLog.

import (
	"fmt"
	"log"
	"log/slog"
	"strings"
	"syscall"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/certlab/certlab/platform/internal/ratelog"
)

// openFileLimit returns the process's soft RLIMIT_NOFILE. (Go raises the
// soft limit to the hard one at start-up, so this is normally `ulimit -Hn`.)
func openFileLimit() (uint64, error) {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		return 0, fmt.Errorf("getrlimit RLIMIT_NOFILE: %w", err)
	}
	return rl.Cur, nil
}

// fdReserve is how many descriptors the MQTT listener leaves to the rest of
// the process at open-file limit n: 1/8 of it, at least 64 (the registry's
// three files, the lock, three listeners, the runtime's poller, and room for
// API clients and metrics scrapes), but never more than half.
func fdReserve(n uint64) uint64 {
	return max(min(64, n/2), n/8)
}

// DefaultMaxConns is the MQTT connection limit for open-file limit n:
// n minus fdReserve(n). With the common 1024 that is 896; with 1,048,576, 917,504.
func DefaultMaxConns(n uint64) int {
	return int(n - fdReserve(n))
}

// resolveMaxConns turns Config.MaxConns into the broker's limit: 0 derives
// it from the open-file limit, a negative value means unlimited (0 for the
// broker), and an explicit value must leave room below the open-file limit.
func resolveMaxConns(configured int) (maxConns int, nofile uint64, err error) {
	nofile, err = openFileLimit()
	if err != nil {
		return 0, 0, err
	}
	switch {
	case configured < 0:
		return 0, nofile, nil
	case configured == 0:
		return DefaultMaxConns(nofile), nofile, nil
	case uint64(configured) >= nofile:
		return 0, nofile, fmt.Errorf("--max-conns %d is not below the open-file limit %d (ulimit -n): MQTT could take every descriptor and the API would stop answering; lower it or raise the limit", configured, nofile)
	}
	return configured, nofile, nil
}

// HTTP server error kinds: the closed label set of
// certlab_platform_http_server_errors_total.
const (
	httpErrAccept       = "accept"        // the listener could not accept (EMFILE...)
	httpErrTLSHandshake = "tls_handshake" // a client's TLS handshake failed
	httpErrOther        = "other"
)

// httpErrorLog receives the HTTP servers' own errors (http.Server.ErrorLog)
// and turns each line into a counted, rate-limited WARN.
type httpErrorLog struct {
	warn   *ratelog.Logger
	errors *prometheus.CounterVec // certlab_platform_http_server_errors_total{server,kind}
}

func newHTTPErrorLog(logger *slog.Logger, reg prometheus.Registerer) (*httpErrorLog, error) {
	errs := prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "certlab", Subsystem: "platform", Name: "http_server_errors_total",
		Help: "Errors the HTTP servers reported themselves, by server (api, metrics) and kind (accept: could not accept a connection, e.g. out of file descriptors; tls_handshake: a client's handshake failed; other)."},
		[]string{"server", "kind"})
	if err := reg.Register(errs); err != nil {
		return nil, fmt.Errorf("register http server metrics: %w", err)
	}
	for _, s := range []string{"api", "metrics"} {
		for _, k := range []string{httpErrAccept, httpErrTLSHandshake, httpErrOther} {
			errs.WithLabelValues(s, k) // every series exists from the start
		}
	}
	return &httpErrorLog{warn: ratelog.New(logger, slog.LevelWarn, 0), errors: errs}, nil
}

// logger returns the *log.Logger for one server's ErrorLog.
func (h *httpErrorLog) logger(server string) *log.Logger {
	return log.New(httpErrorWriter{h: h, server: server}, "", 0)
}

func (h *httpErrorLog) close() {
	if h != nil {
		h.warn.Close()
	}
}

// httpErrorWriter is one server's ErrorLog sink; net/http writes one line per call.
type httpErrorWriter struct {
	h      *httpErrorLog
	server string
}

func (w httpErrorWriter) Write(p []byte) (int, error) {
	line := strings.TrimSpace(string(p))
	kind := httpErrOther
	switch {
	case strings.HasPrefix(line, "http: Accept error"):
		kind = httpErrAccept
	case strings.HasPrefix(line, "http: TLS handshake error"):
		kind = httpErrTLSHandshake
	}
	w.h.errors.WithLabelValues(w.server, kind).Inc()
	const maxLine = 512 // a line may quote what a client sent
	if len(line) > maxLine {
		line = strings.ToValidUTF8(line[:maxLine], "") + "…"
	}
	w.h.warn.Log(w.server+"_"+kind, "HTTP server error", slog.String("server", w.server), slog.String("err", line))
	return len(p), nil
}
