package loadgen

import (
	"context"
	"fmt"
	"os"
	"testing"

	"github.com/certlab/certlab/loadgen/host"
)

// baselineChildEnv makes the test binary act as the baseline server child
// (what `certlab loadgen baseline-server` is for the real binary), so the
// tests exercise the real child-process path.
const baselineChildEnv = "CERTLAB_LOADGEN_TEST_BASELINE_CHILD"

func TestMain(m *testing.M) {
	if os.Getenv(baselineChildEnv) == "1" {
		if err := host.BaselineMain(context.Background(), os.Args[1:], os.Stdin, os.Stdout); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
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
