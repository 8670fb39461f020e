package device

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/certlab/certlab/iotda"
)

var versions = []struct {
	name string
	mqtt iotda.MQTTVersion
	tls  uint16
}{
	{"mqtt31-tls13", 3, tls.VersionTLS13},
	{"mqtt311-tls12", 4, tls.VersionTLS12},
	{"mqtt311-tls13", 4, tls.VersionTLS13},
	{"mqtt5-tls12", 5, tls.VersionTLS12},
	{"mqtt5-tls13", 5, tls.VersionTLS13},
}

// [LOGIN-SUCCESS] A device with a certificate from the trusted CA logs in
// over 3.1.1 and 5, TLS 1.2 and 1.3, and the broker sees its certificate.
func TestLoginSuccess(t *testing.T) {
	t.Parallel()
	b := startBroker(t)
	for _, v := range versions {
		t.Run(v.name, func(t *testing.T) {
			t.Parallel()
			d := newDevice(t, b.deviceCA, "prod_ok-"+v.name)
			cfg := b.config(d, v.mqtt, v.tls)
			s, res := Login(t.Context(), cfg)
			requireOutcome(t, res, iotda.OutcomeSuccess, PhaseNone, ReasonOK)
			if s == nil {
				t.Fatal("success without a session")
			}
			defer s.Close()
			if res.ConnackCode != 0 || res.Err != nil || res.TLSVersion != v.tls || res.CipherSuite == 0 {
				t.Errorf("result = %+v", res)
			}
			if res.TCP <= 0 || res.TLSHandshake <= 0 || res.Connack <= 0 || res.Total < res.TCP+res.TLSHandshake+res.Connack {
				t.Errorf("phase latencies tcp=%v tls=%v connack=%v total=%v", res.TCP, res.TLSHandshake, res.Connack, res.Total)
			}
			if s.Version() != v.mqtt || res.MQTTVersion != v.mqtt {
				t.Errorf("version = %d/%d, want %d", s.Version(), res.MQTTVersion, v.mqtt)
			}
			if got := b.peerCN(cfg.ClientID); got != d.id {
				t.Errorf("broker saw certificate CN %q, want %q", got, d.id)
			}
			select {
			case <-s.Done():
				t.Fatalf("session ended right after login: %v", s.Err())
			default:
			}
			if s.Err() != nil {
				t.Errorf("Err() = %v on a live session", s.Err())
			}
		})
	}
}

// [LOGIN-TLS] A certificate from an unknown CA, or none, is refused in the TLS
// phase with the server's alert, under both TLS versions. Under TLS 1.3 the
// rejection arrives after the handshake; ProbeTLSRejection makes it
// deterministic.
func TestLoginRefusedTLS(t *testing.T) {
	t.Parallel()
	b := startBroker(t)
	rogue := newDevice(t, b.rogueCA, "prod_rogue")
	cases := []struct {
		name  string
		leaf  bool // present the rogue certificate (else none)
		tls   uint16
		alert string
	}{
		// The alerts a Go server sends (docs/libraries.md A2.4).
		{"unknown-ca-tls12", true, tls.VersionTLS12, "unknown certificate authority"},
		{"unknown-ca-tls13", true, tls.VersionTLS13, "unknown certificate authority"},
		{"no-cert-tls12", false, tls.VersionTLS12, "handshake failure"},
		{"no-cert-tls13", false, tls.VersionTLS13, "certificate required"},
	}
	for _, tc := range cases {
		for _, mv := range []iotda.MQTTVersion{4, 5} {
			t.Run(fmt.Sprintf("%s-v%d", tc.name, mv), func(t *testing.T) {
				t.Parallel()
				cfg := b.config(rogue, mv, tc.tls)
				if !tc.leaf {
					cfg.TLS.Certificates = nil
				}
				cfg.ProbeTLSRejection = 500 * time.Millisecond
				s, res := Login(t.Context(), cfg)
				if s != nil {
					s.Close()
				}
				requireOutcome(t, res, iotda.OutcomeRefused, PhaseTLS, AlertReason(res.Alert))
				if res.Alert != tc.alert {
					t.Errorf("alert = %q, want %q", res.Alert, tc.alert)
				}
				if res.ConnackCode != 0 || res.Connack != 0 {
					t.Errorf("a TLS refusal read a CONNACK: %+v", res)
				}
				if tc.tls == tls.VersionTLS13 && res.TLSProbe <= 0 {
					t.Errorf("TLS 1.3 refusal without a probe: %+v", res)
				}
			})
		}
	}
}

