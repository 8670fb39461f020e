package preflight

import (
	"bytes"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/certlab/certlab/iotda"
	"github.com/certlab/certlab/platform/platformtest"
	"github.com/certlab/certlab/sim/pki"
)

// closedAddr returns a loopback address nothing listens on.
func closedAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	return addr
}

// plainTCP returns the address of a listener that answers like an HTTP
// server, without TLS, until the test ends.
func plainTCP(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			_, _ = c.Write([]byte("HTTP/1.1 400 Bad Request\r\n\r\n"))
			_ = c.Close()
		}
	}()
	return ln.Addr().String()
}

// requireCheck requires a check of that name and status whose message
// says every hint.
func requireCheck(t *testing.T, r Report, name string, st Status, hints ...string) {
	t.Helper()
	var out bytes.Buffer
	_ = r.WriteText(&out)
next:
	for _, c := range r.Checks {
		if c.Name != name || c.Status != st {
			continue
		}
		for _, h := range hints {
			if !strings.Contains(c.Message, h) {
				continue next
			}
		}
		return
	}
	t.Errorf("no %s check with status %s saying %q:\n%s", name, st, hints, out.String())
}

func TestPreflight(t *testing.T) {
	p := platformtest.Start(t)
	good := p.Target()
	if good.Token == "" {
		t.Fatal("the platform's target has no token; the token case would not be tested")
	}
	stranger, err := pki.NewRootCA("stranger CA")
	if err != nil {
		t.Fatal(err)
	}
	strangerFile := filepath.Join(t.TempDir(), "stranger.pem")
	if err := os.WriteFile(strangerFile, pki.CertPEM(stranger.Cert), 0o600); err != nil {
		t.Fatal(err)
	}
	opts := Options{Timeout: 3 * time.Second, Source: "target.json"}

	t.Run("a good target passes every check", func(t *testing.T) {
		r := Run(t.Context(), good, opts)
		if !r.OK() || r.Err() != nil {
			t.Fatalf("good target: %v", r.Err())
		}
		for _, name := range []string{"api-reachable", "api-tls", "mqtt-reachable"} {
			requireCheck(t, r, name, StatusOK)
		}
		requireCheck(t, r, "api-credentials", StatusOK, "access_key/secret_key accepted")
		requireCheck(t, r, "api-credentials", StatusOK, "token accepted")
		requireCheck(t, r, "mqtt-tls", StatusOK, "demands a client certificate")
	})

	cases := []struct {
		name   string
		change func(t *iotda.Target)
		check  string
		hints  []string
	}{
		{"API port closed", func(t2 *iotda.Target) { t2.APIEndpoint = "https://" + closedAddr(t) },
			"api-reachable", []string{"nothing listens there", "api_endpoint in target.json"}},
		{"API is not TLS", func(t2 *iotda.Target) { t2.APIEndpoint = "https://" + plainTCP(t) },
			"api-tls", []string{"does not speak TLS"}},
		{"ca_file is another CA", func(t2 *iotda.Target) { t2.CAFile = strangerFile },
			"api-tls", []string{"is not signed by ca_file", "set ca_file in target.json"}},
		{"wrong secret_key", func(t2 *iotda.Target) { t2.SecretKey += "x" },
			"api-credentials", []string{"check secret_key in target.json"}},
		{"unknown access_key", func(t2 *iotda.Target) { t2.AccessKey = "NOSUCHKEY" },
			"api-credentials", []string{`access_key "NOSUCHKEY" is not known`}},
		{"wrong token", func(t2 *iotda.Target) { t2.Token += "x" },
			"api-credentials", []string{"check token in target.json"}},
		{"wrong project_id", func(t2 *iotda.Target) { t2.ProjectID = "0123456789abcdef0123456789abcdef" },
			"api-credentials", []string{"check project_id"}},
		{"MQTT port closed", func(t2 *iotda.Target) { t2.MQTTEndpoint = closedAddr(t) },
			"mqtt-reachable", []string{"nothing listens there", "mqtt_endpoint in target.json"}},
		{"MQTT is not TLS", func(t2 *iotda.Target) { t2.MQTTEndpoint = plainTCP(t) },
			"mqtt-tls", []string{"does not speak TLS"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			bad := *good
			tc.change(&bad)
			r := Run(t.Context(), &bad, opts)
			if r.OK() || r.Err() == nil {
				t.Fatalf("a target with %s passed", tc.name)
			}
			requireCheck(t, r, tc.check, StatusFail, tc.hints...)
		})
	}

	t.Run("a target without an API skips the API checks", func(t *testing.T) {
		bare := *good
		bare.APIEndpoint, bare.AccessKey, bare.SecretKey, bare.Token = "", "", "", ""
		r := Run(t.Context(), &bare, opts)
		if !r.OK() {
			t.Fatalf("MQTT-only target: %v", r.Err())
		}
		requireCheck(t, r, "api", StatusSkip, "no api_endpoint")
		requireCheck(t, r, "mqtt-tls", StatusOK)
	})
}
