package device

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"time"

	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/certlab/certlab/iotda"
)

// Defaults applied by Config.withDefaults.
const (
	DefaultMQTTVersion    = iotda.MQTT311
	DefaultConnectTimeout = 10 * time.Second // TCP + TLS + CONNECT -> CONNACK
	DefaultReceiveMaximum = 16               // MQTT 5: sizes paho's per-client publish channel
)

// Config describes one device login.
type Config struct {
	Addr        string            // host:port of the MQTTS endpoint
	TLS         *tls.Config       // client certificate(s), RootCAs, ServerName (defaults to Addr's host), Min/MaxVersion, CurvePreferences, ClientSessionCache; required
	MQTTVersion iotda.MQTTVersion // MQTT311 (default), MQTT5, or MQTT31 ("MQIsdp")
	ClientID    string            // see iotda.ClientIDFor for IoTDA's format
	Username    string            // IoTDA: the device_id; sent when non-empty
	Password    []byte            // optional; certificate devices send none (nil = no password flag)

	Keepalive     uint16 // seconds; default iotda.DefaultKeepalive (120) [LOGIN-KEEPALIVE]
	KeepaliveZero bool   // send Keepalive 0 (no keepalive) instead of the default

	// CleanStart asks for a clean session. Clean is also what a zero Config
	// sends (IoTDA SDKs use clean session); set PersistentSession to send
	// CleanSession/CleanStart = 0.
	CleanStart        bool
	PersistentSession bool // send CleanSession/CleanStart = 0 (overrides CleanStart)

	ConnectTimeout time.Duration // bounds TCP + TLS + CONNECT -> CONNACK together; default 10s
	AckTimeout     time.Duration // bounds each PUBACK/SUBACK wait and each write of a held session; default ConnectTimeout

	// ProbeTLSRejection, if > 0, makes a TLS 1.3 certificate rejection
	// deterministic: after the handshake and before CONNECT, Login reads with
	// this deadline. An alert (or a drop) is a TLS-phase refusal; a timeout means
	// the server accepted the certificate. It adds this delay to every accepted
	// TLS 1.3 login, so it is meant for negative tests (docs/libraries.md A2.4).
	// Ignored under TLS 1.2, whose handshake itself reports the rejection.
	ProbeTLSRejection time.Duration

	// StdlibCertSelection lets crypto/tls choose the client certificate from
	// TLS.Certificates by the server's CA list (and send none if none fits).
	// By default a single configured certificate is always presented; see AlwaysPresent.
	StdlibCertSelection bool
	// ResetOnClose makes LoginProbe end a successful login's TCP connection
	// with a reset (SO_LINGER 0) right after DISCONNECT and close_notify,
	// so this side keeps no TIME_WAIT socket. A load generator churning
	// logins against a remote server otherwise runs out of ephemeral ports
	// at about 28,000 / 60 s ≈ 470 logins/s per source address. The server
	// reads the DISCONNECT before the reset.
	ResetOnClose bool

	ReceiveMaximum uint16        // MQTT 5 Receive Maximum sent in CONNECT; default 16
	OnMessage      func(Message) // optional; called for each inbound PUBLISH on the session's reader goroutine (must not block)

	wrapConn func(net.Conn) net.Conn // tests: sees the dialed connection (to count writes)
}

// withDefaults returns cfg with every zero field set to its documented default.
func (cfg Config) withDefaults() Config {
	if cfg.MQTTVersion == 0 {
		cfg.MQTTVersion = DefaultMQTTVersion
	}
	if cfg.Keepalive == 0 && !cfg.KeepaliveZero {
		cfg.Keepalive = iotda.DefaultKeepalive
	}
	if cfg.KeepaliveZero {
		cfg.Keepalive = 0
	}
	if cfg.ConnectTimeout <= 0 {
		cfg.ConnectTimeout = DefaultConnectTimeout
	}
	if cfg.AckTimeout <= 0 {
		cfg.AckTimeout = cfg.ConnectTimeout
	}
	if cfg.ReceiveMaximum == 0 {
		cfg.ReceiveMaximum = DefaultReceiveMaximum
	}
	return cfg
}

