package broker

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/certlab/certlab/iotda"
	"github.com/certlab/certlab/platform/registry"
	"github.com/certlab/certlab/sim/pki"
)

// [LOGIN-SUCCESS] [DEV-STATUS]
func TestLoginSuccess(t *testing.T) {
	d := newDir(t)
	b := startBroker(t, d, nil)
	for _, tc := range []struct {
		name string
		tls  uint16
		mqtt byte
	}{
		{"MQTT 3.1.1 over TLS 1.2", tls.VersionTLS12, 4},
		{"MQTT 3.1.1 over TLS 1.3", tls.VersionTLS13, 4},
		{"MQTT 5 over TLS 1.2", tls.VersionTLS12, 5},
		{"MQTT 5 over TLS 1.3", tls.VersionTLS13, 5},
	} {
		t.Run(tc.name, func(t *testing.T) {
			id := fmt.Sprintf("prod-mqtt_ok-%d-%x", tc.mqtt, tc.tls)
			dev := addDevice(t, d, getFixture(t).caA, id, nil)
			c := dialRaw(t, b.Addr(), dev.Leaf, tc.tls, tc.mqtt)
			raw, pk := c.login(connectOpts{clientID: clientID(id), username: id, keepalive: 120, password: "ignored"})
			if tc.mqtt == 4 {
				requireBytes(t, raw, []byte{0x20, 0x02, 0x00, 0x00})
			} else {
				if pk.ReasonCode != 0 {
					t.Fatalf("CONNACK reason 0x%02x, want 0", pk.ReasonCode)
				}
				// [MQTT-LIMITS] announced to MQTT 5 clients.
				p := pk.Properties
				if !p.MaximumQosFlag || p.MaximumQos != 1 || !p.RetainAvailableFlag || p.RetainAvailable != 0 || p.MaximumPacketSize != MaxPacketSize {
					t.Errorf("CONNACK properties: MaximumQos %v/%d RetainAvailable %v/%d MaximumPacketSize %d",
						p.MaximumQosFlag, p.MaximumQos, p.RetainAvailableFlag, p.RetainAvailable, p.MaximumPacketSize)
				}
			}
			a := waitAttempt(t, b.Broker, id, iotda.ReasonOK)
			want := iotda.LoginAttempt{Outcome: "success", Stage: iotda.StageConnect, Reason: iotda.ReasonOK,
				TLSVersion: tls.VersionName(tc.tls), CertSHA256: dev.Leaf.FingerprintSHA256(), CertKeyType: "ECDSA P-256",
				CAID: caAID, ClientID: clientID(id), Username: id, DeviceID: id, ProjectID: projectA,
				MQTTVersion: iotda.MQTTVersion(tc.mqtt), Keepalive: 120, ServerName: "localhost", CertSubject: "CN=" + id, CertIssuer: "CN=Device CA A"}
			if a.Outcome != want.Outcome || a.Stage != want.Stage || a.TLSVersion != want.TLSVersion || a.CertSHA256 != want.CertSHA256 ||
				a.CertKeyType != want.CertKeyType || a.CAID != want.CAID || a.ClientID != want.ClientID || a.Username != want.Username ||
				a.ProjectID != want.ProjectID || a.MQTTVersion != want.MQTTVersion || a.Keepalive != want.Keepalive ||
				a.ServerName != want.ServerName || a.CertSubject != want.CertSubject || a.CertIssuer != want.CertIssuer {
				t.Errorf("attempt\n got %+v\nwant %+v", a, want)
			}
			if a.CipherSuite == "" || a.HandshakeMs <= 0 || a.CertNotAfter == "" || a.Peer == "" || a.Detail != "" || a.ConnackCode != 0 {
				t.Errorf("attempt missing facts: %+v", a)
			}
			eventually(t, "status ONLINE", func() bool {
				s := d.statusCalls(id)
				return len(s) == 1 && s[0].online
			})
			_ = c.conn.Close()
			eventually(t, "status OFFLINE after disconnect", func() bool {
				s := d.statusCalls(id)
				return len(s) == 2 && !s[1].online
			})
		})
	}
	eventually(t, "no sessions", func() bool { return b.Connected() == 0 })
}

