package broker

import (
	"crypto/x509"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/certlab/certlab/iotda"
	"github.com/certlab/certlab/platform/registry"
	"github.com/certlab/certlab/sim/pki"
)

// attempt is one login as decide sees it: what the handshake presents, what
// the CONNECT says, and the session table at admission.
type attempt struct {
	certs     []*x509.Certificate // leaf first
	now       time.Time
	clientID  string
	username  string
	keepalive uint16
	will      bool

	sessions, maxClients int
	takeover             bool

	// Directory changes between the stages (a CA deleted during the login).
	afterHandshake, afterConnect func()
}

// decideAll walks the stages of one login as the broker does (verify.go,
// then effects.go connect and admit), without any of their effects: no
// broker, no socket, no bind. It returns the first refusing verdict, or the
// admission verdict, and the stage that gave it.
func decideAll(d Directory, a attempt) (verdict, stage) {
	l := &login{dir: d, now: a.now, certs: a.certs}
	if leaf := l.leaf(); leaf != nil {
		l.sha256 = sha256Hex(leaf.Raw)
	}
	if v := l.decide(stageHandshake); !v.ok() {
		return v, stageHandshake
	} else {
		l.anchors = v.anchors
	}
	if a.afterHandshake != nil {
		a.afterHandshake()
	}
	l.clientID, l.username, l.keepalive, l.will = a.clientID, a.username, a.keepalive, a.will
	if v := l.decide(stageConnect); !v.ok() {
		return v, stageConnect
	}
	if a.afterConnect != nil {
		a.afterConnect()
	}
	l.sessions, l.maxClients, l.takeover = a.sessions, a.maxClients, a.takeover
	return l.decide(stageAdmission), stageAdmission
}

// chain is what a device presents: its certificate and intermediates.
func chain(l *pki.Leaf) []*x509.Certificate {
	return append([]*x509.Certificate{l.Cert}, l.Chain...)
}

