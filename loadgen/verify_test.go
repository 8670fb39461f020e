package loadgen

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"testing"
	"time"

	"github.com/certlab/certlab/loadgen/host"
	"github.com/certlab/certlab/loadgen/result"
	"github.com/certlab/certlab/sim/device"
	"github.com/certlab/certlab/sim/pki"
)

func TestCachedVerifier(t *testing.T) {
	ca, err := pki.NewRootCA("server CA")
	if err != nil {
		t.Fatal(err)
	}
	srv, err := ca.NewServerCert("srv", []string{"srv.example"})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	expired, err := ca.NewServerCert("old", []string{"srv.example"}, pki.WithValidity(now.Add(-48*time.Hour), now.Add(-time.Hour)))
	if err != nil {
		t.Fatal(err)
	}
	stranger, err := pki.NewRootCA("stranger")
	if err != nil {
		t.Fatal(err)
	}
	foreign, err := stranger.NewServerCert("srv", []string{"srv.example"})
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(ca.Cert)
	tests := []struct {
		name    string
		leaf    *x509.Certificate
		host    string
		wantErr bool
	}{
		{"trusted", srv.Cert, "srv.example", false},
		{"trusted by IP SAN", srv.Cert, "127.0.0.1", false},
		{"wrong name", srv.Cert, "other.example", true},
		{"expired", expired.Cert, "srv.example", true},
		{"unknown issuer", foreign.Cert, "srv.example", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := newCachedVerifier(roots, tt.host)
			for range 2 { // the second call answers from the cache, the same way
				err := v.verify(tls.ConnectionState{PeerCertificates: []*x509.Certificate{tt.leaf}})
				if (err != nil) != tt.wantErr {
					t.Fatalf("verify = %v, wantErr %v", err, tt.wantErr)
				}
				if _, ok := errors.AsType[*tls.CertificateVerificationError](err); err != nil && !ok {
					t.Fatalf("error %T, want *tls.CertificateVerificationError", err)
				}
			}
			if want := map[bool]int{false: 1, true: 0}[tt.wantErr]; len(v.verified) != want {
				t.Errorf("%d cached certificates, want %d", len(v.verified), want)
			}
		})
	}
}

// Both verification modes refuse a server the roots do not vouch for: the
// attempts fail in the TLS phase as errors (our verdict, not the server's).
func TestUntrustedServerIsAnError(t *testing.T) {
	f := testFleet(t, 4, 1)
	ids := testIdentities(t, f, IdentityOptions{})
	bo := testBaselineOptions(t)
	bo.ClientCAs = clientCAs(ids)
	bp, err := host.StartBaseline(t.Context(), *bo)
	if err != nil {
		t.Fatal(err)
	}
	defer bp.Stop()
	for _, mode := range []string{VerifyCached, VerifyFull} {
		t.Run(mode, func(t *testing.T) {
			var got collect
			cfg := AttackConfig{Server: result.ServerBaseline, Addr: bp.Addr, ServerName: bp.ServerName, RootCAs: x509.NewCertPool(),
				Mode: result.ModeTLSOnly, Workers: 2, Count: 4, VerifyServer: mode}
			if _, err := Attack(t.Context(), cfg, ids, &got); err != nil {
				t.Fatal(err)
			}
			for _, r := range got.rs {
				if r.Outcome != result.OutcomeError || r.Phase != result.PhaseTLS || r.Reason != device.ReasonServerCert || !r.Unexpected {
					t.Errorf("attempt %d: %s/%s/%s unexpected=%v, want error/tls/server_cert", r.Seq, r.Outcome, r.Phase, r.Reason, r.Unexpected)
				}
			}
		})
	}
}