// [LOGIN-TLS] A certificate issued by an intermediate authenticates when the
// device sends the intermediate; the anchoring CA is the root.
func TestLoginThroughIntermediate(t *testing.T) {
	d := newDir(t)
	b := startBroker(t, d, nil)
	dev := addDevice(t, d, getFixture(t).intA, "prod-mqtt_via-int", nil)
	loginRaw(t, b.Addr(), dev, 4)
	if a := waitAttempt(t, b.Broker, dev.ID, iotda.ReasonOK); a.CAID != caAID {
		t.Errorf("ca_id %q, want the root %q", a.CAID, caAID)
	}
}

// The CONNECT-stage refusals of the login-refusal table, with the exact
// CONNACK bytes for MQTT 3.1.1 and the reason code for MQTT 5.
// [LOGIN-CLIENTID] [LOGIN-KEEPALIVE] [LOGIN-USERNAME] [LOGIN-PROJECT]
// [PROTO-MQTT-ONLY] [DEV-FREEZE] [DEV-FINGERPRINT] [MQTT-LIMITS]
func TestConnectRefusals(t *testing.T) {
	d := newDir(t)
	b := startBroker(t, d, nil)
	f := getFixture(t)
	other, err := f.caA.NewDeviceCert("someone else")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		reason iotda.Reason
		v3, v5 byte
		setup  func(t *testing.T, id string) (testDevice, connectOpts)
	}{
		{"identity type is not 0", iotda.ReasonClientIDFormat, 0x02, 0x85, func(t *testing.T, id string) (testDevice, connectOpts) {
			dev := addDevice(t, d, f.caA, id, nil)
			return dev, connectOpts{clientID: id + "_1_0_2025010100", username: id, keepalive: 120}
		}},
		{"timestamp is not an hour", iotda.ReasonClientIDFormat, 0x02, 0x85, func(t *testing.T, id string) (testDevice, connectOpts) {
			dev := addDevice(t, d, f.caA, id, nil)
			return dev, connectOpts{clientID: id + "_0_0_2025013124", username: id, keepalive: 120}
		}},
		{"keepalive below 30", iotda.ReasonKeepaliveRange, 0x02, 0x85, func(t *testing.T, id string) (testDevice, connectOpts) {
			dev := addDevice(t, d, f.caA, id, nil)
			return dev, connectOpts{clientID: clientID(id), username: id, keepalive: 29}
		}},
		{"keepalive above 1200", iotda.ReasonKeepaliveRange, 0x02, 0x85, func(t *testing.T, id string) (testDevice, connectOpts) {
			dev := addDevice(t, d, f.caA, id, nil)
			return dev, connectOpts{clientID: clientID(id), username: id, keepalive: 1201}
		}},
		{"will message", iotda.ReasonWillNotSupported, 0x05, 0x87, func(t *testing.T, id string) (testDevice, connectOpts) {
			dev := addDevice(t, d, f.caA, id, nil)
			return dev, connectOpts{clientID: clientID(id), username: id, keepalive: 120, will: true}
		}},
		{"device not registered", iotda.ReasonDeviceNotFound, 0x04, 0x86, func(t *testing.T, id string) (testDevice, connectOpts) {
			leaf, err := f.caA.NewDeviceCert(id)
			if err != nil {
				t.Fatal(err)
			}
			return testDevice{ID: id, Leaf: leaf}, connectOpts{clientID: clientID(id), username: id, keepalive: 120}
		}},
		{"username is not the device_id", iotda.ReasonUsernameMismatch, 0x04, 0x86, func(t *testing.T, id string) (testDevice, connectOpts) {
			dev := addDevice(t, d, f.caA, id, nil)
			return dev, connectOpts{clientID: clientID(id), username: id + "x", keepalive: 120}
		}},
		{"SECRET device", iotda.ReasonAuthTypeMismatch, 0x05, 0x87, func(t *testing.T, id string) (testDevice, connectOpts) {
			dev := addDevice(t, d, f.caA, id, func(dv *registry.Device) { dv.AuthType, dv.Secret, dv.Fingerprint = iotda.AuthSecret, "12345678", "" })
			return dev, connectOpts{clientID: clientID(id), username: id, keepalive: 120}
		}},
		{"CA of another project", iotda.ReasonWrongProject, 0x05, 0x87, func(t *testing.T, id string) (testDevice, connectOpts) {
			dev := addDevice(t, d, f.caB, id, nil) // device in project A, certificate from project B's CA
			return dev, connectOpts{clientID: clientID(id), username: id, keepalive: 120}
		}},
		{"product is not MQTT", iotda.ReasonNotMQTTProduct, 0x05, 0x87, func(t *testing.T, id string) (testDevice, connectOpts) {
			dev := addDevice(t, d, f.caA, id, func(dv *registry.Device) { dv.ProductID = productCoAP })
			return dev, connectOpts{clientID: clientID(id), username: id, keepalive: 120}
		}},
		{"device frozen", iotda.ReasonDeviceFrozen, 0x05, 0x8A, func(t *testing.T, id string) (testDevice, connectOpts) {
			dev := addDevice(t, d, f.caA, id, func(dv *registry.Device) { dv.Frozen = true })
			return dev, connectOpts{clientID: clientID(id), username: id, keepalive: 120}
		}},
		{"fingerprint of another certificate", iotda.ReasonFingerprintMismatch, 0x05, 0x87, func(t *testing.T, id string) (testDevice, connectOpts) {
			dev := addDevice(t, d, f.caA, id, func(dv *registry.Device) {
				dv.Fingerprint, dv.SecondaryFingerprint = other.FingerprintSHA256(), other.FingerprintSHA1()
			})
			return dev, connectOpts{clientID: clientID(id), username: id, keepalive: 120}
		}},
	} {
		// The table's codes are the contract; check the test agrees with it.
		if r, ok := iotda.RefusalFor(tc.reason); !ok || r.MQTT3 != tc.v3 || r.MQTT5 != tc.v5 {
			t.Fatalf("%s: refusal table has %+v, test expects 0x%02x/0x%02x", tc.name, r, tc.v3, tc.v5)
		}
		for _, version := range []byte{4, 5} {
			t.Run(fmt.Sprintf("%s/MQTT %d", tc.name, version), func(t *testing.T) {
				id := fmt.Sprintf("prod-mqtt_%s-%d", strings.ReplaceAll(tc.name, " ", "-"), version)
				dev, o := tc.setup(t, id)
				c := dialRaw(t, b.Addr(), dev.Leaf, tls.VersionTLS13, version)
				raw, pk := c.login(o)
				if version == 4 {
					requireBytes(t, raw, []byte{0x20, 0x02, 0x00, tc.v3})
				} else {
					if raw[0] != 0x20 || pk.ReasonCode != tc.v5 {
						t.Fatalf("CONNACK % x (reason 0x%02x), want reason 0x%02x", raw, pk.ReasonCode, tc.v5)
					}
					if pk.Properties.ReasonString != string(tc.reason) {
						t.Errorf("reason string %q, want %q", pk.Properties.ReasonString, tc.reason)
					}
				}
				c.expectCleanClose(2 * time.Second)
				a := waitAttempt(t, b.Broker, "", tc.reason)
				if a.ClientID != o.clientID || a.Outcome != "refused" || a.Stage != iotda.StageConnect || a.Detail == "" {
					t.Errorf("attempt %+v", a)
				}
				wantCode := tc.v3
				if version == 5 {
					wantCode = tc.v5
				}
				if a.ConnackCode != int(wantCode) || a.MQTTVersion != iotda.MQTTVersion(version) {
					t.Errorf("attempt connack 0x%02x version %d, want 0x%02x %d", a.ConnackCode, a.MQTTVersion, wantCode, version)
				}
			})
		}
	}
	if n := b.Connected(); n != 0 {
		t.Errorf("Connected() = %d after refusals", n)
	}
}

