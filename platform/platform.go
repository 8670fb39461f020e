// Package platform is certlab's reference IoT platform as a library: an
// IoTDA-compatible REST API over HTTPS (platform/api), a mochi-mqtt broker
// with mutual-TLS certificate login (platform/broker) and a durable SQLite
// registry (platform/registry), wired together with one data directory.
//
// Lifecycle: New(cfg) validates the configuration; Start locks the data
// directory (one platform per directory) and tightens its permissions
// (datadir.go), opens the registry, creates the first project and the server
// PKI on first start, binds the listeners (the MQTT connection limit below
// the open-file limit: limits.go) and writes DIR/target.json and
// DIR/server-ca.pem with the addresses actually bound; Close stops
// everything, flushes the registry and releases the lock.
package platform

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/certlab/certlab/iotda"
	"github.com/certlab/certlab/platform/api"
	"github.com/certlab/certlab/platform/broker"
	"github.com/certlab/certlab/platform/console"
	"github.com/certlab/certlab/platform/registry"
)

// Files the platform keeps in its data directory.
const (
	RegistryFile   = "registry.db"
	ServerCAFile   = "server-ca.pem"
	serverCAKey    = "server-ca.key"
	adminTokenFile = "admin-token"
	TargetFile     = "target.json"
)

// shutdownTimeout bounds the graceful shutdown of each HTTP server in Close.
const shutdownTimeout = 5 * time.Second

// DefaultProject is the name of the project created on first start.
const DefaultProject = "default"

// Config configures a platform. Zero values take the defaults in withDefaults.
type Config struct {
	DataDir        string        // required: registry, server PKI, credentials, target.json
	APIAddr        string        // HTTPS API; default 127.0.0.1:8943; port 0 allowed
	MQTTAddr       string        // MQTTS; default 127.0.0.1:8883; port 0 allowed
	MetricsAddr    string        // Prometheus /metrics over HTTP; default 127.0.0.1:9464; "off" disables
	TLSCertFile    string        // optional server certificate (PEM) for API and MQTTS; default minted from the data dir's CA
	TLSKeyFile     string        // its key
	ConnectTimeout time.Duration // MQTT handshake + CONNECT deadline; default 10 s
	MaxClients     int           // live MQTT sessions before server_busy (CONNACK 0x03/0x89); 0 = unlimited
	MaxConns       int           // open MQTT connections, any stage, before new ones are closed at accept (server_busy); 0 = DefaultMaxConns(RLIMIT_NOFILE), negative = unlimited
	// MaxHandshakes bounds the MQTTS TLS handshakes in flight; beyond it (and
	// HandshakeQueue waiting) connections are refused with server_busy before
	// TLS. 0 = broker.DefaultMaxHandshakes() (32 per GOMAXPROCS); negative = unbounded.
	MaxHandshakes int
	// HandshakeQueue is how many connections may wait for a handshake slot;
	// 0 = MaxHandshakes, negative = none.
	HandshakeQueue int
	Logger         *slog.Logger // default: discard
	Name           string       // target name written to target.json; default "embedded"

	// Test-only knobs that break documented rules on purpose, so that a test
	// can prove the BDD suite fails when the platform misbehaves.
	MaxCAsPerProject               int  // 0 = 100
	AllowCertificatesOnAnyProtocol bool // disables [PROTO-MQTT-ONLY]
}

