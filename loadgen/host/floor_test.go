package host

import (
	"crypto/tls"
	"strings"
	"testing"

	"github.com/certlab/certlab/sim/pki"
)

// TestMeasureClientFloor checks that the floor names the operations it
// performs for each key type and yields a positive figure. It asserts no
// ratio between the figures: under -race on a shared CI machine an ECDSA
// floor measured 1,647 µs against a quiet machine's ≈100 µs, so any
// timing comparison here is noise. The figures belong in `certlab
// loadgen` reports, which print the floor beside the measured CPU/login.
func TestMeasureClientFloor(t *testing.T) {
	if testing.Short() {
		t.Skip("measures ≈1.5 s of crypto")
	}
	measure := func(kex tls.CurveID, clientKey pki.KeyType, server pki.KeyType) Floor {
		t.Helper()
		key, err := pki.GenerateKey(clientKey)
		if err != nil {
			t.Fatal(err)
		}
		f, err := MeasureClientFloor(FloorSpec{Group: kex, ClientKey: key, ServerKey: server})
		if err != nil {
			t.Fatalf("%s/%s/%s: %v", kex, clientKey, server, err)
		}
		t.Logf("%s: %.0f µs", f.Ops, f.Us)
		return f
	}
	base := measure(tls.X25519, pki.ECDSAP256, pki.ECDSAP256)
	if want := "X25519 + ECDSA P-256 sign + 2× ECDSA P-256 verify"; base.Ops != want {
		t.Errorf("ops = %q, want %q", base.Ops, want)
	}
	if base.Us <= 0 {
		t.Errorf("ECDSA P-256/X25519 floor = %.0f µs: nothing measured", base.Us)
	}
	if rsa := measure(tls.X25519, pki.RSA2048, pki.ECDSAP256); rsa.Us <= 0 || !strings.Contains(rsa.Ops, "RSA 2048 sign") {
		t.Errorf("RSA-2048 device key: %.0f µs (%s), want a positive figure for an RSA 2048 signature", rsa.Us, rsa.Ops)
	}
	if hy := measure(tls.X25519MLKEM768, pki.ECDSAP256, pki.ECDSAP256); hy.Us <= 0 || !strings.HasPrefix(hy.Ops, "X25519MLKEM768 ") {
		t.Errorf("hybrid key exchange: %.0f µs (%s), want a positive figure for X25519MLKEM768", hy.Us, hy.Ops)
	}
	if _, err := MeasureClientFloor(FloorSpec{Group: tls.X25519, ServerKey: pki.ECDSAP256}); err == nil {
		t.Error("no client key: want an error")
	}
}