// server_busy is the last check: a new device beyond MaxClients is refused,
// a device taking over its own session is not.
func TestServerBusy(t *testing.T) {
	d := newDir(t)
	b := startBroker(t, d, func(c *Config) { c.MaxClients = 1 })
	f := getFixture(t)
	first := addDevice(t, d, f.caA, "prod-mqtt_busy-1", nil)
	loginRaw(t, b.Addr(), first, 4)
	for _, version := range []byte{4, 5} {
		dev := addDevice(t, d, f.caA, fmt.Sprintf("prod-mqtt_busy-%d", version), nil)
		c := dialRaw(t, b.Addr(), dev.Leaf, tls.VersionTLS12, version)
		raw, pk := c.login(connectOpts{clientID: clientID(dev.ID), username: dev.ID, keepalive: 60})
		if version == 4 {
			requireBytes(t, raw, []byte{0x20, 0x02, 0x00, 0x03})
		} else if pk.ReasonCode != 0x89 {
			t.Errorf("MQTT 5 CONNACK reason 0x%02x, want 0x89", pk.ReasonCode)
		}
		waitAttempt(t, b.Broker, dev.ID, iotda.ReasonServerBusy)
	}
	loginRaw(t, b.Addr(), first, 5) // takeover of its own session is not a new client
	if n := b.Connected(); n != 1 {
		t.Errorf("Connected() = %d, want 1", n)
	}
}

