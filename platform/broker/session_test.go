package broker

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"
	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/certlab/certlab/iotda"
	"github.com/certlab/certlab/platform/registry"
)

func ctxT(t testing.TB) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// [ACL-OWN-TOPICS] A device publishes and subscribes only under its own prefix.
func TestACL(t *testing.T) {
	d := newDir(t)
	b := startBroker(t, d, nil)
	f := getFixture(t)
	dev := addDevice(t, d, f.caA, "prod-mqtt_acl", nil)
	peer := addDevice(t, d, f.caA, "prod-mqtt_acl-peer", nil)
	pd, err := loginPaho(t, b.Addr(), dev, clientID(dev.ID))
	if err != nil {
		t.Fatal(err)
	}
	own := iotda.TopicPrefix(dev.ID)
	foreign := iotda.TopicPrefix(peer.ID)

	t.Run("MQTT 5 publish QoS 1", func(t *testing.T) {
		for _, tc := range []struct {
			topic string
			code  byte
		}{
			{own + "sys/messages/up", 0x00},
			{own + "user/custom", 0x00},
			{foreign + "sys/messages/up", 0x87},
			{iotda.DeviceTopic(dev.ID+"x", iotda.TopicMessagesUp), 0x87}, // a device ID that merely starts with ours
			{"other/topic", 0x87},
		} {
			resp, err := pd.c.Publish(ctxT(t), &paho.Publish{Topic: tc.topic, QoS: 1, Payload: []byte("{}")})
			if resp == nil {
				t.Fatalf("publish %s: %v", tc.topic, err)
			}
			if resp.ReasonCode != tc.code {
				t.Errorf("publish %s: PUBACK 0x%02x, want 0x%02x", tc.topic, resp.ReasonCode, tc.code)
			}
		}
	})
	t.Run("MQTT 5 subscribe", func(t *testing.T) {
		sa, _ := pd.c.Subscribe(ctxT(t), &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{
			{Topic: own + "sys/messages/down", QoS: 1},
			{Topic: own + "sys/commands/#", QoS: 2},
			{Topic: foreign + "sys/messages/down", QoS: 1},
			{Topic: "$oc/devices/+/sys/messages/down", QoS: 0},
			{Topic: "#", QoS: 0},
		}})
		if sa == nil {
			t.Fatal("no SUBACK")
		}
		// Granted QoS is capped at 1 [MQTT-LIMITS]; foreign filters get 0x87.
		want := []byte{0x01, 0x01, 0x87, 0x87, 0x87}
		if !bytes.Equal(sa.Reasons, want) {
			t.Errorf("SUBACK reasons % x, want % x", sa.Reasons, want)
		}
	})
	t.Run("MQTT 3.1.1 publish QoS 1 to a foreign topic ends the connection", func(t *testing.T) {
		c := loginRaw(t, b.Addr(), peer, 4)
		if err := c.write(packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Publish, Qos: 1}, PacketID: 7,
			TopicName: own + "sys/messages/up", Payload: []byte("x")}); err != nil {
			t.Fatal(err)
		}
		if got := c.expectCleanClose(2 * time.Second); len(got) != 0 {
			t.Errorf("got %s; 3.1.1 has no server DISCONNECT", describe(got))
		}
	})
	t.Run("MQTT 3.1.1 subscribe to a foreign topic", func(t *testing.T) {
		c := loginRaw(t, b.Addr(), peer, 4)
		if err := c.write(packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Subscribe, Qos: 1}, PacketID: 9,
			Filters: packets.Subscriptions{{Filter: own + "#", Qos: 1}, {Filter: foreign + "#", Qos: 1}}}); err != nil {
			t.Fatal(err)
		}
		raw, pk, err := c.read(2 * time.Second)
		if err != nil || pk.FixedHeader.Type != packets.Suback {
			t.Fatalf("SUBACK: % x %v", raw, err)
		}
		requireBytes(t, raw, []byte{0x90, 0x04, 0x00, 0x09, 0x80, 0x01}) // 0x80 failure for 3.1.1
	})
}

