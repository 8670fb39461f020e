package loadgen

import (
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/certlab/certlab/loadgen/host"
	"github.com/certlab/certlab/loadgen/result"
)

// TestCloseReset churns tls-only logins against the baseline server, which
// reads to EOF and closes after the generator: with a FIN close every
// generator socket lingers (FIN_WAIT/TIME_WAIT) and, against a remote
// server, holds an ephemeral port for a minute; with CloseReset none does,
// and every login still succeeds.
func TestCloseReset(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the baseline server")
	}
	ids := testIdentities(t, testFleet(t, 100, 1), IdentityOptions{})
	bo := testBaselineOptions(t)
	bo.ClientCAs = clientCAs(ids)
	bp, err := host.StartBaseline(t.Context(), *bo)
	if err != nil {
		t.Fatal(err)
	}
	defer bp.Stop()
	_, port, err := net.SplitHostPort(bp.Addr)
	if err != nil {
		t.Fatal(err)
	}
	churn := func(reset bool) int {
		t.Helper()
		ac := AttackConfig{Server: result.ServerBaseline, Addr: bp.Addr, ServerName: bp.ServerName, RootCAs: bp.RootCAs,
			Expect: ExpectBaseline, Echo: true, Mode: result.ModeTLSOnly, KeyExchange: KexX25519,
			Workers: 4, Count: len(ids), ConnectTimeout: 10 * time.Second, CloseReset: reset}
		before := lingering(t, port)
		agg := result.NewAggregator()
		if _, err := Attack(t.Context(), ac, ids, agg); err != nil {
			t.Fatal(err)
		}
		s, err := agg.Summary()
		if err != nil {
			t.Fatal(err)
		}
		requireCounts(t, s.Server(result.ServerBaseline), int64(len(ids)), int64(len(ids)), 0)
		n := lingering(t, port) - before
		t.Logf("reset %t: %d of %d sockets linger", reset, n, len(ids))
		return n
	}
	if n := churn(true); n > 2 {
		t.Errorf("reset close: %d sockets towards the server linger, want none", n)
	}
	if n := churn(false); n < len(ids)/2 {
		t.Errorf("FIN close: %d sockets linger after %d logins; the check cannot see them", n, len(ids))
	}
}

// lingering counts this machine's TCP sockets closed first on this side that
// still exist (FIN_WAIT1, FIN_WAIT2, TIME_WAIT) whose remote port is port,
// from /proc/net/tcp and tcp6.
func lingering(t *testing.T, port string) int {
	t.Helper()
	p, err := strconv.Atoi(port)
	if err != nil {
		t.Fatal(err)
	}
	hexPort := fmt.Sprintf(":%04X", p)
	n := 0
	for _, f := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(b), "\n")[1:] {
			// sl local_address rem_address st ...
			fields := strings.Fields(line)
			if len(fields) > 3 && strings.HasSuffix(fields[2], hexPort) &&
				(fields[3] == "04" || fields[3] == "05" || fields[3] == "06") {
				n++
			}
		}
	}
	return n
}