func (cfg Config) cleanStart() bool { return !cfg.PersistentSession }

func (cfg Config) validate() error {
	switch {
	case cfg.Addr == "":
		return errors.New("config: Addr is empty")
	case cfg.TLS == nil:
		return errors.New("config: TLS is nil (certlab logs in over MQTTS only)")
	case cfg.MQTTVersion != iotda.MQTT31 && cfg.MQTTVersion != iotda.MQTT311 && cfg.MQTTVersion != iotda.MQTT5:
		return fmt.Errorf("config: MQTTVersion %d (want 3, 4 or 5)", cfg.MQTTVersion)
	}
	return nil
}

// Phase is where a login ended.
type Phase string

// Login phases. A successful login has Phase "".
const (
	PhaseNone    Phase = ""
	PhaseConfig  Phase = "config" // the Config was unusable; nothing was sent
	PhaseTCP     Phase = "tcp"
	PhaseTLS     Phase = "tls"
	PhaseConnect Phase = "connect"
)

// Result reasons (client-side classification). Two reasons carry a value:
// "tls_alert:<alert text>" and "connack:0x<code>" (see AlertReason, ConnackReason).
const (
	ReasonOK         = ""
	ReasonTimeout    = "timeout"       // a phase deadline (ConnectTimeout) expired
	ReasonCanceled   = "canceled"      // the caller's ctx was canceled
	ReasonRefusedTCP = "refused_tcp"   // ECONNREFUSED on dial
	ReasonDial       = "dial"          // other dial failure (DNS, unreachable)
	ReasonNoPorts    = "no_local_port" // EADDRNOTAVAIL on dial: ephemeral ports used up (TIME_WAIT)
	ReasonReset      = "reset"         // ECONNRESET
	ReasonEPIPE      = "epipe"         // EPIPE: the peer had already closed when we wrote
	ReasonEOF        = "eof"           // the peer closed the connection
	// ReasonClosedBeforeTLS: the server reset or closed the connection
	// before sending a single TLS byte (at connect, or in answer to the
	// ClientHello). Servers do that to refuse a connection they cannot
	// serve: certlab's platform at its handshake or connection limit
	// (server_busy), mosquitto at max_connections. A refusal, not an error.
	ReasonClosedBeforeTLS = "closed_before_tls"
	ReasonServerCert      = "server_cert" // the server's certificate failed our verification
	ReasonTLS             = "tls"         // other local TLS failure (no common version or cipher ...)
	ReasonProtocol        = "protocol"    // unexpected or malformed MQTT packet
	ReasonConfig          = "config"      // invalid Config
	ReasonIO              = "io"          // other I/O error
)

// AlertReason is the Reason for a TLS alert received from the server.
func AlertReason(alert string) string { return "tls_alert:" + alert }

// ConnackReason is the Reason for a CONNACK refusal code.
func ConnackReason(code byte) string { return fmt.Sprintf("connack:0x%02x", code) }