// [MQTT-LIMITS] No QoS 2, no retained messages, PUBLISH <= 1 MB (wills: TestConnectRefusals).
func TestMQTTLimits(t *testing.T) {
	d := newDir(t)
	b := startBroker(t, d, nil)
	f := getFixture(t)
	dev := addDevice(t, d, f.caA, "prod-mqtt_limits", nil)
	topic := iotda.DeviceTopic(dev.ID, iotda.TopicMessagesUp)
	publish := func(qos byte, retain bool, payload []byte) packets.Packet {
		return packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Publish, Qos: qos, Retain: retain},
			PacketID: uint16(qos), TopicName: topic, Payload: payload}
	}
	for _, tc := range []struct {
		name     string
		version  byte
		pk       packets.Packet
		wantDisc byte // MQTT 5 DISCONNECT reason; 0 = connection just closes
		closes   bool
	}{
		{"QoS 2 over MQTT 5", 5, publish(2, false, []byte("x")), 0x9B, true},
		{"QoS 2 over MQTT 3.1.1", 4, publish(2, false, []byte("x")), 0, true},
		{"retained over MQTT 5", 5, publish(0, true, []byte("x")), 0x9A, true},
		{"retained over MQTT 3.1.1", 4, publish(1, true, []byte("x")), 0, true},
		{"1 MiB payload over MQTT 3.1.1", 4, publish(1, false, make([]byte, MaxPayload)), 0, false},
		{"1 MiB payload over MQTT 5", 5, publish(1, false, make([]byte, MaxPayload)), 0, false},
		{"oversize payload over MQTT 3.1.1", 4, publish(1, false, make([]byte, MaxPacketSize)), 0, true},
		{"oversize payload over MQTT 5", 5, publish(1, false, make([]byte, MaxPacketSize)), 0, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := loginRaw(t, b.Addr(), dev, tc.version)
			if err := c.write(tc.pk); err != nil {
				// The server may cut an oversize packet off mid-write.
				if !tc.closes || !(errors.Is(err, syscall.EPIPE) || errors.Is(err, syscall.ECONNRESET)) {
					t.Fatal(err)
				}
			}
			if !tc.closes {
				raw, pk, err := c.read(3 * time.Second)
				if err != nil || pk.FixedHeader.Type != packets.Puback || pk.ReasonCode != 0 {
					t.Fatalf("want PUBACK success, got % x %v", raw, err)
				}
				return
			}
			// A limit broken by a packet mochi read whole ends the session
			// cleanly; an oversize one is cut off mid-read (the server closes
			// with unread bytes, which may reset the connection).
			var got []packets.Packet
			if len(tc.pk.Payload) > MaxPayload {
				got = c.expectClosed(3 * time.Second)
			} else {
				got = c.expectCleanClose(3 * time.Second)
			}
			if tc.wantDisc != 0 {
				if len(got) != 1 || got[0].FixedHeader.Type != packets.Disconnect || got[0].ReasonCode != tc.wantDisc {
					t.Errorf("got %s, want DISCONNECT 0x%02x", describe(got), tc.wantDisc)
				}
			} else if len(got) != 0 {
				t.Errorf("got packets %s before the close", describe(got))
			}
		})
	}
	if n := b.srv.Topics.Retained.Len(); n > 0 {
		for _, pk := range b.srv.Topics.Retained.GetAll() {
			if !strings.HasPrefix(pk.TopicName, "$SYS") {
				t.Errorf("retained message stored on %s", pk.TopicName)
			}
		}
	}
}

// Messages up are counted; properties reports feed the shadow.
func TestMessagesAndShadow(t *testing.T) {
	d := newDir(t)
	b := startBroker(t, d, nil)
	dev := addDevice(t, d, getFixture(t).caA, "prod-mqtt_shadow", nil)
	pd, err := loginPaho(t, b.Addr(), dev, clientID(dev.ID))
	if err != nil {
		t.Fatal(err)
	}
	base := iotda.TopicPrefix(dev.ID) + "sys/"
	for _, p := range []struct{ topic, payload string }{
		{base + "messages/up", `{"content":"hello"}`},
		{base + "messages/up", `{"content":"again"}`},
		{base + "properties/report", `{"services":[{"service_id":"Battery","properties":{"level":80,"charging":false},"event_time":"20250101T000000Z"}]}`},
		{base + "properties/report", `{"services":[{"service_id":"Battery","properties":{"level":79}},{"service_id":"Location","properties":{"lat":1.5}}]}`},
		{base + "properties/report", `not json`},
	} {
		if _, err := pd.c.Publish(ctxT(t), &paho.Publish{Topic: p.topic, QoS: 1, Payload: []byte(p.payload)}); err != nil {
			t.Fatalf("publish %s: %v", p.topic, err)
		}
	}
	// The PUBACK goes out before the inline handlers run: wait for them.
	eventually(t, "2 messages up and 3 property reports counted", func() bool {
		return counterValue(t, b.reg, "certlab_platform_messages_received_total", "kind", kindMessageUp) == 2 &&
			counterValue(t, b.reg, "certlab_platform_messages_received_total", "kind", kindPropertiesReport) == 3
	})
	sh := b.Shadow(dev.ID)
	if len(sh) != 2 || sh[0].ServiceID != "Battery" || sh[1].ServiceID != "Location" {
		t.Fatalf("shadow %+v", sh)
	}
	bat := sh[0]
	if bat.Version != 2 || bat.Reported.Properties["level"] != float64(79) || bat.Reported.Properties["charging"] != false || bat.Reported.EventTime == "20250101T000000Z" {
		t.Errorf("battery shadow %+v %+v", bat, bat.Reported)
	}
	if sh[1].Reported.Properties["lat"] != 1.5 || sh[1].Version != 1 {
		t.Errorf("location shadow %+v", sh[1].Reported)
	}
	if len(b.Shadow("prod-mqtt_nobody")) != 0 {
		t.Error("shadow of an unknown device is not empty")
	}
	b.HandleEvent(registry.Event{Kind: registry.EventDeviceDeleted, DeviceID: dev.ID})
	if len(b.Shadow(dev.ID)) != 0 {
		t.Error("shadow kept after the device was deleted")
	}
}

