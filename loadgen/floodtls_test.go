package loadgen

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/certlab/certlab/loadgen/result"
	"github.com/certlab/certlab/sim/pki"
)

// tlsServer serves crypto/tls handshakes with cfg on loopback and reports
// each handshake's error; it stops with the test.
func tlsServer(t *testing.T, cfg *tls.Config) (addr string, errs <-chan error) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ch := make(chan error, 16)
	var wg sync.WaitGroup
	t.Cleanup(func() { _ = ln.Close(); wg.Wait() })
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Go(func() {
				defer c.Close()
				_ = c.SetDeadline(time.Now().Add(5 * time.Second))
				tc := tls.Server(c, cfg)
				err := tc.Handshake()
				select {
				case ch <- err:
				default:
				}
			})
		}
	})
	return ln.Addr().String(), ch
}

func serverTLS(t *testing.T) tls.Certificate {
	t.Helper()
	ca, err := pki.NewRootCA("flood test server CA")
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := ca.NewServerCert("127.0.0.1", nil)
	if err != nil {
		t.Fatal(err)
	}
	return leaf.TLSCertificate()
}

// floodOnce runs one flood handshake against addr.
func floodOnce(t *testing.T, addr string, chain [][]byte, timeout time.Duration) floodVerdict {
	t.Helper()
	hello, err := newFloodHello("localhost")
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(timeout)
	c, err := floodDial(t.Context(), addr, deadline)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	resetOnClose(c)
	_ = c.SetDeadline(deadline)
	return floodHandshake(t.Context(), c, hello, chain)
}

// The hand-made TLS 1.3 client gets the verdicts crypto/tls's server gives
// a peer without a certificate and a peer with an unknown CA's: the
// server's own alerts, decrypted under its application traffic key (any
// mistake in the key schedule or the transcript shows as a decryption
// failure on either side).
func TestFloodHandshakeAgainstCryptoTLS(t *testing.T) {
	known, err := pki.NewRootCA("the CA the server trusts")
	if err != nil {
		t.Fatal(err)
	}
	stranger, err := pki.NewRootCA("a CA nobody uploaded")
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := stranger.NewDeviceCert("flood-peer")
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(known.Cert)
	cert := serverTLS(t)
	cases := []struct {
		name       string
		clientAuth tls.ClientAuthType
		verify     bool // the platform's way: RequireAnyClientCert + VerifyConnection
		chain      [][]byte
		want       string
		serverErr  string
	}{
		{"no certificate", tls.RequireAnyClientCert, false, nil, result.AlertCertificateRequired, "client didn't provide a certificate"},
		{"unknown CA, chain verified by crypto/tls", tls.RequireAndVerifyClientCert, false, [][]byte{leaf.Cert.Raw}, result.AlertUnknownCA, "certificate signed by unknown authority"},
		{"unknown CA, chain decided in VerifyConnection", tls.RequireAnyClientCert, true, [][]byte{leaf.Cert.Raw}, result.AlertBadCertificate, "unknown authority"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := &tls.Config{Certificates: []tls.Certificate{cert}, ClientAuth: tc.clientAuth, ClientCAs: pool, MinVersion: tls.VersionTLS12}
			if tc.verify {
				cfg.VerifyConnection = func(cs tls.ConnectionState) error {
					if len(cs.PeerCertificates) == 0 {
						return errors.New("no certificate")
					}
					_, err := cs.PeerCertificates[0].Verify(x509.VerifyOptions{Roots: pool, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}})
					return err
				}
			}
			addr, errs := tlsServer(t, cfg)
			v := floodOnce(t, addr, tc.chain, 5*time.Second)
			if v.outcome != result.OutcomeRefused || v.phase != result.PhaseTLS || v.reason != tc.want {
				t.Fatalf("verdict %s %s %s (%v), want refused in tls with %q", v.outcome, v.phase, v.reason, v.err, tc.want)
			}
			select {
			case err := <-errs:
				if err == nil || !strings.Contains(err.Error(), tc.serverErr) {
					t.Fatalf("server's handshake error %v, want one saying %q", err, tc.serverErr)
				}
			case <-time.After(5 * time.Second):
				t.Fatal("the server never finished the handshake")
			}
		})
	}

	t.Run("a server that accepts the chain waits for CertificateVerify: no verdict", func(t *testing.T) {
		cfg := &tls.Config{Certificates: []tls.Certificate{cert}, ClientAuth: tls.RequireAnyClientCert}
		addr, _ := tlsServer(t, cfg)
		v := floodOnce(t, addr, [][]byte{leaf.Cert.Raw}, 300*time.Millisecond)
		if v.outcome != result.OutcomeError || v.reason != "timeout" {
			t.Fatalf("verdict %s %s (%v), want an error: timeout", v.outcome, v.reason, v.err)
		}
	})

	t.Run("a TLS 1.2-only server refuses the version", func(t *testing.T) {
		cfg := &tls.Config{Certificates: []tls.Certificate{cert}, ClientAuth: tls.RequireAnyClientCert, MaxVersion: tls.VersionTLS12}
		addr, _ := tlsServer(t, cfg)
		v := floodOnce(t, addr, nil, 5*time.Second)
		if v.outcome != result.OutcomeRefused || v.reason != "tls_alert:protocol version not supported" {
			t.Fatalf("verdict %+v, want refused with alert protocol version", v)
		}
	})

	t.Run("a connection reset before any TLS byte is closed_before_tls", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		go func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				buf := make([]byte, 512)
				_, _ = c.Read(buf) // the ClientHello arrives, as at the platform's handshake bound
				resetOnClose(c)
				_ = c.Close()
			}
		}()
		v := floodOnce(t, ln.Addr().String(), nil, 5*time.Second)
		if v.outcome != result.OutcomeRefused || v.reason != result.ReasonClosedBeforeTLS {
			t.Fatalf("verdict %+v, want refused: closed_before_tls", v)
		}
	})
}

func TestParseFloodRate(t *testing.T) {
	for in, want := range map[string]FloodRate{"2000": {PerSecond: 2000}, "2x": {Multiple: 2}, "0.5X": {Multiple: 0.5}, " 1.5x ": {Multiple: 1.5}} {
		got, err := ParseFloodRate(in)
		if err != nil || got != want {
			t.Errorf("ParseFloodRate(%q) = %+v, %v; want %+v", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "x", "0", "-3", "0x", "-2x", "fast", "2xx", "NaN", "Infx"} {
		if _, err := ParseFloodRate(bad); err == nil {
			t.Errorf("ParseFloodRate(%q) accepted", bad)
		}
	}
}