func (c Config) withDefaults() Config {
	if c.APIAddr == "" {
		c.APIAddr = "127.0.0.1:8943"
	}
	if c.MQTTAddr == "" {
		c.MQTTAddr = "127.0.0.1:8883"
	}
	if c.MetricsAddr == "" {
		c.MetricsAddr = "127.0.0.1:9464"
	}
	if c.ConnectTimeout <= 0 {
		c.ConnectTimeout = 10 * time.Second
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Name == "" {
		c.Name = "embedded"
	}
	return c
}

// Platform is a running reference platform.
type Platform struct {
	cfg      Config
	reg      *registry.Registry
	broker   *broker.Broker
	apiSrv   *http.Server
	apiLn    net.Listener
	metSrv   *http.Server
	metLn    net.Listener
	target   *iotda.Target
	admin    string
	promReg  *prometheus.Registry
	lock     *dataDirLock
	httpErrs *httpErrorLog
	ctx      context.Context // Start's, without its cancellation (see shutdown)
	closeErr error
	once     sync.Once
}

// New checks cfg and returns a platform ready to Start.
func New(cfg Config) (*Platform, error) {
	if cfg.DataDir == "" {
		return nil, errors.New("new platform: data directory is required")
	}
	if (cfg.TLSCertFile == "") != (cfg.TLSKeyFile == "") {
		return nil, errors.New("new platform: --tls-cert and --tls-key go together")
	}
	return &Platform{cfg: cfg.withDefaults()}, nil
}

// Start opens the registry and serves the API, MQTTS and metrics. It returns
// once every listener is bound and target.json is written.
func (p *Platform) Start(ctx context.Context) (err error) {
	cfg := p.cfg
	p.ctx = context.WithoutCancel(ctx) // Close's graceful shutdown keeps Start's values, not its deadline
	defer func() {
		if err != nil {
			_ = p.Close()
		}
	}()
	if err := os.MkdirAll(cfg.DataDir, dataDirMode); err != nil {
		return fmt.Errorf("start platform: data dir: %w", err)
	}
	if p.lock, err = lockDataDir(cfg.DataDir, time.Now()); err != nil {
		return fmt.Errorf("start platform: %w", err)
	}
	if err := secureDataDir(cfg.DataDir, cfg.Logger); err != nil {
		return fmt.Errorf("start platform: data dir permissions: %w", err)
	}
	regPath := filepath.Join(cfg.DataDir, RegistryFile)
	if err := createPrivateFile(regPath); err != nil {
		return fmt.Errorf("start platform: %w", err)
	}
	p.reg, err = registry.Open(ctx, regPath, registry.Options{
		MaxCAsPerProject:               cfg.MaxCAsPerProject,
		AllowCertificatesOnAnyProtocol: cfg.AllowCertificatesOnAnyProtocol,
		Logger:                         cfg.Logger,
	})
	if err != nil {
		return fmt.Errorf("start platform: %w", err)
	}
	// No session survives a restart: devices left ONLINE by a crash are not. [DEV-STATUS]
	start := time.Now()
	if n, err := p.reg.ResetOnline(ctx, start); err != nil {
		return fmt.Errorf("start platform: %w", err)
	} else if n > 0 {
		cfg.Logger.Warn("devices left ONLINE by an unclean stop (crash or kill) marked OFFLINE",
			"devices", n, "took", time.Since(start).Round(time.Millisecond))
	}
	project, err := p.firstProject(ctx)
	if err != nil {
		return fmt.Errorf("start platform: %w", err)
	}
	if p.admin, err = readOrCreateSecret(filepath.Join(cfg.DataDir, adminTokenFile)); err != nil {
		return fmt.Errorf("start platform: admin token: %w", err)
	}
	serverCert, err := p.serverCertificate()
	if err != nil {
		return fmt.Errorf("start platform: server certificate: %w", err)
	}

	p.promReg = prometheus.NewRegistry()
	p.promReg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	maxConns, nofile, err := resolveMaxConns(cfg.MaxConns)
	if err != nil {
		return fmt.Errorf("start platform: %w", err)
	}
	if p.httpErrs, err = newHTTPErrorLog(cfg.Logger, p.promReg); err != nil {
		return fmt.Errorf("start platform: %w", err)
	}

	p.broker, err = broker.New(broker.Config{
		Addr:           cfg.MQTTAddr,
		Certificate:    serverCert,
		Directory:      p.reg,
		ConnectTimeout: cfg.ConnectTimeout,
		MaxClients:     cfg.MaxClients,
		MaxConns:       maxConns,
		MaxHandshakes:  cfg.MaxHandshakes,
		HandshakeQueue: cfg.HandshakeQueue,
		Logger:         cfg.Logger,
		Registerer:     p.promReg,
	})
	if err != nil {
		return fmt.Errorf("start platform: %w", err)
	}
	p.reg.OnChange(p.broker.HandleEvent)
	if err := p.broker.Start(ctx); err != nil {
		return fmt.Errorf("start platform: mqtt: %w", err)
	}

	handler, err := api.New(api.Config{
		Registry:   p.reg,
		Devices:    p.broker,
		AdminToken: p.admin,
		Logger:     cfg.Logger,
		Registerer: p.promReg,
	})
	if err != nil {
		return fmt.Errorf("start platform: %w", err)
	}
	if p.apiLn, err = net.Listen("tcp", cfg.APIAddr); err != nil {
		return fmt.Errorf("start platform: api listen: %w", err)
	}
	con := console.Handler(console.Config{})
	p.apiSrv = &http.Server{
		// One listener serves the API and the web console: the console's
		// pages call the API on their own origin.
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/console" || strings.HasPrefix(r.URL.Path, console.DefaultPrefix) {
				con.ServeHTTP(w, r)
				return
			}
			handler.ServeHTTP(w, r)
		}),
		TLSConfig:         &tls.Config{Certificates: []tls.Certificate{serverCert}, MinVersion: tls.VersionTLS12},
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       60 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       120 * time.Second,
		ErrorLog:          p.httpErrs.logger("api"),
	}
	go func() { _ = p.apiSrv.ServeTLS(p.apiLn, "", "") }()

	metricsEndpoint := ""
	if cfg.MetricsAddr != "off" {
		if p.metLn, err = net.Listen("tcp", cfg.MetricsAddr); err != nil {
			return fmt.Errorf("start platform: metrics listen: %w", err)
		}
		mux := http.NewServeMux()
		mux.Handle("GET /metrics", promhttp.HandlerFor(p.promReg, promhttp.HandlerOpts{Registry: p.promReg, EnableOpenMetrics: true}))
		p.metSrv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, ErrorLog: p.httpErrs.logger("metrics")}
		go func() { _ = p.metSrv.Serve(p.metLn) }()
		metricsEndpoint = "http://" + p.metLn.Addr().String() + "/metrics"
	}

	p.target = &iotda.Target{
		Name:            cfg.Name,
		APIEndpoint:     "https://" + p.apiLn.Addr().String(),
		MQTTEndpoint:    p.broker.Addr(),
		MetricsEndpoint: metricsEndpoint,
		Region:          "local",
		ProjectID:       project.ID,
		AccessKey:       project.AccessKey,
		SecretKey:       project.SecretKey,
		Token:           project.Token,
		CAFile:          ServerCAFile,
		AdminToken:      p.admin,
	}
	if err := p.target.Save(p.TargetPath()); err != nil {
		return fmt.Errorf("start platform: %w", err)
	}
	cfg.Logger.Info("platform ready", "api", p.target.APIEndpoint, "mqtt", p.target.MQTTEndpoint,
		"metrics", metricsEndpoint, "project", project.ID, "target", p.TargetPath(),
		"mqtt_max_conns", maxConns, "open_file_limit", nofile)
	return nil
}