func TestSendDown(t *testing.T) {
	d := newDir(t)
	b := startBroker(t, d, nil)
	f := getFixture(t)
	dev := addDevice(t, d, f.caA, "prod-mqtt_down", nil)
	offline := addDevice(t, d, f.caA, "prod-mqtt_down-offline", nil)
	pd, err := loginPaho(t, b.Addr(), dev, clientID(dev.ID))
	if err != nil {
		t.Fatal(err)
	}
	down := iotda.DeviceTopic(dev.ID, iotda.TopicMessagesDown)
	if _, err := pd.c.Subscribe(ctxT(t), &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: down, QoS: 1}}}); err != nil {
		t.Fatal(err)
	}
	if err := b.SendDown(ctxT(t), dev.ID, "", []byte(`{"content":"hi"}`)); err != nil {
		t.Fatalf("SendDown: %v", err)
	}
	select {
	case p := <-pd.received:
		if p.Topic != down || string(p.Payload) != `{"content":"hi"}` || p.QoS != 1 {
			t.Errorf("received %s %q QoS %d", p.Topic, p.Payload, p.QoS)
		}
	case <-time.After(3 * time.Second):
		t.Fatal("device received nothing")
	}
	for _, tc := range []struct {
		name    string
		device  string
		topic   string
		payload []byte
		want    error
	}{
		{"offline device", offline.ID, "", []byte("x"), iotda.ErrDeviceOffline},
		{"foreign topic", dev.ID, iotda.DeviceTopic(offline.ID, iotda.TopicMessagesDown), []byte("x"), ErrTopicNotAllowed},
		{"wildcard topic", dev.ID, iotda.TopicPrefix(dev.ID) + "#", []byte("x"), ErrTopicNotAllowed},
		{"payload over 1 MB", dev.ID, "", make([]byte, MaxPayload+1), ErrPayloadTooLarge},
	} {
		if err := b.SendDown(ctxT(t), tc.device, tc.topic, tc.payload); !errors.Is(err, tc.want) {
			t.Errorf("%s: err %v, want %v", tc.name, err, tc.want)
		}
	}
}