// Every row of the login-refusal table (iotda.Refusals), decided by
// decide() directly: the reason, the stage that finds it, and what the
// verdict carries. Also the logins that pass, and the order between two
// problems. [LOGIN-TLS] [CA-UNVERIFIED] [CA-DELETE] [LOGIN-CLIENTID]
// [LOGIN-KEEPALIVE] [MQTT-LIMITS] [LOGIN-USERNAME] [DEV-FINGERPRINT]
// [DEV-FINGERPRINT-SECONDARY] [DEV-FINGERPRINT-BIND] [LOGIN-PROJECT]
// [PROTO-MQTT-ONLY] [DEV-FREEZE] [LOGIN-SUCCESS] [LOGIN-TAKEOVER]
func TestDecideRefusalTable(t *testing.T) {
	f := getFixture(t)
	now := time.Now()
	mustLeaf := func(l *pki.Leaf, err error) *pki.Leaf {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return l
	}
	impostor, err := pki.NewRootCA("Device CA A") // same subject as caA, another key
	if err != nil {
		t.Fatal(err)
	}
	var (
		foreign    = mustLeaf(f.foreign.NewDeviceCert("d1"))
		unverified = mustLeaf(f.caU.NewDeviceCert("d2"))
		expired    = mustLeaf(f.caA.NewDeviceCert("d3", pki.WithValidity(now.Add(-48*time.Hour), now.Add(-time.Hour))))
		valid      = mustLeaf(f.caA.NewDeviceCert("d3b"))
		notYet     = mustLeaf(f.caA.NewDeviceCert("d4", pki.WithValidity(now.Add(time.Hour), now.Add(48*time.Hour))))
		forged     = mustLeaf(impostor.NewDeviceCert("d5"))
		nobody     = mustLeaf(f.caA.NewDeviceCert("prod-mqtt_nobody"))
		other      = mustLeaf(f.caA.NewDeviceCert("other"))
	)
	// login is a well-formed attempt of a registered device.
	login := func(dev testDevice) attempt {
		return attempt{certs: chain(dev.Leaf), now: now, clientID: clientID(dev.ID), username: dev.ID, keepalive: 120}
	}
	// device registers a device of project A with a certificate of caA.
	device := func(t *testing.T, d *memDir, mod func(*registry.Device)) testDevice {
		return addDevice(t, d, f.caA, "prod-mqtt_"+strings.ReplaceAll(t.Name()[strings.LastIndex(t.Name(), "/")+1:], " ", "-"), mod)
	}
	type want struct {
		reason iotda.Reason
		stage  stage
		check  func(t *testing.T, v verdict)
	}
	refused := func(r iotda.Reason, s stage) want { return want{reason: r, stage: s} }
	covered := map[iotda.Reason]bool{}
	for _, tc := range []struct {
		name  string
		setup func(t *testing.T, d *memDir) attempt
		want  want
	}{
		// ---- TLS handshake ----
		{"no client certificate", func(t *testing.T, d *memDir) attempt {
			return attempt{now: now}
		}, refused(iotda.ReasonNoClientCert, stageHandshake)},
		{"CA never uploaded", func(t *testing.T, d *memDir) attempt {
			return attempt{certs: chain(foreign), now: now}
		}, refused(iotda.ReasonUnknownCA, stageHandshake)},
		{"CA uploaded but not verified", func(t *testing.T, d *memDir) attempt {
			return attempt{certs: chain(unverified), now: now}
		}, want{iotda.ReasonCANotVerified, stageHandshake, func(t *testing.T, v verdict) {
			if v.ca == nil || v.ca.ID != caUID {
				t.Errorf("verdict names CA %+v, want %s", v.ca, caUID)
			}
		}}},
		{"certificate expired", func(t *testing.T, d *memDir) attempt {
			return attempt{certs: chain(expired), now: now}
		}, refused(iotda.ReasonCertExpired, stageHandshake)},
		{"certificate expired by the clock", func(t *testing.T, d *memDir) attempt {
			return attempt{certs: chain(valid), now: valid.Cert.NotAfter.Add(time.Minute)}
		}, refused(iotda.ReasonCertExpired, stageHandshake)},
		{"certificate not yet valid", func(t *testing.T, d *memDir) attempt {
			return attempt{certs: chain(notYet), now: now}
		}, refused(iotda.ReasonCertNotYetValid, stageHandshake)},
		{"signed by an impostor of the CA", func(t *testing.T, d *memDir) attempt {
			return attempt{certs: chain(forged), now: now}
		}, refused(iotda.ReasonBadChain, stageHandshake)},
		// ---- CONNECT ----
		{"identity type is not 0", func(t *testing.T, d *memDir) attempt {
			a := login(device(t, d, nil))
			a.clientID = a.username + "_1_0_2025010100"
			return a
		}, refused(iotda.ReasonClientIDFormat, stageConnect)},
		{"keepalive below 30", func(t *testing.T, d *memDir) attempt {
			a := login(device(t, d, nil))
			a.keepalive = 29
			return a
		}, refused(iotda.ReasonKeepaliveRange, stageConnect)},
		{"keepalive above 1200", func(t *testing.T, d *memDir) attempt {
			a := login(device(t, d, nil))
			a.keepalive = 1201
			return a
		}, refused(iotda.ReasonKeepaliveRange, stageConnect)},
		{"will message", func(t *testing.T, d *memDir) attempt {
			a := login(device(t, d, nil))
			a.will = true
			return a
		}, refused(iotda.ReasonWillNotSupported, stageConnect)},
		{"device not registered", func(t *testing.T, d *memDir) attempt {
			return login(testDevice{ID: "prod-mqtt_nobody", Leaf: nobody})
		}, want{iotda.ReasonDeviceNotFound, stageConnect, func(t *testing.T, v verdict) {
			if v.deviceID != "prod-mqtt_nobody" || v.projectID != projectA { // attributed to the CA's project
				t.Errorf("verdict device %q project %q", v.deviceID, v.projectID)
			}
		}}},
		{"username is not the device_id", func(t *testing.T, d *memDir) attempt {
			a := login(device(t, d, nil))
			a.username += "x"
			return a
		}, refused(iotda.ReasonUsernameMismatch, stageConnect)},
		{"SECRET device", func(t *testing.T, d *memDir) attempt {
			return login(device(t, d, func(dv *registry.Device) { dv.AuthType, dv.Secret, dv.Fingerprint = iotda.AuthSecret, "12345678", "" }))
		}, refused(iotda.ReasonAuthTypeMismatch, stageConnect)},
		{"fingerprint of another certificate", func(t *testing.T, d *memDir) attempt {
			return login(device(t, d, func(dv *registry.Device) {
				dv.Fingerprint, dv.SecondaryFingerprint = other.FingerprintSHA256(), other.FingerprintSHA1()
			}))
		}, refused(iotda.ReasonFingerprintMismatch, stageConnect)},
		{"CA deleted after the handshake", func(t *testing.T, d *memDir) attempt {
			a := login(device(t, d, nil))
			a.afterHandshake = func() { d.deleteCA(caAID) }
			return a
		}, want{iotda.ReasonUnknownCA, stageConnect, func(t *testing.T, v verdict) {
			if v.deviceID == "" {
				t.Error("the verdict does not name the device")
			}
		}}},
		{"CA of another project", func(t *testing.T, d *memDir) attempt {
			dev := addDevice(t, d, f.caB, "prod-mqtt_other-project", nil) // device in project A, certificate from project B's CA
			return login(dev)
		}, refused(iotda.ReasonWrongProject, stageConnect)},
		{"product is not MQTT", func(t *testing.T, d *memDir) attempt {
			return login(device(t, d, func(dv *registry.Device) { dv.ProductID = productCoAP }))
		}, refused(iotda.ReasonNotMQTTProduct, stageConnect)},
		{"product missing", func(t *testing.T, d *memDir) attempt {
			return login(device(t, d, func(dv *registry.Device) { dv.ProductID = "gone" }))
		}, refused(iotda.ReasonNotMQTTProduct, stageConnect)},
		{"device frozen", func(t *testing.T, d *memDir) attempt {
			return login(device(t, d, func(dv *registry.Device) { dv.Frozen = true }))
		}, refused(iotda.ReasonDeviceFrozen, stageConnect)},
		// ---- admission ----
		{"CA deleted during the CONNECT", func(t *testing.T, d *memDir) attempt {
			a := login(device(t, d, nil))
			a.afterConnect = func() { d.deleteCA(caAID) }
			return a
		}, refused(iotda.ReasonUnknownCA, stageAdmission)},
		{"no room for another session", func(t *testing.T, d *memDir) attempt {
			a := login(device(t, d, nil))
			a.sessions, a.maxClients = 1, 1
			return a
		}, refused(iotda.ReasonServerBusy, stageAdmission)},
		// ---- logins that pass ----
		{"success", func(t *testing.T, d *memDir) attempt {
			return login(device(t, d, nil))
		}, want{iotda.ReasonOK, stageAdmission, func(t *testing.T, v verdict) {
			if v.ca == nil || v.ca.ID != caAID || v.projectID != projectA || v.deviceID == "" || v.bind {
				t.Errorf("verdict %+v", v)
			}
		}}},
		{"through an intermediate", func(t *testing.T, d *memDir) attempt {
			return login(addDevice(t, d, f.intA, "prod-mqtt_intermediate", nil))
		}, want{iotda.ReasonOK, stageAdmission, func(t *testing.T, v verdict) {
			if v.ca == nil || v.ca.ID != caAID {
				t.Errorf("anchored on %+v, want the root %s", v.ca, caAID)
			}
		}}},
		{"first login binds", func(t *testing.T, d *memDir) attempt {
			return login(device(t, d, func(dv *registry.Device) { dv.Fingerprint = "" }))
		}, want{iotda.ReasonOK, stageAdmission, func(t *testing.T, v verdict) {
			if !v.bind {
				t.Error("the verdict does not ask for the bind")
			}
		}}},
		{"secondary fingerprint", func(t *testing.T, d *memDir) attempt {
			return login(device(t, d, func(dv *registry.Device) {
				dv.SecondaryFingerprint, dv.Fingerprint = dv.Fingerprint, other.FingerprintSHA256()
			}))
		}, want{reason: iotda.ReasonOK, stage: stageAdmission}},
		{"SHA-1 fingerprint, upper case", func(t *testing.T, d *memDir) attempt {
			dev := device(t, d, nil)
			d.update(dev.ID, func(dv *registry.Device) { dv.Fingerprint = strings.ToUpper(dev.Leaf.FingerprintSHA1()) })
			return login(dev)
		}, want{reason: iotda.ReasonOK, stage: stageAdmission}},
		{"takeover at the limit", func(t *testing.T, d *memDir) attempt {
			a := login(device(t, d, nil))
			a.sessions, a.maxClients, a.takeover = 1, 1, true
			return a
		}, want{reason: iotda.ReasonOK, stage: stageAdmission}},
		// ---- two problems: the table's order decides ----
		{"frozen, with another certificate", func(t *testing.T, d *memDir) attempt {
			return login(device(t, d, func(dv *registry.Device) { dv.Frozen, dv.Fingerprint = true, other.FingerprintSHA256() }))
		}, refused(iotda.ReasonFingerprintMismatch, stageConnect)},
		{"unbound, CA of another project", func(t *testing.T, d *memDir) attempt {
			return login(addDevice(t, d, f.caB, "prod-mqtt_unbound-other-project", func(dv *registry.Device) { dv.Fingerprint = "" }))
		}, want{iotda.ReasonWrongProject, stageConnect, func(t *testing.T, v verdict) {
			if v.bind {
				t.Error("a refused verdict asks for a bind")
			}
		}}},
	} {
		covered[tc.want.reason] = true
		t.Run(tc.name, func(t *testing.T) {
			d := newDir(t)
			v, s := decideAll(d, tc.setup(t, d))
			if v.reason != tc.want.reason || s != tc.want.stage {
				t.Fatalf("reason %s at stage %d (%s), want %s at stage %d", v.reason, s, v.detail, tc.want.reason, tc.want.stage)
			}
			if (v.reason == iotda.ReasonOK) != (v.detail == "") {
				t.Errorf("detail %q for reason %s", v.detail, v.reason)
			}
			if tc.want.check != nil {
				tc.want.check(t, v)
			}
			if d.binds != 0 {
				t.Errorf("deciding called BindFingerprint %d times", d.binds)
			}
		})
	}
	for _, r := range iotda.Refusals {
		if !covered[r.Reason] {
			t.Errorf("no case is refused with %s: every row of the refusal table needs one", r.Reason)
		}
	}
}

