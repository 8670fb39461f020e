package host

import (
	"crypto/tls"
	"strings"
	"testing"

	"github.com/certlab/certlab/sim/pki"
)

// TestMeasureClientFloor measures the floor for key types whose costs are
// far apart, so the test shows that the operations are really done (an RSA
// device key signs ≈30× slower than ECDSA P-256; the hybrid exchange adds
// ML-KEM-768 to X25519) without timing anything tightly.
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
	if base.Us < 20 || base.Us > 5000 {
		t.Errorf("ECDSA P-256/X25519 floor = %.0f µs: not a measurement of four public-key operations", base.Us)
	}
	if rsa := measure(tls.X25519, pki.RSA2048, pki.ECDSAP256); rsa.Us < 2*base.Us || !strings.Contains(rsa.Ops, "RSA 2048 sign") {
		t.Errorf("RSA-2048 device key: %.0f µs (%s), want well above ECDSA's %.0f µs", rsa.Us, rsa.Ops, base.Us)
	}
	if hy := measure(tls.X25519MLKEM768, pki.ECDSAP256, pki.ECDSAP256); hy.Us < 1.2*base.Us || !strings.HasPrefix(hy.Ops, "X25519MLKEM768 ") {
		t.Errorf("hybrid key exchange: %.0f µs (%s), want above X25519's %.0f µs", hy.Us, hy.Ops, base.Us)
	}
	if _, err := MeasureClientFloor(FloorSpec{Group: tls.X25519, ServerKey: pki.ECDSAP256}); err == nil {
		t.Error("no client key: want an error")
	}
}