// A device presents its certificate even when the server's CertificateRequest
// names other CAs; crypto/tls's own selection would send none and turn an
// unknown-CA case into a no-certificate one.
func TestLoginPresentsCertificate(t *testing.T) {
	t.Parallel()
	b := startBroker(t)
	rogue := newDevice(t, b.rogueCA, "prod_present")
	for _, tc := range []struct {
		name   string
		stdlib bool
		alert  string
	}{
		{"always present (default)", false, "unknown certificate authority"},
		{"stdlib selection withholds it", true, "certificate required"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := b.config(rogue, 4, tls.VersionTLS13)
			cfg.StdlibCertSelection = tc.stdlib
			cfg.ProbeTLSRejection = 500 * time.Millisecond
			_, res := Login(t.Context(), cfg)
			requireOutcome(t, res, iotda.OutcomeRefused, PhaseTLS, AlertReason(tc.alert))
		})
	}
}

// Without the probe, a TLS 1.3 rejection surfaces as an alert or a drop before
// CONNACK; both must be counted as TLS-phase refusals, never as success or a
// connect-phase error (docs/performance.md, "Traps seen in peer tools").
func TestLoginRefusedTLS13WithoutProbe(t *testing.T) {
	t.Parallel()
	b := startBroker(t)
	rogue := newDevice(t, b.rogueCA, "prod_rogue13")
	for i := range 6 {
		mv := iotda.MQTTVersion(4 + i%2)
		cfg := b.config(rogue, mv, tls.VersionTLS13)
		s, res := Login(t.Context(), cfg)
		if s != nil {
			s.Close()
		}
		if res.Outcome != iotda.OutcomeRefused || res.Phase != PhaseTLS {
			t.Fatalf("attempt %d (v%d) = {%s %q %q} err %v, want refused in tls", i, mv, res.Outcome, res.Phase, res.Reason, res.Err)
		}
		ok := strings.HasPrefix(res.Reason, "tls_alert:") || slices.Contains([]string{ReasonReset, ReasonEPIPE, ReasonEOF}, res.Reason)
		if !ok {
			t.Errorf("attempt %d reason %q", i, res.Reason)
		}
	}
}

// [LOGIN-CLIENTID] [LOGIN-USERNAME] [LOGIN-KEEPALIVE] and the rest of the
// refusal table: every CONNECT-stage refusal of iotda.Refusals is read back
// with the code for the device's MQTT version; plus mochi's trap of a raw
// v5 code on a 3.1.1 CONNACK (docs/libraries.md A1.4).
func TestLoginConnackRefusal(t *testing.T) {
	t.Parallel()
	b := startBroker(t)
	type row struct {
		name   string
		mqtt   iotda.MQTTVersion
		send   packets.Code
		want   byte
		reason string // v5 reason string expected
	}
	var rows []row
	for _, r := range iotda.Refusals {
		reason := r.Reason
		if r.Stage != iotda.StageConnect {
			continue
		}
		// Codes below 0x80 are sent raw to 3.1.1 clients by mochi's SendConnack.
		rows = append(rows,
			row{string(reason) + "-v3", 4, packets.Code{Code: r.MQTT3}, r.MQTT3, ""},
			row{string(reason) + "-v5", 5, packets.Code{Code: r.MQTT5, Reason: string(reason)}, r.MQTT5, string(reason)},
		)
	}
	rows = append(rows,
		row{"mochi-bad-username-mapped-v3", 4, packets.ErrBadUsernameOrPassword, 0x05, ""},
		row{"mochi-not-authorized-raw-v3", 4, packets.ErrNotAuthorized, 0x87, ""},
		row{"not-authorized-v5", 5, packets.ErrNotAuthorized, 0x87, "not authorized"},
	)
	for _, r := range rows {
		t.Run(r.name, func(t *testing.T) {
			t.Parallel()
			d := newDevice(t, b.deviceCA, "prod_"+r.name)
			cfg := b.config(d, r.mqtt, tls.VersionTLS13)
			b.refuse(cfg.ClientID, r.send)
			s, res := Login(t.Context(), cfg)
			if s != nil {
				s.Close()
				t.Fatal("refused login returned a session")
			}
			requireOutcome(t, res, iotda.OutcomeRefused, PhaseConnect, ConnackReason(r.want))
			if res.ConnackCode != r.want || res.ReasonString != r.reason {
				t.Errorf("CONNACK = 0x%02x %q, want 0x%02x %q", res.ConnackCode, res.ReasonString, r.want, r.reason)
			}
			if res.Connack <= 0 || res.Err == nil {
				t.Errorf("result = %+v", res)
			}
		})
	}
}