// TLS-stage refusals: the handshake is refused (TLS 1.2: the dial fails;
// TLS 1.3: the alert arrives on the first read) and the attempt log has the
// precise reason. [LOGIN-TLS] [CA-UNVERIFIED]
func TestTLSRefusals(t *testing.T) {
	d := newDir(t)
	now := time.Now()
	b := startBroker(t, d, func(c *Config) { c.Now = func() time.Time { return time.Now() } })
	f := getFixture(t)
	mustLeaf := func(l *pki.Leaf, err error) *pki.Leaf {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return l
	}
	impostor, err := pki.NewRootCA("Device CA A") // same subject as caA, different key
	if err != nil {
		t.Fatal(err)
	}
	notCA, err := f.caA.NewIntermediate("Not a CA", pki.WithIsCA(false))
	if err != nil {
		t.Fatal(err)
	}
	expiredInt, err := f.caA.NewIntermediate("Expired intermediate", pki.WithValidity(now.Add(-48*time.Hour), now.Add(-24*time.Hour)))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		reason iotda.Reason
		leaf   *pki.Leaf
	}{
		{"no client certificate", iotda.ReasonNoClientCert, nil},
		{"CA never uploaded", iotda.ReasonUnknownCA, mustLeaf(f.foreign.NewDeviceCert("d1"))},
		{"CA uploaded but not verified", iotda.ReasonCANotVerified, mustLeaf(f.caU.NewDeviceCert("d2"))},
		{"certificate expired", iotda.ReasonCertExpired, mustLeaf(f.caA.NewDeviceCert("d3", pki.WithValidity(now.Add(-48*time.Hour), now.Add(-time.Hour))))},
		{"certificate not yet valid", iotda.ReasonCertNotYetValid, mustLeaf(f.caA.NewDeviceCert("d4", pki.WithValidity(now.Add(time.Hour), now.Add(48*time.Hour))))},
		{"intermediate expired", iotda.ReasonCertExpired, mustLeaf(expiredInt.NewDeviceCert("d5"))},
		{"bad signature", iotda.ReasonBadChain, mustLeaf(impostor.NewDeviceCert("d6"))},
		{"intermediate without CA:TRUE", iotda.ReasonBadChain, mustLeaf(notCA.NewDeviceCert("d7"))},
		{"serverAuth-only certificate", iotda.ReasonBadChain, mustLeaf(f.caA.NewDeviceCert("d8", pki.WithExtKeyUsage(x509.ExtKeyUsageServerAuth)))},
	} {
		for _, version := range []uint16{tls.VersionTLS12, tls.VersionTLS13} {
			t.Run(tc.name+"/"+tls.VersionName(version), func(t *testing.T) {
				before := len(b.LoginAttempts("", string(tc.reason), 0))
				refused, err := probeRefused(t, b.Addr(), tlsConfig(t, tc.leaf, version))
				if !refused {
					t.Fatalf("handshake accepted")
				}
				if version == tls.VersionTLS12 && (err == nil || !strings.Contains(err.Error(), "remote error")) {
					t.Errorf("TLS 1.2 dial error %v, want a TLS alert", err)
				}
				t.Logf("client saw: %v", err)
				eventually(t, "attempt "+string(tc.reason), func() bool { return len(b.LoginAttempts("", string(tc.reason), 0)) > before })
				a := b.LoginAttempts("", string(tc.reason), 1)[0]
				if a.Stage != iotda.StageTLS || a.Outcome != "refused" || a.Detail == "" || a.TLSVersion != tls.VersionName(version) {
					t.Errorf("attempt %+v", a)
				}
				if tc.leaf != nil && a.CertSHA256 != tc.leaf.FingerprintSHA256() {
					t.Errorf("attempt cert_sha256 %q, want %q", a.CertSHA256, tc.leaf.FingerprintSHA256())
				}
				if tc.reason == iotda.ReasonCANotVerified && a.CAID != caUID {
					t.Errorf("ca_not_verified attempt names CA %q, want %q", a.CAID, caUID)
				}
			})
		}
	}
}