// HandleEvent drops the sessions a registry change disqualifies, and only
// those. [CA-DELETE] [DEV-FREEZE]
func TestHandleEventDrops(t *testing.T) {
	d := newDir(t)
	b := startBroker(t, d, nil)
	f := getFixture(t)
	onA := addDevice(t, d, f.caA, "prod-mqtt_ev-a", nil)
	onB := addDevice(t, d, f.caB, "prod-mqtt_ev-b", func(dv *registry.Device) { dv.ProjectID, dv.ProductID = projectB, productB })
	for _, tc := range []struct {
		name    string
		ev      func(dev testDevice) registry.Event
		dropped bool
		cause   string
	}{
		{"device frozen", func(dev testDevice) registry.Event {
			return registry.Event{Kind: registry.EventDeviceFrozen, DeviceID: dev.ID}
		}, true, causeDeviceFrozen},
		{"device deleted", func(dev testDevice) registry.Event {
			return registry.Event{Kind: registry.EventDeviceDeleted, DeviceID: dev.ID}
		}, true, causeDeviceDeleted},
		{"fingerprint reset with force", func(dev testDevice) registry.Event {
			return registry.Event{Kind: registry.EventFingerprintReset, DeviceID: dev.ID, Force: true}
		}, true, causeFingerprintReset},
		{"fingerprint reset without force", func(dev testDevice) registry.Event {
			return registry.Event{Kind: registry.EventFingerprintReset, DeviceID: dev.ID}
		}, false, ""},
		{"another device frozen", func(testDevice) registry.Event {
			return registry.Event{Kind: registry.EventDeviceFrozen, DeviceID: onB.ID}
		}, false, ""},
		{"another CA deleted", func(testDevice) registry.Event {
			return registry.Event{Kind: registry.EventCADeleted, CAID: caBID}
		}, false, ""},
		{"trust changed", func(testDevice) registry.Event { return registry.Event{Kind: registry.EventTrustChanged} }, false, ""},
		{"its CA deleted", func(testDevice) registry.Event {
			return registry.Event{Kind: registry.EventCADeleted, CAID: caAID}
		}, true, causeCADeleted},
	} {
		for _, version := range []byte{4, 5} {
			t.Run(tc.name+"/"+map[byte]string{4: "MQTT 3.1.1", 5: "MQTT 5"}[version], func(t *testing.T) {
				c := loginRaw(t, b.Addr(), onA, version)
				before := 0.0
				if tc.cause != "" {
					before = counterValue(t, b.reg, "certlab_platform_sessions_dropped_total", "cause", tc.cause)
				}
				start := time.Now()
				b.HandleEvent(tc.ev(onA))
				if !tc.dropped {
					if _, _, err := c.read(150 * time.Millisecond); !isTimeout(err) {
						t.Fatalf("session ended: %v", err)
					}
					return
				}
				got := c.expectCleanClose(time.Second)
				elapsed := time.Since(start)
				t.Logf("HandleEvent -> client saw the close: %v", elapsed)
				if version == 5 && (len(got) != 1 || got[0].FixedHeader.Type != packets.Disconnect || got[0].ReasonCode != 0x87) {
					t.Errorf("got %s, want DISCONNECT 0x87", describe(got))
				}
				if after := counterValue(t, b.reg, "certlab_platform_sessions_dropped_total", "cause", tc.cause); after != before+1 {
					t.Errorf("dropped{%s} %v -> %v", tc.cause, before, after)
				}
				eventually(t, "session released", func() bool { return b.Connected() == 0 })
			})
		}
	}
	// After the CA is gone from the trust snapshot, new logins fail in TLS.
	d.deleteCA(caAID)
	if refused, err := probeRefused(t, b.Addr(), tlsConfig(t, onA.Leaf, tls.VersionTLS13)); !refused {
		t.Fatalf("login accepted after its CA was deleted (%v)", err)
	}
	waitAttempt(t, b.Broker, "", iotda.ReasonUnknownCA)
}

// A CA deleted between the handshake and the CONNECT authenticates nothing:
// the connection is closed without a CONNACK and recorded as unknown_ca. [CA-DELETE]
func TestCADeletedDuringLogin(t *testing.T) {
	d := newDir(t)
	b := startBroker(t, d, nil)
	dev := addDevice(t, d, getFixture(t).caA, "prod-mqtt_ca-race", nil)
	for _, version := range []byte{4, 5} {
		d.addCA(projectA, caAID, getFixture(t).caA.Cert, true)
		// TLS 1.2: the dial returns after the server's Finished, i.e. after it
		// verified the chain (under TLS 1.3 the client finishes first).
		c := dialRaw(t, b.Addr(), dev.Leaf, tls.VersionTLS12, version)
		d.deleteCA(caAID) // the registry would also send EventCADeleted: no session yet
		if err := c.sendConnect(connectOpts{clientID: clientID(dev.ID), username: dev.ID, keepalive: 120}); err != nil {
			t.Fatal(err)
		}
		if got := c.expectCleanClose(2 * time.Second); len(got) != 0 {
			t.Errorf("MQTT %d: got %s, want no CONNACK", version, describe(got))
		}
		a := waitAttempt(t, b.Broker, dev.ID, iotda.ReasonUnknownCA)
		if a.ConnackCode != 0 || a.MQTTVersion != iotda.MQTTVersion(version) {
			t.Errorf("attempt %+v", a)
		}
	}
	if b.Connected() != 0 {
		t.Error("session admitted")
	}
}

// OnACLCheck runs on every delivery: it must not allocate.
func TestACLCheckAllocationFree(t *testing.T) {
	h := &x509Hook{}
	st := &connState{accepted: true, prefix: "$oc/devices/d1/"}
	cl := &mqtt.Client{}
	cl.Net.Conn = &mqttConn{st: st}
	allowed := testing.AllocsPerRun(1000, func() {
		if !h.OnACLCheck(cl, "$oc/devices/d1/sys/messages/down", false) || h.OnACLCheck(cl, "$oc/devices/d2/x", true) {
			t.Fatal("wrong ACL decision")
		}
	})
	if allowed != 0 {
		t.Errorf("OnACLCheck allocates %v times per call", allowed)
	}
}
