// Command certlab is the one binary of the certlab harness: the reference
// platform, the Gherkin suite, the fleet simulator, the login load generator,
// reports and PKI tooling. It only parses flags into config structs and calls
// the libraries; no protocol logic lives here.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/certlab/certlab/loadgen/host"
)

// exitError carries a process exit code without printing anything more.
type exitError struct{ code int }

func (e exitError) Error() string { return fmt.Sprintf("exit status %d", e.code) }

func main() {
	if len(os.Args) > 1 && os.Args[1] == "loadgen" && (len(os.Args) == 2 || os.Args[2] != "baseline-server") {
		// Before anything else: this may replace the process (same PID).
		// Not for the baseline server: it is measured with Go's defaults.
		if err := host.ReexecForLoad(os.Args); err != nil {
			fmt.Fprintln(os.Stderr, "certlab: warning:", err)
		}
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := newRootCmd().ExecuteContext(ctx)
	var ee exitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		os.Exit(ee.code)
	default:
		fmt.Fprintln(os.Stderr, "certlab:", err)
		os.Exit(1)
	}
}

// newRootCmd builds the command tree. Commands write to the root's
// OutOrStdout/ErrOrStderr and return exitError for a status other than 1.
func newRootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:           "certlab",
		Short:         "Conformance and load-test harness for certificate-authenticated IoT device logins",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(platformCmd(), bddCmd(), simCmd(), pkiCmd(), loadgenCmd(), reportCmd(), attemptsCmd(), checkCmd(), targetCmd())
	return root
}