// Result is the record of one login attempt. It is flat and serialisable.
type Result struct {
	Outcome      iotda.Outcome `json:"outcome"`
	Phase        Phase         `json:"phase,omitempty"`         // where it ended if not success
	Reason       string        `json:"reason,omitempty"`        // "tls_alert:<alert>", "connack:0x87", "timeout", "reset", "eof", "refused_tcp", "protocol" ...
	Alert        string        `json:"alert,omitempty"`         // TLS alert text if any: "bad certificate", "certificate required", "unknown certificate authority" ...
	ConnackCode  byte          `json:"connack_code"`            // CONNACK return/reason code when one was received (0 on success)
	ReasonString string        `json:"reason_string,omitempty"` // MQTT 5 CONNACK reason string if sent

	TLSVersion  uint16 `json:"tls_version,omitempty"`  // negotiated version (tls.VersionTLS12 ...) once the handshake completed
	CipherSuite uint16 `json:"cipher_suite,omitempty"` // negotiated suite once the handshake completed
	DidResume   bool   `json:"did_resume,omitempty"`   // the handshake resumed a session (ClientSessionCache)

	Start        time.Time         `json:"start"`
	TCP          time.Duration     `json:"tcp_ns"`          // dial
	TLSHandshake time.Duration     `json:"tls_ns"`          // HandshakeContext
	TLSProbe     time.Duration     `json:"tls_probe_ns"`    // ProbeTLSRejection read (0 when not probed)
	Connack      time.Duration     `json:"connack_ns"`      // CONNECT write start -> CONNACK read
	Total        time.Duration     `json:"total_ns"`        // Start -> end of Login
	Err          error             `json:"-"`               // underlying error for diagnostics (nil on success)
	ErrText      string            `json:"error,omitempty"` // Err.Error(), for serialised records
	MQTTVersion  iotda.MQTTVersion `json:"mqtt_version"`    // 3, 4 or 5
	ClientID     string            `json:"client_id,omitempty"`
}

// OK reports whether the login succeeded (CONNACK 0x00).
func (r Result) OK() bool { return r.Outcome == iotda.OutcomeSuccess }

// Login dials cfg.Addr, performs the TLS handshake and the MQTT CONNECT, and
// returns the live session and the result. The session is non-nil only when
// Outcome is success; the caller must Close it. Login never panics on a bad
// Config: it returns Outcome error, Phase config.
func Login(ctx context.Context, cfg Config) (*Session, Result) {
	var a attempt
	return a.run(ctx, cfg, false)
}

// LoginProbe is Login for a login that ends at once, as a load generator
// churns them: the same phases, deadlines and Result, and on success the
// connection is ended right after the CONNACK with DISCONNECT
// [MQTT-3.14.4-1] and TLS close_notify (in one write), without starting a
// session: no reader goroutine, no keepalive timer. Total stops at the
// CONNACK, as with Login. An error writing DISCONNECT does not change the
// result: the server has already accepted the login.
//
// MQTT 3.1.1 and 3.1 take this short path; MQTT 5 logs in with a session
// (paho) and closes it.
func LoginProbe(ctx context.Context, cfg Config) Result {
	var a attempt
	s, res := a.run(ctx, cfg, true)
	switch {
	case s != nil:
		_ = s.Close()
	case a.accepted != nil:
		a.disconnect()
	}
	return res
}

// attempt is the state of one login.
type attempt struct {
	bc         *BatchConn
	accepted   *tls.Conn     // LoginProbe: the connection of a successful 3.1.1 login, still to end
	ackTimeout time.Duration // bounds the DISCONNECT write of LoginProbe
	reset      bool          // LoginProbe: Config.ResetOnClose
}

func (a *attempt) run(ctx context.Context, cfg Config, probe bool) (*Session, Result) {
	cfg = cfg.withDefaults()
	a.ackTimeout, a.reset = cfg.AckTimeout, cfg.ResetOnClose
	res := Result{Start: time.Now(), MQTTVersion: cfg.MQTTVersion, ClientID: cfg.ClientID}
	s := a.login(ctx, cfg, &res, probe)
	res.Total = time.Since(res.Start)
	if res.Err != nil {
		res.ErrText = res.Err.Error()
	}
	return s, res
}