// [DEV-FINGERPRINT] [DEV-FINGERPRINT-SECONDARY] [DEV-FINGERPRINT-BIND]
func TestFingerprints(t *testing.T) {
	d := newDir(t)
	b := startBroker(t, d, nil)
	f := getFixture(t)
	other, err := f.caA.NewDeviceCert("other")
	if err != nil {
		t.Fatal(err)
	}

	t.Run("secondary accepted when the primary differs", func(t *testing.T) {
		dev := addDevice(t, d, f.caA, "prod-mqtt_fp-secondary", nil)
		d.update(dev.ID, func(dv *registry.Device) {
			dv.Fingerprint, dv.SecondaryFingerprint = other.FingerprintSHA256(), dev.Leaf.FingerprintSHA256()
		})
		loginRaw(t, b.Addr(), dev, 4)
	})
	t.Run("SHA-1 fingerprint, upper case", func(t *testing.T) {
		dev := addDevice(t, d, f.caA, "prod-mqtt_fp-sha1", nil)
		d.update(dev.ID, func(dv *registry.Device) { dv.Fingerprint = strings.ToUpper(dev.Leaf.FingerprintSHA1()) })
		loginRaw(t, b.Addr(), dev, 5)
	})
	t.Run("first login binds the fingerprint", func(t *testing.T) {
		dev := addDevice(t, d, f.caA, "prod-mqtt_fp-bind", func(dv *registry.Device) { dv.Fingerprint = "" })
		c := loginRaw(t, b.Addr(), dev, 4)
		if got := d.device(dev.ID).Fingerprint; got != dev.Leaf.FingerprintSHA256() {
			t.Fatalf("bound fingerprint %q, want %q", got, dev.Leaf.FingerprintSHA256())
		}
		_ = c.conn.Close()
		// Another certificate for the same device is now refused.
		impostor := testDevice{ID: dev.ID, Leaf: other}
		c2 := dialRaw(t, b.Addr(), impostor.Leaf, tls.VersionTLS13, 4)
		raw, _ := c2.login(connectOpts{clientID: clientID(dev.ID), username: dev.ID, keepalive: 120})
		requireBytes(t, raw, []byte{0x20, 0x02, 0x00, 0x05})
		waitAttempt(t, b.Broker, dev.ID, iotda.ReasonFingerprintMismatch)
	})
	t.Run("binding failure is a retryable refusal", func(t *testing.T) {
		dev := addDevice(t, d, f.caA, "prod-mqtt_fp-bind-fails", func(dv *registry.Device) { dv.Fingerprint = "" })
		d.mu.Lock()
		d.bindErr = fmt.Errorf("database is locked")
		d.mu.Unlock()
		defer func() { d.mu.Lock(); d.bindErr = nil; d.mu.Unlock() }()
		c := dialRaw(t, b.Addr(), dev.Leaf, tls.VersionTLS13, 4)
		raw, _ := c.login(connectOpts{clientID: clientID(dev.ID), username: dev.ID, keepalive: 120})
		requireBytes(t, raw, []byte{0x20, 0x02, 0x00, 0x03})
		if a := waitAttempt(t, b.Broker, dev.ID, iotda.ReasonServerBusy); !strings.Contains(a.Detail, "database is locked") {
			t.Errorf("detail %q does not carry the cause", a.Detail)
		}
	})
}

