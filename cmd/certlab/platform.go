package main

import (
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"time"

	"github.com/spf13/cobra"

	"github.com/certlab/certlab/iotda"
	"github.com/certlab/certlab/loadgen/host"
	"github.com/certlab/certlab/platform"
	"github.com/certlab/certlab/platform/broker"
)

func platformCmd() *cobra.Command {
	var cfg platform.Config
	var gogc, procs int
	var logLevel, cpuProfile string
	cmd := &cobra.Command{
		Use:   "platform",
		Short: "Run the reference platform (IoTDA REST API, MQTTS with X.509 login, metrics) until stopped",
		Long: `Run the reference platform until SIGINT/SIGTERM.

When ready it writes DIR/target.json and DIR/server-ca.pem with the addresses it
actually bound (port 0 allowed); every other certlab command takes --target DIR/target.json.`,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg.Logger = newLogger(logLevel)
			gc := host.ApplyServerGOGC(gogc)
			if procs > 0 {
				runtime.GOMAXPROCS(procs)
			}
			stopProfile, err := startPlatformProfile(cpuProfile)
			if err != nil {
				return err
			}
			defer stopProfile()
			if cfg.MaxHandshakes <= 0 {
				cfg.MaxHandshakes = -1 // the flag's 0 or negative: unbounded
			}
			p, err := platform.New(cfg)
			if err != nil {
				return err
			}
			if err := p.Start(cmd.Context()); err != nil {
				return err
			}
			t := p.Target()
			fmt.Fprintf(cmd.OutOrStdout(), "certlab platform ready\n  API      %s\n  console  %s/console/\n  MQTTS    %s\n  metrics  %s\n  project  %s\n  target   %s\n  GOGC     %s\n",
				t.APIEndpoint, t.APIEndpoint, t.MQTTEndpoint, t.MetricsEndpoint, t.ProjectID, p.TargetPath(), gc)
			<-cmd.Context().Done()
			fmt.Fprintln(cmd.OutOrStdout(), "certlab platform: shutting down")
			return p.Close()
		},
	}
	f := cmd.Flags()
	f.StringVar(&cfg.DataDir, "data", "certlab-data", "data directory (registry, server PKI, credentials, target.json)")
	f.StringVar(&cfg.APIAddr, "api-addr", "127.0.0.1:8943", "HTTPS API listen address")
	f.StringVar(&cfg.MQTTAddr, "mqtt-addr", "127.0.0.1:8883", "MQTTS listen address")
	f.StringVar(&cfg.MetricsAddr, "metrics-addr", "127.0.0.1:9464", `Prometheus metrics listen address ("off" to disable)`)
	f.StringVar(&cfg.TLSCertFile, "tls-cert", "", "server certificate PEM (default: minted from the data directory's CA)")
	f.StringVar(&cfg.TLSKeyFile, "tls-key", "", "server key PEM")
	f.DurationVar(&cfg.ConnectTimeout, "connect-timeout", 10*time.Second, "deadline for TLS handshake + MQTT CONNECT")
	f.IntVar(&cfg.MaxClients, "max-clients", 0, "live MQTT sessions before refusing logins with server_busy (CONNACK 0x03/0x89; 0 = unlimited)")
	f.IntVar(&cfg.MaxConns, "max-conns", 0, "open MQTT connections (any stage) before new ones are closed at accept with server_busy; must stay below the open-file limit so the API stays reachable (0 = the open-file limit minus max(64, 1/8 of it); -1 = unlimited)")
	f.IntVar(&cfg.MaxHandshakes, "max-handshakes", broker.DefaultMaxHandshakes(),
		"MQTTS TLS handshakes in flight before new connections wait, then are closed before TLS with server_busy (default 32 per GOMAXPROCS; 0 or negative = unbounded)")
	f.IntVar(&cfg.HandshakeQueue, "handshake-queue", 0, "connections that may wait up to 1 s for a handshake slot (0 = as many as --max-handshakes; negative = none)")
	f.StringVar(&logLevel, "log-level", "info", "log level: debug, info, warn, error")
	f.IntVar(&procs, "procs", 0, "GOMAXPROCS: CPUs the platform's Go code runs on at once (0 = $GOMAXPROCS, else all)")
	f.IntVar(&gogc, "gogc", host.ServerGOGC, "Go collector target (GOGC): the heap may grow to (1+gogc/100)× the live heap between collections; GOGC in the environment wins; 0 = Go's default 100")
	f.StringVar(&cpuProfile, "cpuprofile", "", "write a CPU profile of the platform to this file, from start to shutdown (go tool pprof; e.g. loadgen --platform-flag=--cpuprofile=platform.prof)")
	cmd.AddCommand(projectCmd())
	return cmd
}

// startPlatformProfile profiles the platform into path until the returned
// func is called at shutdown ("" profiles nothing). A platform killed with
// SIGKILL writes no profile.
func startPlatformProfile(path string) (stop func(), err error) {
	if path == "" {
		return func() {}, nil
	}
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("--cpuprofile: %w", err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("--cpuprofile: %w", err)
	}
	return func() {
		pprof.StopCPUProfile()
		_ = f.Close()
	}, nil
}

func projectCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "project", Short: "Manage projects (tenants) of a running platform"}
	var dataDir, targetPath string
	add := &cobra.Command{
		Use:   "add NAME",
		Short: "Add a project with its own credentials and CA quota; prints its target file",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if targetPath == "" {
				targetPath = filepath.Join(dataDir, platform.TargetFile)
			}
			t, err := iotda.LoadTarget(targetPath)
			if err != nil {
				return fmt.Errorf("project add: %w (is the platform running?)", err)
			}
			c, err := t.Client()
			if err != nil {
				return fmt.Errorf("project add: %w", err)
			}
			creds, err := c.AddProject(cmd.Context(), t.AdminToken, args[0])
			if err != nil {
				return fmt.Errorf("project add: %w", err)
			}
			nt := *t
			nt.Name, nt.ProjectID, nt.AccessKey, nt.SecretKey, nt.Token = creds.Name, creds.ProjectID, creds.AccessKey, creds.SecretKey, ""
			nt.AdminToken = ""
			out := filepath.Join(filepath.Dir(targetPath), "target-"+creds.Name+".json")
			if err := nt.Save(out); err != nil {
				return fmt.Errorf("project add: %w", err)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "project %s (%s) created\n  access key  %s\n  target      %s\n", creds.Name, creds.ProjectID, creds.AccessKey, out)
			return nil
		},
	}
	add.Flags().StringVar(&dataDir, "data", "certlab-data", "data directory of the running platform")
	add.Flags().StringVar(&targetPath, "target", "", "target file with the admin token (default DATA/target.json)")
	cmd.AddCommand(add)
	return cmd
}

func newLogger(level string) *slog.Logger {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		l = slog.LevelInfo
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: l}))
}