func (a *attempt) login(parent context.Context, cfg Config, res *Result, probe bool) *Session {
	if err := cfg.validate(); err != nil {
		res.fail(iotda.OutcomeError, PhaseConfig, ReasonConfig, err)
		return nil
	}
	ctx, cancel := context.WithTimeout(parent, cfg.ConnectTimeout)
	defer cancel()
	dl, _ := ctx.Deadline()

	// Phase 1: TCP. No TCP keepalive: it costs four setsockopt calls per
	// login, and the MQTT keepalive is what watches a session
	// [LOGIN-KEEPALIVE] (device stacks do not set SO_KEEPALIVE either).
	t := time.Now()
	d := net.Dialer{KeepAlive: -1}
	raw, err := d.DialContext(ctx, "tcp", cfg.Addr)
	res.TCP = time.Since(t)
	if err != nil {
		res.failTCP(parent, err)
		return nil
	}
	if cfg.wrapConn != nil {
		raw = cfg.wrapConn(raw)
	}

	// Phase 2: TLS.
	tlsCfg, err := clientTLS(cfg)
	if err != nil {
		_ = raw.Close()
		res.fail(iotda.OutcomeError, PhaseConfig, ReasonConfig, err)
		return nil
	}
	// One deadline for TLS, probe and CONNECT -> CONNACK, and cancellation
	// that interrupts them (a connection deadline rather than
	// HandshakeContext: no context and AfterFunc per phase).
	_ = raw.SetDeadline(dl)
	stop := context.AfterFunc(ctx, func() { _ = raw.SetDeadline(pastDeadline) })
	defer stop() // before cancel: cancel must not fire it on the way out
	a.bc = NewBatchConn(raw)
	tc := tls.Client(a.bc, tlsCfg)
	t = time.Now()
	err = tc.Handshake()
	res.TLSHandshake = time.Since(t)
	if err != nil {
		a.close(ctx, a.bc, dl) // with crypto/tls's alert, if it sent one
		res.failTLS(parent, err, a.bc.Received())
		return nil
	}
	st := tc.ConnectionState()
	res.TLSVersion, res.CipherSuite, res.DidResume = st.Version, st.CipherSuite, st.DidResume

	// Under TLS 1.3 the server has not necessarily judged our certificate yet
	// (docs/performance.md, "Traps seen in peer tools"). certAccepted records whether
	// we know it has: always under TLS 1.2, after a quiet probe under TLS 1.3.
	certAccepted := st.Version != tls.VersionTLS13
	if cfg.ProbeTLSRejection > 0 && !certAccepted {
		t = time.Now()
		ok := probeTLSRejection(ctx, parent, tc, dl, cfg.ProbeTLSRejection, res)
		res.TLSProbe = time.Since(t)
		if !ok {
			a.close(ctx, tc, dl)
			return nil
		}
		certAccepted = true
	}

	// Phase 3: CONNECT -> CONNACK.
	if cfg.MQTTVersion == 5 {
		// paho watches ctx itself and keeps reading after CONNACK: hand
		// it a connection without our deadline.
		if !stop() {
			a.close(ctx, tc, dl)
			res.failAfterHandshake(parent, ctx, fmt.Errorf("connect: %w", context.Cause(ctx)), certAccepted, PhaseConnect)
			return nil
		}
		_ = raw.SetDeadline(time.Time{})
		a.bc.Release() // the queued flight leaves with CONNECT
		return withRaw(loginV5(ctx, parent, tc, cfg, res, certAccepted), raw)
	}
	return withRaw(a.loginV3(ctx, parent, tc, stop, cfg, res, certAccepted, probe), raw)
}

// withRaw gives a session its TCP connection, for Abort.
func withRaw(s *Session, raw net.Conn) *Session {
	if s != nil {
		s.raw = raw
	}
	return s
}

// close closes the connection c (the tls.Conn or, before it is usable, the
// BatchConn) of a failed login, sending what crypto/tls queued last (its
// alert, close_notify) under the login deadline dl, unless the login's
// time is up or it was canceled.
func (a *attempt) close(ctx context.Context, c io.Closer, dl time.Time) {
	if ctx.Err() == nil {
		a.bc.CloseFlushing(dl)
	}
	_ = c.Close()
}