// [LOGIN-TAKEOVER] One connection per device: a second login (with another
// ClientId timestamp) takes over; the device stays ONLINE.
func TestTakeover(t *testing.T) {
	d := newDir(t)
	b := startBroker(t, d, nil)
	f := getFixture(t)

	t.Run("MQTT 5 old session gets DISCONNECT 0x8E", func(t *testing.T) {
		dev := addDevice(t, d, f.caA, "prod-mqtt_takeover-5", nil)
		old, err := loginPaho(t, b.Addr(), dev, clientIDAt(dev.ID, time.Now().Add(-time.Hour)))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := loginPaho(t, b.Addr(), dev, clientID(dev.ID)); err != nil {
			t.Fatal(err)
		}
		select {
		case disc := <-old.discon:
			if disc.ReasonCode != 0x8E {
				t.Errorf("DISCONNECT reason 0x%02x, want 0x8E", disc.ReasonCode)
			}
		case <-time.After(3 * time.Second):
			t.Fatal("old session got no DISCONNECT")
		}
		select {
		case <-old.c.Done():
		case <-time.After(3 * time.Second):
			t.Fatal("old session still open")
		}
		requireStatusSequence(t, d, dev.ID, true, true)
	})
	t.Run("MQTT 3.1.1 old session is closed", func(t *testing.T) {
		dev := addDevice(t, d, f.caA, "prod-mqtt_takeover-4", nil)
		old := loginRaw(t, b.Addr(), dev, 4)
		c := dialRaw(t, b.Addr(), dev.Leaf, tls.VersionTLS12, 4)
		raw, _ := c.login(connectOpts{clientID: clientIDAt(dev.ID, time.Now().Add(time.Hour)), username: dev.ID, keepalive: 60})
		requireBytes(t, raw, []byte{0x20, 0x02, 0x00, 0x00})
		old.expectCleanClose(2 * time.Second)
		requireStatusSequence(t, d, dev.ID, true, true)
	})
	t.Run("MQTT 3.1.1 same ClientId", func(t *testing.T) {
		dev := addDevice(t, d, f.caA, "prod-mqtt_takeover-same-4", nil)
		old := loginRaw(t, b.Addr(), dev, 4)
		loginRaw(t, b.Addr(), dev, 4)
		if got := old.expectCleanClose(2 * time.Second); len(got) != 0 {
			t.Errorf("old 3.1.1 session got %s; 3.1.1 has no server DISCONNECT", describe(got))
		}
		requireStatusSequence(t, d, dev.ID, true, true)
	})
	t.Run("same ClientId", func(t *testing.T) {
		dev := addDevice(t, d, f.caA, "prod-mqtt_takeover-same", nil)
		old := loginRaw(t, b.Addr(), dev, 5)
		loginRaw(t, b.Addr(), dev, 5)
		if got := old.expectCleanClose(2 * time.Second); len(got) != 1 || got[0].FixedHeader.Type != packets.Disconnect || got[0].ReasonCode != 0x8E {
			t.Errorf("old session got %s, want DISCONNECT 0x8E", describe(got))
		}
		requireStatusSequence(t, d, dev.ID, true, true)
	})
	if got := counterValue(t, b.reg, "certlab_platform_sessions_dropped_total", "cause", causeTakeover); got != 4 {
		t.Errorf("takeovers counted %v, want 4", got)
	}
}