// The rules run in the order of iotda.Refusals: listing the reasons each
// rule can return, in rule order, gives the table's order, and every row
// of the table has a rule.
func TestRulesFollowTheRefusalTable(t *testing.T) {
	var order []iotda.Reason
	last := stageHandshake
	for _, r := range rules {
		if r.stage < last {
			t.Errorf("rule %q of stage %d after a rule of stage %d", r.name, r.stage, last)
		}
		last = r.stage
		for _, reason := range r.refuses {
			if _, ok := iotda.RefusalFor(reason); !ok {
				t.Errorf("rule %q refuses with %s, which is not in the refusal table", r.name, reason)
			}
			if !slices.Contains(order, reason) {
				order = append(order, reason)
			}
		}
	}
	var table []iotda.Reason
	for _, r := range iotda.Refusals {
		table = append(table, r.Reason)
	}
	if !slices.Equal(order, table) {
		t.Errorf("rules refuse in the order\n  %v\nthe refusal table is\n  %v", order, table)
	}
}

// decide has no side effects: the directory is not written (a first login
// is only told to bind), the login's inputs are unchanged, and deciding
// again gives the same verdict.
func TestDecideHasNoSideEffects(t *testing.T) {
	d := newDir(t)
	dev := addDevice(t, d, getFixture(t).caA, "prod-mqtt_pure", func(dv *registry.Device) { dv.Fingerprint = "" })
	l := &login{dir: d, now: time.Now(), certs: chain(dev.Leaf), sha256: dev.Leaf.FingerprintSHA256()}
	hs := l.decide(stageHandshake)
	l.anchors = hs.anchors
	l.clientID, l.username, l.keepalive = clientID(dev.ID), dev.ID, 120
	inputs := *l
	first := l.decide(stageConnect)
	second := l.decide(stageConnect)
	if !first.ok() || !first.bind {
		t.Fatalf("verdict %s bind=%v, want ok with a bind", first.reason, first.bind)
	}
	if !reflect.DeepEqual(first, second) {
		t.Errorf("deciding twice differs:\n%+v\n%+v", first, second)
	}
	after := *l
	after.v, inputs.v = verdict{}, verdict{}
	if !reflect.DeepEqual(after, inputs) {
		t.Errorf("decide changed the login's inputs:\n%+v\n%+v", inputs, after)
	}
	if got := d.device(dev.ID).Fingerprint; got != "" || d.binds != 0 {
		t.Errorf("decide wrote the directory: fingerprint %q, %d binds", got, d.binds)
	}
	if calls := d.statusCalls(dev.ID); len(calls) != 0 {
		t.Errorf("decide changed the device status: %+v", calls)
	}
}
