package broker

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/certlab/certlab/platform/internal/ratelog"
	"github.com/certlab/certlab/platform/registry"
)

// Directory is what the broker needs from the registry. Every method is on
// the login hot path or next to it: Trust and LookupDevice must answer from
// memory without I/O.
type Directory interface {
	// Trust returns the current trust snapshot (atomically swapped; never nil).
	Trust() *registry.Trust
	// LookupDevice finds a device by ID across all projects, from memory.
	LookupDevice(deviceID string) (registry.Device, bool)
	// Product returns one product of a project.
	Product(projectID, productID string) (registry.Product, error)
	// BindFingerprint records fp as the device's primary fingerprint if none
	// is set yet and reports whether fp is now its primary. [DEV-FINGERPRINT-BIND]
	BindFingerprint(ctx context.Context, deviceID, fp string) (bool, error)
	// SetOnline records a login (online) or a disconnect (offline). [DEV-STATUS]
	// It is called on the login path, in event order, under the broker's
	// session lock, so it must not block on I/O: the reference registry
	// updates memory at once and persists asynchronously.
	SetOnline(ctx context.Context, deviceID string, online bool, at time.Time) error
}

// Config configures a Broker. Zero values take the defaults in withDefaults.
type Config struct {
	Addr           string          // listen address; default "127.0.0.1:8883"; port 0 allowed
	Certificate    tls.Certificate // server certificate (required)
	Directory      Directory       // registry view (required)
	ConnectTimeout time.Duration   // TLS handshake + CONNECT deadline; default 10 s
	MaxClients     int             // live device sessions before server_busy; 0 = unlimited
	MaxConns       int             // open connections (any stage) before new ones are closed at accept (server_busy); 0 = unlimited
	// MaxHandshakes bounds the TLS handshakes in flight (admission.go);
	// 0 = DefaultMaxHandshakes() (HandshakesPerProc per GOMAXPROCS), negative = unbounded.
	MaxHandshakes int
	// HandshakeQueue is how many connections may wait for a handshake slot
	// beyond MaxHandshakes; 0 = MaxHandshakes, negative = none.
	HandshakeQueue int
	// HandshakeQueueWait is the longest wait for a slot; default DefaultHandshakeQueueWait (1 s).
	HandshakeQueueWait time.Duration
	AttemptLogSize     int                   // login attempts kept in memory; default 10000
	Logger             *slog.Logger          // refusals at Info, mochi's own lines at Warn; default discard
	LogInterval        time.Duration         // at most one line per refusal reason (and per mochi message) per interval, then a summary; default ratelog.DefaultInterval (10 s)
	Registerer         prometheus.Registerer // metrics; default a private registry
	Now                func() time.Time      // clock for certificate checks and records; default time.Now
	SendCAList         bool                  // send the verified CA subjects in CertificateRequest (~5% per handshake); default off
	TLSMinVersion      uint16                // default tls.VersionTLS12
}