// firstProject returns the oldest project, creating DefaultProject on first start.
func (p *Platform) firstProject(ctx context.Context) (registry.Project, error) {
	if ps := p.reg.Projects(); len(ps) > 0 {
		return ps[0], nil
	}
	return p.reg.CreateProject(ctx, DefaultProject)
}

// Target describes how to reach this platform (as written to target.json).
func (p *Platform) Target() *iotda.Target { return p.target }

// TargetPath is DIR/target.json.
func (p *Platform) TargetPath() string { return filepath.Join(p.cfg.DataDir, TargetFile) }

// Registry exposes the registry (tests and in-process tooling).
func (p *Platform) Registry() *registry.Registry { return p.reg }

// Broker exposes the MQTT broker (tests and in-process tooling).
func (p *Platform) Broker() *broker.Broker { return p.broker }

// Gatherer exposes the platform's Prometheus registry.
func (p *Platform) Gatherer() prometheus.Gatherer { return p.promReg }

// Close stops the listeners and the broker, then closes the registry. It is idempotent.
func (p *Platform) Close() error {
	p.once.Do(func() {
		var errs []error
		if p.apiSrv != nil {
			errs = append(errs, p.shutdown(p.apiSrv))
		} else if p.apiLn != nil {
			errs = append(errs, p.apiLn.Close())
		}
		if p.metSrv != nil {
			errs = append(errs, p.shutdown(p.metSrv))
		} else if p.metLn != nil {
			errs = append(errs, p.metLn.Close())
		}
		if p.broker != nil {
			errs = append(errs, p.broker.Close())
		}
		if p.reg != nil {
			errs = append(errs, p.reg.Close())
		}
		p.httpErrs.close()
		errs = append(errs, p.lock.release()) // last: nothing of ours writes in the directory any more
		p.closeErr = errors.Join(errs...)
	})
	return p.closeErr
}

// shutdown stops an HTTP server gracefully for at most shutdownTimeout. A
// server exists only after Start, which set p.ctx.
func (p *Platform) shutdown(srv *http.Server) error {
	ctx, cancel := context.WithTimeout(p.ctx, shutdownTimeout)
	defer cancel()
	return srv.Shutdown(ctx)
}

// readOrCreateSecret returns the hex secret stored in path, creating it on first use.
func readOrCreateSecret(path string) (string, error) {
	if b, err := os.ReadFile(path); err == nil {
		return string(b), nil
	} else if !errors.Is(err, os.ErrNotExist) {
		return "", err
	}
	buf := make([]byte, 24)
	if _, err := rand.Read(buf); err != nil {
		return "", err
	}
	s := hex.EncodeToString(buf)
	return s, writeFileAtomic(path, []byte(s), dataFileMode)
}

// writeFileAtomic writes data to path through a synced temporary file and a rename.
func writeFileAtomic(path string, data []byte, perm os.FileMode) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(perm); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