// [LOGIN-TAKEOVER] 16 logins of one device with one ClientId at once, on
// MQTT 3.1.1 and 5: every connection gets CONNACK 0x00 first; every one but
// one is then taken over (MQTT 5: DISCONNECT 0x8E, 3.1.1: nothing) and closed
// cleanly; exactly one session survives, in the broker's table and in
// mochi's (no ghost session that nobody will take over).
func TestTakeoverStorm(t *testing.T) {
	d := newDir(t)
	b := startBroker(t, d, nil)
	f := getFixture(t)
	const n = 16
	for _, version := range []byte{4, 5} {
		t.Run(fmt.Sprintf("MQTT %d", version), func(t *testing.T) {
			dev := addDevice(t, d, f.caA, fmt.Sprintf("prod-mqtt_storm-%d", version), nil)
			cid := clientID(dev.ID)
			conns := make([]*rawClient, n)
			for i := range conns {
				conns[i] = dialRaw(t, b.Addr(), dev.Leaf, tls.VersionTLS13, version)
			}
			var wg sync.WaitGroup
			start := make(chan struct{})
			for _, c := range conns {
				wg.Go(func() {
					<-start
					if err := c.sendConnect(connectOpts{clientID: cid, username: dev.ID, keepalive: 120}); err != nil {
						t.Error(err)
					}
				})
			}
			close(start)
			wg.Wait()
			type end struct {
				got []packets.Packet
				err error
			}
			ends := make([]end, n)
			for i, c := range conns {
				wg.Go(func() {
					var e end
					for {
						_, pk, err := c.read(time.Second)
						if err != nil {
							e.err = err
							break
						}
						e.got = append(e.got, pk)
					}
					ends[i] = e
				})
			}
			wg.Wait()
			survivors := 0
			for i, e := range ends {
				if len(e.got) == 0 || e.got[0].FixedHeader.Type != packets.Connack || e.got[0].ReasonCode != 0 {
					t.Errorf("connection %d: first packets %s, want CONNACK 0x00", i, describe(e.got))
					continue
				}
				if isTimeout(e.err) {
					survivors++
					if len(e.got) != 1 {
						t.Errorf("surviving connection %d got %s", i, describe(e.got))
					}
					continue
				}
				if e.err != io.EOF { //nolint:errorlint // crypto/tls returns io.EOF itself for close_notify
					t.Errorf("connection %d ended with %v, want close_notify", i, e.err)
				}
				rest := e.got[1:]
				switch {
				case version == 5 && (len(rest) != 1 || rest[0].FixedHeader.Type != packets.Disconnect || rest[0].ReasonCode != 0x8E):
					t.Errorf("connection %d: after the CONNACK %s, want DISCONNECT 0x8E", i, describe(rest))
				case version == 4 && len(rest) != 0:
					t.Errorf("connection %d: after the CONNACK %s; 3.1.1 has no server DISCONNECT", i, describe(rest))
				}
			}
			if survivors != 1 {
				t.Errorf("%d sessions survived, want 1", survivors)
			}
			eventually(t, "one session in the broker and in mochi", func() bool {
				mochi := 0
				for _, cl := range b.srv.Clients.GetAll() {
					if strings.HasPrefix(cl.ID, cid) && !cl.Closed() {
						mochi++
					}
				}
				return b.Connected() == 1 && mochi == 1
			})
			for _, c := range conns {
				_ = c.conn.Close()
			}
			eventually(t, "no session", func() bool { return b.Connected() == 0 })
		})
	}
}

