package loadgen

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"testing"

	"github.com/certlab/certlab/loadgen/host"
	"github.com/certlab/certlab/platform"
)

// baselineChildEnv makes the test binary act as the baseline server child
// (what `certlab loadgen baseline-server` is for the real binary), so the
// tests exercise the real child-process path.
const baselineChildEnv = "CERTLAB_LOADGEN_TEST_BASELINE_CHILD"

// platformChildEnv makes the test binary act as `certlab platform` (the
// flags host.PlatformProcess passes, and --max-handshakes), so storms kill
// and restart a real platform in a real child process. Test code may import
// the platform; this package's code may not.
const platformChildEnv = "CERTLAB_LOADGEN_TEST_PLATFORM_CHILD"

func TestMain(m *testing.M) {
	if os.Getenv(baselineChildEnv) == "1" {
		if err := host.BaselineMain(context.Background(), os.Args[1:], os.Stdin, os.Stdout); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	if os.Getenv(platformChildEnv) == "1" {
		if err := platformChildMain(os.Args[1:]); err != nil {
			fmt.Fprintln(os.Stderr, "platform child:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// platformChildMain is a minimal `certlab platform`: it serves until SIGTERM.
func platformChildMain(args []string) error {
	fs := flag.NewFlagSet("platform", flag.ContinueOnError)
	var cfg platform.Config
	fs.StringVar(&cfg.DataDir, "data", "", "")
	fs.StringVar(&cfg.APIAddr, "api-addr", "", "")
	fs.StringVar(&cfg.MQTTAddr, "mqtt-addr", "", "")
	fs.StringVar(&cfg.MetricsAddr, "metrics-addr", "", "")
	fs.IntVar(&cfg.MaxHandshakes, "max-handshakes", 0, "")
	fs.IntVar(&cfg.HandshakeQueue, "handshake-queue", 0, "")
	fs.String("log-level", "", "")
	if err := fs.Parse(args); err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	p, err := platform.New(cfg)
	if err != nil {
		return err
	}
	if err := p.Start(ctx); err != nil {
		return err
	}
	<-ctx.Done()
	return p.Close()
}

// testBaselineOptions start the baseline child from the test binary.
func testBaselineOptions(t *testing.T) *host.BaselineOptions {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	return &host.BaselineOptions{Command: []string{exe}, Env: []string{baselineChildEnv + "=1"}, Dir: t.TempDir()}
}
