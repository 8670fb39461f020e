package broker

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/certlab/certlab/iotda"
)

func TestCipherSuiteName(t *testing.T) {
	ids := []uint16{0, 0x5600, 0xffff} // unknown ones fall back to the hex form
	for _, c := range append(tls.CipherSuites(), tls.InsecureCipherSuites()...) {
		ids = append(ids, c.ID)
	}
	for _, id := range ids {
		if got, want := cipherSuiteName(id), tls.CipherSuiteName(id); got != want {
			t.Errorf("cipherSuiteName(%#04x) = %q, want %q", id, got, want)
		}
	}
}

func TestNameCache(t *testing.T) {
	f := getFixture(t)
	var c nameCache
	leaves := make([]string, 0, 3)
	for i := range 3 {
		leaf, err := f.caA.NewDeviceCert(fmt.Sprintf("prod-mqtt_names%d", i))
		if err != nil {
			t.Fatal(err)
		}
		cert := leaf.Cert
		for range 2 { // miss, then hit
			if got, want := c.format(cert.RawSubject, &cert.Subject), cert.Subject.String(); got != want {
				t.Errorf("subject %q, want %q", got, want)
			}
			if got, want := c.format(cert.RawIssuer, &cert.Issuer), cert.Issuer.String(); got != want {
				t.Errorf("issuer %q, want %q", got, want)
			}
		}
		leaves = append(leaves, cert.Subject.String())
	}
	if len(c.m) != len(leaves)+1 { // three subjects, one shared issuer
		t.Errorf("cache holds %d names, want %d", len(c.m), len(leaves)+1)
	}
	// The bound: a full cache starts over instead of growing.
	for i := range maxCachedNames + 10 {
		c.m[fmt.Sprint(i)] = ""
		if len(c.m) >= maxCachedNames {
			break
		}
	}
	cert := f.caB.Cert
	if got := c.format(cert.RawSubject, &cert.Subject); got != cert.Subject.String() || len(c.m) != 1 {
		t.Errorf("after overflow: %q, %d entries; want %q, 1 entry", got, len(c.m), cert.Subject.String())
	}
}

// Times are formatted when the attempt is read, as they were when recorded.
func TestAttemptTimesFormattedOnRead(t *testing.T) {
	l := newAttemptLog(2)
	at := time.Date(2026, 11, 26, 8, 1, 2, 345_678_901, time.FixedZone("X", 3600))
	nb, na := at.Add(-time.Hour), at.Add(time.Hour)
	l.put(attemptRec{a: iotda.LoginAttempt{DeviceID: "d"}, at: at, leaf: true, notBefore: nb, notAfter: na})
	l.add(iotda.LoginAttempt{DeviceID: "e", Time: "as given"})
	got := l.list("", "", 0)
	if len(got) != 2 {
		t.Fatalf("%d attempts, want 2", len(got))
	}
	if got[0].Time != "as given" || got[0].CertNotBefore != "" {
		t.Errorf("preformatted attempt changed: %+v", got[0])
	}
	if got[1].Time != "2026-11-26T07:01:02.345Z" || got[1].CertNotBefore != "2026-11-26T06:01:02Z" || got[1].CertNotAfter != "2026-11-26T08:01:02Z" {
		t.Errorf("times %q %q %q", got[1].Time, got[1].CertNotBefore, got[1].CertNotAfter)
	}
}

// The SHA-1 fingerprint is computed only when needed, and then still matches
// and still appears in the mismatch explanation. [DEV-FINGERPRINT]
func TestLazySHA1Fingerprint(t *testing.T) {
	f := getFixture(t)
	leaf, err := f.caA.NewDeviceCert("prod-mqtt_lazy-sha1")
	if err != nil {
		t.Fatal(err)
	}
	other, err := f.caA.NewDeviceCert("prod-mqtt_lazy-sha1-other")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, primary string
		want          iotda.Reason
		sha1Needed    bool
	}{
		{"SHA-256 match", leaf.FingerprintSHA256(), iotda.ReasonOK, false},
		{"SHA-1 match, upper case", strings.ToUpper(leaf.FingerprintSHA1()), iotda.ReasonOK, true},
		{"mismatch", other.FingerprintSHA256(), iotda.ReasonFingerprintMismatch, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := &connState{}
			st.login.certs = []*x509.Certificate{leaf.Cert}
			st.setLeaf(leaf.Cert)
			v := verdict{device: loginDevice{ID: "d", Fingerprint: tc.primary}}
			reason, detail := st.login.fingerprintRegistered(&v)
			if reason != tc.want {
				t.Fatalf("reason %q (%s), want %q", reason, detail, tc.want)
			}
			if got := st.login.sha1 != ""; got != tc.sha1Needed {
				t.Errorf("SHA-1 computed: %v, want %v", got, tc.sha1Needed)
			}
			if reason != iotda.ReasonOK && (!strings.Contains(detail, leaf.FingerprintSHA1()) || !strings.Contains(detail, leaf.FingerprintSHA256())) {
				t.Errorf("detail %q does not name both fingerprints", detail)
			}
		})
	}
}