// disconnect ends a LoginProbe login: DISCONNECT and close_notify are queued
// and leave in the one write of Close.
func (a *attempt) disconnect() {
	a.bc.CloseFlushing(time.Now().Add(a.ackTimeout))
	_, _ = a.accepted.Write([]byte{packets.Disconnect << 4, 0})
	if a.reset {
		ResetOnClose(a.bc.Conn)
	}
	_ = a.accepted.Close()
}

// ResetOnClose makes closing c (a TCP connection) send a reset instead of
// a FIN, after whatever was written before: the socket is gone at once, with
// no TIME_WAIT on this side. See Config.ResetOnClose.
func ResetOnClose(c net.Conn) {
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
}

// clientTLS returns the tls.Config for one login: cfg.TLS itself when it is
// ready, else a clone with ServerName set from Addr and the client
// certificate always presented (see AlwaysPresent). Build the config with
// both once per device to save the clone on every login.
func clientTLS(cfg Config) (*tls.Config, error) {
	c := cfg.TLS
	needName := c.ServerName == "" && !c.InsecureSkipVerify
	needCert := c.GetClientCertificate == nil && len(c.Certificates) == 1 && !cfg.StdlibCertSelection
	if !needName && !needCert {
		return c, nil
	}
	c = c.Clone()
	if needName {
		host, _, err := net.SplitHostPort(cfg.Addr)
		if err != nil {
			return nil, fmt.Errorf("config: Addr %q: %w", cfg.Addr, err)
		}
		c.ServerName = host
	}
	if needCert {
		c.GetClientCertificate = AlwaysPresent(c.Certificates[0])
	}
	return c, nil
}

// AlwaysPresent returns a tls.Config.GetClientCertificate callback that
// presents cert whatever the server's CertificateRequest lists. With only
// Certificates set, crypto/tls silently sends *no* certificate when the leaf
// does not chain to a CA the server names, which turns an "unknown CA" case
// into "no certificate"; devices built on OpenSSL or mbedTLS present theirs
// anyway, and so does certlab.
func AlwaysPresent(cert tls.Certificate) func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
	return func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &cert, nil }
}

// probeTLSRejection reads from a fresh TLS 1.3 connection with a short
// deadline. Nothing may arrive before CONNECT, so a timeout means the server
// accepted our certificate, and an alert or a drop means it did not
// (docs/libraries.md A2.4: 50/50 deterministic in both directions). dl is the
// login's deadline, restored after a quiet probe.
func probeTLSRejection(ctx, parent context.Context, tc *tls.Conn, dl time.Time, d time.Duration, res *Result) bool {
	pdl := time.Now().Add(d)
	if dl.Before(pdl) {
		pdl = dl
	}
	setReadDeadline(ctx, tc, pdl)
	var b [1]byte
	n, err := tc.Read(b[:])
	if n > 0 {
		res.fail(iotda.OutcomeError, PhaseConnect, ReasonProtocol, errors.New("tls probe: server sent data before CONNECT"))
		return false
	}
	if isTimeout(err) && ctx.Err() == nil {
		setReadDeadline(ctx, tc, dl)
		return true // quiet: the certificate was accepted
	}
	res.failAfterHandshake(parent, ctx, fmt.Errorf("tls probe: %w", err), false, PhaseTLS)
	return false
}

// setReadDeadline sets a read deadline unless ctx has ended: its AfterFunc
// may have set the past deadline just before, which must stay.
func setReadDeadline(ctx context.Context, c net.Conn, t time.Time) {
	_ = c.SetReadDeadline(t)
	if ctx.Err() != nil {
		_ = c.SetReadDeadline(pastDeadline)
	}
}

func (r *Result) fail(o iotda.Outcome, p Phase, reason string, err error) {
	r.Outcome, r.Phase, r.Reason, r.Err = o, p, reason, err
}