// Failures that are not the server's verdict on the device are errors, with
// the phase they happened in.
func TestLoginErrors(t *testing.T) {
	t.Parallel()
	p := getPKI(t)
	d := newDevice(t, p.deviceCA, "prod_err")
	serverTLS := p.serverTLS()

	closedPort := func(t *testing.T) string {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := ln.Addr().String()
		_ = ln.Close()
		return addr
	}
	silentTCP := func(t *testing.T) string { // accepts, never speaks TLS
		return rawServer(t, nil, func(c net.Conn) { _, _ = io.Copy(io.Discard, c) })
	}
	silentMQTT := func(t *testing.T) string { // TLS fine, never answers CONNECT
		return rawServer(t, serverTLS, func(c net.Conn) { _, _ = io.Copy(io.Discard, c) })
	}
	hangUp := func(t *testing.T) string { // TLS fine, closes on CONNECT
		return rawServer(t, serverTLS, func(c net.Conn) {
			var b [512]byte
			_, _ = c.Read(b[:]) // the whole CONNECT: one TLS record
			_ = c.Close()
		})
	}
	garbage := func(t *testing.T) string { // answers CONNECT with a PINGRESP
		return rawServer(t, serverTLS, func(c net.Conn) {
			var b [64]byte
			_, _ = c.Read(b[:])
			_, _ = c.Write([]byte{0xd0, 0x00})
			_, _ = io.Copy(io.Discard, c)
		})
	}
	cases := []struct {
		name   string
		addr   func(*testing.T) string
		mqtt   iotda.MQTTVersion
		tls    uint16
		mutate func(*Config)
		cancel bool
		phase  Phase
		reason string
		refuse bool // expect Outcome refused instead of error
	}{
		{"tcp-refused", closedPort, 4, tls.VersionTLS13, nil, false, PhaseTCP, ReasonRefusedTCP, false},
		{"tls-timeout", silentTCP, 4, tls.VersionTLS13, nil, false, PhaseTLS, ReasonTimeout, false},
		{"connack-timeout-v3", silentMQTT, 4, tls.VersionTLS12, nil, false, PhaseConnect, ReasonTimeout, false},
		{"connack-timeout-v5", silentMQTT, 5, tls.VersionTLS12, nil, false, PhaseConnect, ReasonTimeout, false},
		{"connack-timeout-v3-tls13-probed", silentMQTT, 4, tls.VersionTLS13, func(c *Config) { c.ProbeTLSRejection = 50 * time.Millisecond }, false, PhaseConnect, ReasonTimeout, false},
		{"canceled-v3", silentMQTT, 4, tls.VersionTLS12, nil, true, PhaseConnect, ReasonCanceled, false},
		{"canceled-v5", silentMQTT, 5, tls.VersionTLS12, nil, true, PhaseConnect, ReasonCanceled, false},
		{"hang-up-v3-tls12", hangUp, 4, tls.VersionTLS12, nil, false, PhaseConnect, ReasonEOF, false},
		{"hang-up-v5-tls12", hangUp, 5, tls.VersionTLS12, nil, false, PhaseConnect, ReasonEOF, false},
		// Under TLS 1.3 a drop before CONNACK may be the server rejecting our
		// certificate, so it counts as a TLS refusal unless the probe has
		// shown the certificate was accepted.
		{"hang-up-v3-tls13", hangUp, 4, tls.VersionTLS13, nil, false, PhaseTLS, ReasonEOF, true},
		{"hang-up-v5-tls13", hangUp, 5, tls.VersionTLS13, nil, false, PhaseTLS, ReasonEOF, true},
		{"hang-up-v3-tls13-probed", hangUp, 4, tls.VersionTLS13, func(c *Config) { c.ProbeTLSRejection = 50 * time.Millisecond }, false, PhaseConnect, ReasonEOF, false},
		{"not-connack-v3", garbage, 4, tls.VersionTLS12, nil, false, PhaseConnect, ReasonProtocol, false},
		{"untrusted-server", silentMQTT, 4, tls.VersionTLS13, func(c *Config) { c.TLS.RootCAs = certPool(p.rogueCA.Cert) }, false, PhaseTLS, ReasonServerCert, false},
		{"wrong-server-name", silentMQTT, 4, tls.VersionTLS13, func(c *Config) { c.TLS.ServerName = "other.test" }, false, PhaseTLS, ReasonServerCert, false},
		{"no-tls-config", silentMQTT, 4, tls.VersionTLS13, func(c *Config) { c.TLS = nil }, false, PhaseConfig, ReasonConfig, false},
		{"bad-version", silentMQTT, 4, tls.VersionTLS13, func(c *Config) { c.MQTTVersion = 6 }, false, PhaseConfig, ReasonConfig, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			cfg := Config{
				Addr:           tc.addr(t),
				TLS:            p.clientTLS(d.leaf, tc.tls),
				MQTTVersion:    tc.mqtt,
				ClientID:       iotda.ClientIDFor(d.id, time.Now()),
				Username:       d.id,
				ConnectTimeout: 400 * time.Millisecond,
			}
			if tc.mutate != nil {
				tc.mutate(&cfg)
			}
			ctx := t.Context()
			if tc.cancel {
				c, cancel := context.WithCancel(ctx)
				time.AfterFunc(100*time.Millisecond, cancel)
				ctx = c
			}
			start := time.Now()
			s, res := Login(ctx, cfg)
			if s != nil {
				s.Close()
			}
			want := iotda.OutcomeError
			if tc.refuse {
				want = iotda.OutcomeRefused
			}
			requireOutcome(t, res, want, tc.phase, tc.reason)
			if res.Err == nil || res.ErrText == "" {
				t.Errorf("no diagnostic error: %+v", res)
			}
			if el := time.Since(start); el > 2*time.Second {
				t.Errorf("login took %v; ConnectTimeout is %v", el, cfg.ConnectTimeout)
			}
		})
	}
}

