package host

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"testing"

	"github.com/certlab/certlab/platform"
)

// platformChildEnv makes the test binary act as `certlab platform` (the
// flags PlatformProcess passes, a real platform.Platform), so the tests
// start, kill and restart a real platform in a real child process. Test
// code may import the platform; this package's code may not.
const platformChildEnv = "CERTLAB_HOST_TEST_PLATFORM_CHILD"

func TestMain(m *testing.M) {
	if os.Getenv(reexecChildEnv) == "1" {
		reexecChildMain()
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

// testPlatformOptions start the platform child from the test binary.
func testPlatformOptions(t *testing.T) PlatformOptions {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	return PlatformOptions{Command: []string{exe}, Env: []string{platformChildEnv + "=1", "GORACE=atexit_sleep_ms=0"}}
}