func (c Config) withDefaults() Config {
	if c.Addr == "" {
		c.Addr = "127.0.0.1:8883"
	}
	if c.ConnectTimeout <= 0 {
		c.ConnectTimeout = 10 * time.Second
	}
	if c.AttemptLogSize <= 0 {
		c.AttemptLogSize = 10000
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.LogInterval <= 0 {
		c.LogInterval = ratelog.DefaultInterval
	}
	if c.Registerer == nil {
		c.Registerer = prometheus.NewRegistry()
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.TLSMinVersion == 0 {
		c.TLSMinVersion = tls.VersionTLS12
	}
	switch {
	case c.MaxHandshakes == 0:
		c.MaxHandshakes = DefaultMaxHandshakes()
	case c.MaxHandshakes < 0:
		c.MaxHandshakes = 0 // unbounded
	}
	switch {
	case c.HandshakeQueue == 0:
		c.HandshakeQueue = c.MaxHandshakes
	case c.HandshakeQueue < 0:
		c.HandshakeQueue = 0
	}
	if c.HandshakeQueueWait <= 0 {
		c.HandshakeQueueWait = DefaultHandshakeQueueWait
	}
	return c
}

// Limits of the MQTT service. [MQTT-LIMITS]
const (
	// MaxPayload is the largest PUBLISH payload a device may send (IoTDA: 1 MB).
	MaxPayload = 1 << 20
	// MaxPacketSize is the largest MQTT packet accepted: MaxPayload plus room
	// for the fixed header, topic and properties.
	MaxPacketSize = MaxPayload + 4096
)

// Timeouts of background work. Each is an upper bound, not a typical figure.
const (
	bindTimeout      = 5 * time.Second        // Directory.BindFingerprint during a login
	statusTimeout    = time.Second            // one Directory.SetOnline call (in memory)
	kickWriteTimeout = 500 * time.Millisecond // writing a DISCONNECT to a session being dropped
	closeGrace       = 500 * time.Millisecond // polite DISCONNECTs on Close before connections are cut
	listenTimeout    = 5 * time.Second        // binding the listening socket
)

// Sentinel errors.
var (
	// ErrTopicNotAllowed: SendDown was given a topic outside the device's own (iotda.TopicPrefix). [ACL-OWN-TOPICS]
	ErrTopicNotAllowed = errors.New("topic is outside the device's own topics")
	// ErrPayloadTooLarge: SendDown was given more than MaxPayload bytes. [MQTT-LIMITS]
	ErrPayloadTooLarge = errors.New("payload exceeds 1 MB")
	// ErrClosed: the broker was closed.
	ErrClosed = errors.New("broker closed")
)

// Broker is a running MQTTS broker. It is safe for concurrent use.
type Broker struct {
	cfg      Config
	dir      Directory
	log      *slog.Logger
	now      func() time.Time
	base     *tls.Config // built once; cloned shallowly per connection
	srv      *mqtt.Server
	ln       *listener
	metrics  *metrics
	attempts *attemptLog
	shadows  *shadowStore
	refusals *ratelog.Logger // "login refused" lines, one kind per reason
	mochiLog *mochiLog       // mochi's own lines, bounded and rate-limited

	mu       sync.Mutex            // guards sessions, closed, bg.Add
	sessions map[string]*connState // device_id -> current session [LOGIN-TAKEOVER]
	closed   bool
	bg       sync.WaitGroup // session drops started by HandleEvent and by takeovers
	connSeq  atomic.Uint64  // numbers mochi's per-connection client IDs (admit)

	lifecycle sync.Mutex // serialises Start with the start of Close
	started   bool
	startErr  error
	closeOnce sync.Once

	// ctx lives from Start to the end of Close: mochi's hook callbacks carry
	// no context, so the login's directory calls and handshakes derive theirs
	// from it. It keeps the values of Start's context, not its cancellation.
	ctx  context.Context
	stop context.CancelFunc
}

// New validates cfg and builds a broker ready to Start.
func New(cfg Config) (*Broker, error) {
	if cfg.Directory == nil {
		return nil, errors.New("new broker: Directory is required")
	}
	if len(cfg.Certificate.Certificate) == 0 || cfg.Certificate.PrivateKey == nil {
		return nil, errors.New("new broker: server Certificate is required")
	}
	cfg = cfg.withDefaults()
	m, err := newMetrics(cfg.Registerer)
	if err != nil {
		return nil, fmt.Errorf("new broker: %w", err)
	}
	b := &Broker{
		cfg:      cfg,
		dir:      cfg.Directory,
		log:      cfg.Logger,
		now:      cfg.Now,
		metrics:  m,
		attempts: newAttemptLog(cfg.AttemptLogSize),
		shadows:  newShadowStore(),
		refusals: ratelog.New(cfg.Logger, slog.LevelInfo, cfg.LogInterval),
		mochiLog: newMochiLog(cfg.Logger, cfg.LogInterval),
		sessions: make(map[string]*connState),
	}
	if b.base, err = baseTLSConfig(cfg); err != nil {
		return nil, fmt.Errorf("new broker: %w", err)
	}

	caps := mqtt.NewDefaultServerCapabilities()
	caps.MaximumQos = 1                    // [MQTT-LIMITS] no QoS 2
	caps.RetainAvailable = 0               // [MQTT-LIMITS] no retained messages
	caps.MaximumPacketSize = MaxPacketSize // [MQTT-LIMITS] PUBLISH <= 1 MB
	caps.MaximumClientWritesPending = 128  // outbound queue per client (default 8192)
	caps.MaximumSessionExpiryInterval = 0  // clean sessions only: nothing kept after a disconnect
	// caps.MaximumClients stays unlimited: mochi would refuse before our
	// hook sees the attempt; server_busy is checked last, in the hook.
	b.srv = mqtt.New(&mqtt.Options{
		Capabilities:           caps,
		InlineClient:           true,
		SysTopicResendInterval: 3600,
		Logger:                 slog.New(b.mochiLog),
	})
	if err := b.srv.AddHook(&x509Hook{b: b}, nil); err != nil {
		return nil, fmt.Errorf("new broker: add hook: %w", err)
	}
	b.ln = &listener{id: "mqtts", addr: cfg.Addr, b: b, conns: make(map[*connState]struct{}), clientsWg: &b.srv.Listeners.ClientsWg}
	if b.ln.guard, err = newAcceptGuard(cfg, b.ln.openConns); err != nil {
		return nil, fmt.Errorf("new broker: %w", err)
	}
	if b.ln.gate, err = newHandshakeGate(cfg); err != nil {
		return nil, fmt.Errorf("new broker: %w", err)
	}
	return b, nil
}

// baseTLSConfig is the server TLS configuration shared (by shallow clone) by
// every connection.
func baseTLSConfig(cfg Config) (*tls.Config, error) {
	c := &tls.Config{
		Certificates: []tls.Certificate{cfg.Certificate},
		// [LOGIN-TLS] A certificate is required, but Go does not verify it:
		// VerifyConnection does, per connection, against the current trust
		// snapshot. With ClientCAs unset no CA subject list is sent.
		ClientAuth: tls.RequireAnyClientCert,
		MinVersion: cfg.TLSMinVersion,
		Time:       cfg.Now,
	}
	// Explicit ticket keys: every per-connection clone shares them, so
	// sessions resume across connections (auto-rotated keys would be
	// created per clone). They live as long as the process.
	var key [32]byte
	if _, err := rand.Read(key[:]); err != nil {
		return nil, fmt.Errorf("session ticket key: %w", err)
	}
	c.SetSessionTicketKeys([][32]byte{key})
	return c, nil
}

// Start binds the listener (ctx bounds the bind) and serves until Close.
// Addr returns the bound address.
func (b *Broker) Start(ctx context.Context) error {
	b.lifecycle.Lock()
	defer b.lifecycle.Unlock()
	if b.isClosed() {
		return fmt.Errorf("start broker: %w", ErrClosed)
	}
	if b.started {
		return b.startErr
	}
	b.started = true
	b.ctx, b.stop = context.WithCancel(context.WithoutCancel(ctx))
	b.startErr = b.start(ctx)
	return b.startErr
}

func (b *Broker) start(ctx context.Context) error {
	if err := b.srv.Subscribe(topicMessagesUp, 1, b.onMessageUp); err != nil {
		return fmt.Errorf("start broker: subscribe %s: %w", topicMessagesUp, err)
	}
	if err := b.srv.Subscribe(topicPropertiesReport, 2, b.onPropertiesReport); err != nil {
		return fmt.Errorf("start broker: subscribe %s: %w", topicPropertiesReport, err)
	}
	if err := b.ln.listen(ctx); err != nil {
		return fmt.Errorf("start broker: listen %s: %w", b.cfg.Addr, err)
	}
	if err := b.srv.AddListener(b.ln); err != nil {
		return fmt.Errorf("start broker: listen %s: %w", b.cfg.Addr, err)
	}
	if err := b.srv.Serve(); err != nil {
		return fmt.Errorf("start broker: serve: %w", err)
	}
	return nil
}

func (b *Broker) isClosed() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.closed
}

// Addr returns the bound address after Start (the configured one before).
func (b *Broker) Addr() string { return b.ln.Address() }

// Close stops the broker: it stops accepting, sends MQTT 5 sessions a
// DISCONNECT (0x8B server shutting down) for at most closeGrace and closes
// every connection — handshaking, silent or established; every session's
// device goes offline. It is idempotent and returns promptly whatever the
// peers do.
func (b *Broker) Close() error {
	b.closeOnce.Do(func() {
		b.lifecycle.Lock() // waits for a Start in progress
		stop := b.stop
		b.mu.Lock()
		b.closed = true
		b.mu.Unlock()
		b.lifecycle.Unlock()
		_ = b.srv.Close() // calls listener.Close, then waits for mochi's client goroutines
		b.ln.wg.Wait()    // handshakes in progress and their establish calls
		b.bg.Wait()
		if stop != nil {
			stop() // last: the sessions' final status writes above still need it
		}
		b.refusals.Close() // pending "more_like_this" summaries
		b.mochiLog.close()
	})
	return nil
}

// Connected returns the number of live device sessions.
func (b *Broker) Connected() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.sessions)
}