// A resumed TLS 1.3 session is verified again: deleting its CA stops it. [CA-DELETE]
func TestResumedSessionIsVerified(t *testing.T) {
	d := newDir(t)
	b := startBroker(t, d, nil)
	f := getFixture(t)
	ca, err := pki.NewRootCA("Device CA to delete")
	if err != nil {
		t.Fatal(err)
	}
	d.addCA(projectA, "0000000000000000000000d1", ca.Cert, true)
	dev := addDevice(t, d, ca, "prod-mqtt_resume", nil)
	_ = f
	cfg := tlsConfig(t, dev.Leaf, tls.VersionTLS13)
	cfg.ClientSessionCache = tls.NewLRUClientSessionCache(4)

	c := newRawClientFromCfg(t, b.Addr(), cfg, 4)
	raw, _ := c.login(connectOpts{clientID: clientID(dev.ID), username: dev.ID, keepalive: 120})
	requireBytes(t, raw, []byte{0x20, 0x02, 0x00, 0x00})
	_ = c.conn.Close()

	c = newRawClientFromCfg(t, b.Addr(), cfg, 4)
	raw, _ = c.login(connectOpts{clientID: clientID(dev.ID), username: dev.ID, keepalive: 120})
	requireBytes(t, raw, []byte{0x20, 0x02, 0x00, 0x00})
	if a := waitAttempt(t, b.Broker, dev.ID, iotda.ReasonOK); !a.DidResume {
		t.Fatalf("second login did not resume: %+v", a)
	}
	_ = c.conn.Close()

	d.deleteCA("0000000000000000000000d1")
	before := len(b.LoginAttempts("", string(iotda.ReasonUnknownCA), 0))
	if refused, err := probeRefused(t, b.Addr(), cfg); !refused {
		t.Fatalf("resumed handshake accepted after the CA was deleted (%v)", err)
	}
	eventually(t, "unknown_ca attempt", func() bool { return len(b.LoginAttempts("", string(iotda.ReasonUnknownCA), 0)) > before })
	if a := b.LoginAttempts("", string(iotda.ReasonUnknownCA), 1)[0]; !a.DidResume {
		t.Errorf("refused attempt was not a resumption: %+v", a)
	}
}

func newRawClientFromCfg(t *testing.T, addr string, cfg *tls.Config, version byte) *rawClient {
	t.Helper()
	conn, err := dialTLS(t, addr, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return newRawClient(t, conn, version)
}

func requireBytes(t testing.TB, got, want []byte) {
	t.Helper()
	if !bytes.Equal(got, want) {
		t.Fatalf("bytes on the wire % x, want % x", got, want)
	}
}

// requireStatusSequence waits until the device's status writes are exactly want
// (coalescing may merge consecutive equal states, so duplicates are dropped).
func requireStatusSequence(t testing.TB, d *memDir, id string, want ...bool) {
	t.Helper()
	dedup := func(in []bool) []bool {
		var out []bool
		for _, v := range in {
			if len(out) == 0 || out[len(out)-1] != v {
				out = append(out, v)
			}
		}
		return out
	}
	w := dedup(want)
	var got []bool
	for deadline := time.Now().Add(time.Second); ; {
		got = got[:0]
		for _, s := range d.statusCalls(id) {
			got = append(got, s.online)
		}
		if fmt.Sprint(dedup(got)) == fmt.Sprint(w) && time.Now().After(deadline.Add(-800*time.Millisecond)) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("status writes %v, want %v", got, w)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