func TestLoginTLSResumption(t *testing.T) {
	t.Parallel()
	b := startBroker(t)
	d := newDevice(t, b.deviceCA, "prod_resume")
	cfg := b.config(d, 4, tls.VersionTLS13)
	cfg.TLS.ClientSessionCache = tls.NewLRUClientSessionCache(4)
	var resumed bool
	for i := range 3 { // the ticket arrives after the handshake: read by the first session
		s, res := Login(t.Context(), cfg)
		requireOutcome(t, res, iotda.OutcomeSuccess, PhaseNone, ReasonOK)
		// A round trip guarantees the session ticket has been processed.
		if _, err := s.Subscribe(t.Context(), iotda.DeviceTopic(d.id, iotda.TopicMessagesDown), 0); err != nil {
			t.Fatal(err)
		}
		s.Close()
		if i > 0 && res.DidResume {
			resumed = true
		}
	}
	if !resumed {
		t.Error("no login resumed its TLS session with a ClientSessionCache")
	}
}

// [LOGIN-CLIENTID] IoTDA's ClientId: {device_id}_0_0_{YYYYMMDDHH} in UTC,
// parseable from the right although device ids contain underscores.
func TestClientID(t *testing.T) {
	t.Parallel()
	cst := time.FixedZone("CST", 8*3600)
	cases := []struct {
		name, device string
		at           time.Time
		want         string
	}{
		{"doc example", "5f052ac562369102d42b0fb6", time.Date(2019, 12, 26, 14, 5, 0, 0, time.UTC), "5f052ac562369102d42b0fb6_0_0_2019122614"},
		{"local zone converted to UTC", "prod_node-1", time.Date(2018, 7, 25, 1, 56, 20, 0, cst), "prod_node-1_0_0_2018072417"},
		{"underscores in device id", "p_1_2_3", time.Date(2025, 1, 2, 3, 0, 0, 0, time.UTC), "p_1_2_3_0_0_2025010203"},
	}
	re := regexp.MustCompile(`^(.+)_(\d)_(\d)_(\d{10})$`)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := iotda.ClientIDFor(tc.device, tc.at)
			if got != tc.want {
				t.Fatalf("ClientID = %q, want %q", got, tc.want)
			}
			m := re.FindStringSubmatch(got)
			if m == nil || m[1] != tc.device || m[2] != "0" || m[3] != "0" {
				t.Errorf("%q does not parse back to %q: %q", got, tc.device, m)
			}
		})
	}
}

func TestConfigDefaults(t *testing.T) {
	t.Parallel()
	c := Config{}.withDefaults()
	if c.MQTTVersion != 4 || c.Keepalive != 120 || c.ConnectTimeout != 10*time.Second || c.AckTimeout != c.ConnectTimeout || c.ReceiveMaximum != 16 || !c.cleanStart() {
		t.Errorf("defaults = %+v", c)
	}
	z := Config{KeepaliveZero: true, Keepalive: 30, PersistentSession: true, CleanStart: true}.withDefaults()
	if z.Keepalive != 0 || z.cleanStart() {
		t.Errorf("KeepaliveZero/PersistentSession = %+v", z)
	}
}

func TestTLSAlertExtraction(t *testing.T) {
	t.Parallel()
	alert := &net.OpError{Op: "remote error", Err: errors.New("tls: certificate required")}
	cases := []struct {
		name string
		err  error
		want string
		ok   bool
	}{
		{"direct", alert, "certificate required", true},
		{"wrapped", fmt.Errorf("connect: %w", alert), "certificate required", true},
		{"read op is not an alert", &net.OpError{Op: "read", Err: io.EOF}, "", false},
		{"plain", io.EOF, "", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := tlsAlert(tc.err)
			if got != tc.want || ok != tc.ok {
				t.Errorf("tlsAlert = %q %v, want %q %v", got, ok, tc.want, tc.ok)
			}
		})
	}
}
