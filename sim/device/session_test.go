package device

import (
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"testing"
	"time"

	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/certlab/certlab/iotda"
)

// mustLogin logs in and fails the test unless it succeeds; the session is
// closed at cleanup.
func mustLogin(t testing.TB, cfg Config) *Session {
	t.Helper()
	s, res := Login(t.Context(), cfg)
	if !res.OK() || s == nil {
		t.Fatalf("login %s: {%s %q %q} %v", cfg.ClientID, res.Outcome, res.Phase, res.Reason, res.Err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// requireEnded waits for the session to end and returns its Err.
func requireEnded(t testing.TB, s *Session) error {
	t.Helper()
	select {
	case <-s.Done():
		if s.Err() == nil {
			t.Fatal("Done closed but Err is nil")
		}
		return s.Err()
	case <-time.After(5 * time.Second):
		t.Fatal("session did not end within 5s")
		return nil
	}
}

func requireLive(t testing.TB, s *Session) {
	t.Helper()
	select {
	case <-s.Done():
		t.Fatalf("session ended: %v", s.Err())
	default:
	}
}

// [ACL-OWN-TOPICS] A device may publish and subscribe under its own
// $oc/devices/{device_id}/ only. MQTT 5 reports a denial as a reason code and
// keeps the session; 3.1.1 has SUBACK 0x80, and the broker disconnects a denied
// QoS 1 publisher.
func TestPublishSubscribeACL(t *testing.T) {
	t.Parallel()
	b := startBroker(t)
	for _, mv := range []iotda.MQTTVersion{4, 5} {
		t.Run(fmt.Sprintf("v%d", mv), func(t *testing.T) {
			t.Parallel()
			d := newDevice(t, b.deviceCA, fmt.Sprintf("prod_acl-v%d", mv))
			msgs := make(chan Message, 4)
			cfg := b.config(d, mv, tls.VersionTLS13)
			cfg.OnMessage = func(m Message) { msgs <- m }
			s := mustLogin(t, cfg)
			own := iotda.DeviceTopic(d.id, iotda.TopicMessagesDown)
			other := "$oc/devices/someone-else/sys/messages/down"
			deniedSub := byte(0x80)
			if mv == 5 {
				deniedSub = 0x87
			}

			for _, tc := range []struct {
				name   string
				filter string
				qos    byte
				want   byte
			}{
				{"own topic qos1", own, 1, 0x01},
				{"own wildcard qos0", iotda.TopicPrefix(d.id) + "sys/commands/#", 0, 0x00},
				{"foreign topic", other, 1, deniedSub},
			} {
				got, err := s.Subscribe(t.Context(), tc.filter, tc.qos)
				if err != nil || got != tc.want {
					t.Errorf("Subscribe %s = 0x%02x, %v; want 0x%02x", tc.name, got, err, tc.want)
				}
			}

			// QoS 1 to its own topic: PUBACK 0x00, and the broker routes it back
			// to our subscription (the v3 session acks the inbound QoS 1 itself).
			code, err := s.Publish(t.Context(), own, 1, []byte(`{"n":1}`))
			if err != nil || code != 0 {
				t.Fatalf("Publish own qos1 = 0x%02x, %v", code, err)
			}
			select {
			case m := <-msgs:
				if m.Topic != own || string(m.Payload) != `{"n":1}` || m.QoS != 1 {
					t.Errorf("message = %+v", m)
				}
			case <-time.After(5 * time.Second):
				t.Fatal("own publish never delivered")
			}
			if code, err := s.Publish(t.Context(), own, 0, []byte("q0")); err != nil || code != 0 {
				t.Errorf("Publish own qos0 = 0x%02x, %v", code, err)
			}
			if _, err := s.Publish(t.Context(), own, 2, nil); !errors.Is(err, ErrQoS2) {
				t.Errorf("Publish qos2 err = %v, want ErrQoS2", err)
			}
			// A denied QoS 0 publish is dropped silently in both versions.
			if code, err := s.Publish(t.Context(), other, 0, []byte("x")); err != nil || code != 0 {
				t.Errorf("Publish foreign qos0 = 0x%02x, %v", code, err)
			}
			requireLive(t, s)

			code, err = s.Publish(t.Context(), other, 1, []byte("x"))
			if mv == 5 {
				if err != nil || code != 0x87 {
					t.Fatalf("v5 Publish foreign qos1 = 0x%02x, %v; want 0x87", code, err)
				}
				requireLive(t, s)
				return
			}
			if err == nil {
				t.Fatalf("v3 Publish foreign qos1 = 0x%02x, nil; want an error (server disconnect)", code)
			}
			requireEnded(t, s)
			if _, err := s.Publish(t.Context(), own, 0, nil); err == nil {
				t.Error("Publish on an ended session succeeded")
			}
		})
	}
}

// Done closes and Err explains when the server ends the session: an
// administrative disconnect and a takeover by a second login. [LOGIN-TAKEOVER]
func TestServerEndsSession(t *testing.T) {
	t.Parallel()
	b := startBroker(t)
	for _, mv := range []iotda.MQTTVersion{4, 5} {
		t.Run(fmt.Sprintf("admin-disconnect-v%d", mv), func(t *testing.T) {
			t.Parallel()
			d := newDevice(t, b.deviceCA, fmt.Sprintf("prod_kick-v%d", mv))
			cfg := b.config(d, mv, tls.VersionTLS12)
			s := mustLogin(t, cfg)
			_ = b.srv.DisconnectClient(b.client(t, cfg.ClientID), packets.ErrAdministrativeAction)
			err := requireEnded(t, s)
			if mv == 5 {
				var de *DisconnectError
				if !errors.As(err, &de) || de.Code != 0x98 {
					t.Errorf("Err = %v, want DISCONNECT 0x98", err)
				}
			}
			if errors.Is(err, ErrClosed) {
				t.Errorf("Err = %v: the client did not close", err)
			}
			if cerr := s.Close(); cerr != nil {
				t.Errorf("Close after server drop = %v, want nil", cerr)
			}
		})
		t.Run(fmt.Sprintf("takeover-v%d", mv), func(t *testing.T) {
			t.Parallel()
			d := newDevice(t, b.deviceCA, fmt.Sprintf("prod_takeover-v%d", mv))
			cfg := b.config(d, mv, tls.VersionTLS13)
			first := mustLogin(t, cfg)
			second := mustLogin(t, cfg)
			err := requireEnded(t, first)
			if mv == 5 {
				var de *DisconnectError
				if !errors.As(err, &de) || de.Code != 0x8e {
					t.Errorf("Err = %v, want DISCONNECT 0x8e (session taken over)", err)
				}
			}
			requireLive(t, second)
		})
	}
}

// Close sends DISCONNECT (the broker records a normal disconnection, not a
// dropped connection), ends the session with ErrClosed and is idempotent.
func TestCloseSendsDisconnect(t *testing.T) {
	t.Parallel()
	b := startBroker(t)
	for _, mv := range []iotda.MQTTVersion{4, 5} {
		t.Run(fmt.Sprintf("v%d", mv), func(t *testing.T) {
			t.Parallel()
			d := newDevice(t, b.deviceCA, fmt.Sprintf("prod_close-v%d", mv))
			cfg := b.config(d, mv, tls.VersionTLS13)
			s := mustLogin(t, cfg)
			if err := s.Close(); err != nil {
				t.Fatalf("Close = %v", err)
			}
			if cause := b.waitStopped(t, cfg.ClientID); cause != packets.CodeDisconnect {
				t.Errorf("broker stop cause = %v, want %v (a DISCONNECT packet)", cause, packets.CodeDisconnect)
			}
			if err := requireEnded(t, s); !errors.Is(err, ErrClosed) {
				t.Errorf("Err = %v, want ErrClosed", err)
			}
			if err := s.Close(); err != nil {
				t.Errorf("second Close = %v", err)
			}
			if _, err := s.Subscribe(t.Context(), iotda.TopicPrefix(d.id)+"x", 0); !errors.Is(err, ErrClosed) {
				t.Errorf("Subscribe after Close err = %v, want ErrClosed", err)
			}
		})
	}
}

// The session keeps itself alive: mochi drops a client after 1.5 x keepalive
// (in whole seconds) without a packet, so with a 2 s keepalive a session
// without PINGREQs would be gone after 3 s. [LOGIN-KEEPALIVE]
func TestKeepalive(t *testing.T) {
	if testing.Short() {
		t.Skip("holds sessions for 3.5 s")
	}
	t.Parallel()
	b := startBroker(t)
	for _, mv := range []iotda.MQTTVersion{4, 5} {
		t.Run(fmt.Sprintf("v%d", mv), func(t *testing.T) {
			t.Parallel()
			d := newDevice(t, b.deviceCA, fmt.Sprintf("prod_ka-v%d", mv))
			cfg := b.config(d, mv, tls.VersionTLS13)
			cfg.Keepalive = 2 // mochi drops after 3 s of silence
			s := mustLogin(t, cfg)
			select {
			case <-s.Done():
				t.Fatalf("session dropped despite keepalive: %v", s.Err())
			case <-time.After(3500 * time.Millisecond):
			}
			if _, err := s.Subscribe(t.Context(), iotda.DeviceTopic(d.id, iotda.TopicMessagesDown), 1); err != nil {
				t.Fatalf("session unusable after idling: %v", err)
			}
		})
	}
}

// Without keepalive (KeepaliveZero) no PINGREQ is sent and the broker sets no
// deadline: the session stays up and idle.
func TestKeepaliveZero(t *testing.T) {
	t.Parallel()
	b := startBroker(t)
	d := newDevice(t, b.deviceCA, "prod_ka0")
	cfg := b.config(d, 4, tls.VersionTLS13)
	cfg.KeepaliveZero = true
	s := mustLogin(t, cfg)
	if ka := b.client(t, cfg.ClientID).State.Keepalive; ka != 0 {
		t.Errorf("broker saw keepalive %d, want 0", ka)
	}
	requireLive(t, s)
}

// A server that stops answering PINGREQ ends the session with
// ErrKeepaliveTimeout after 1.5 x 0.75 x keepalive.
func TestKeepaliveTimeout(t *testing.T) {
	t.Parallel()
	p := getPKI(t)
	d := newDevice(t, p.deviceCA, "prod_ka-timeout")
	for _, v := range []struct {
		mqtt    iotda.MQTTVersion
		connack []byte
	}{
		{4, []byte{0x20, 0x02, 0x00, 0x00}},
		{5, []byte{0x20, 0x03, 0x00, 0x00, 0x00}},
	} {
		t.Run(fmt.Sprintf("v%d", v.mqtt), func(t *testing.T) {
			t.Parallel()
			addr := rawServer(t, p.serverTLS(), func(c net.Conn) {
				buf := make([]byte, 512)
				if _, err := c.Read(buf); err != nil {
					return
				}
				_, _ = c.Write(v.connack)
				_, _ = io.Copy(io.Discard, c) // swallow PINGREQs
			})
			cfg := p.clientTLS(d.leaf, tls.VersionTLS13)
			s, res := Login(t.Context(), Config{Addr: addr, TLS: cfg, MQTTVersion: v.mqtt, ClientID: "ka", Keepalive: 1})
			if !res.OK() {
				t.Fatalf("login: %+v", res)
			}
			defer s.Close()
			start := time.Now()
			err := requireEnded(t, s)
			if !errors.Is(err, ErrKeepaliveTimeout) {
				t.Errorf("Err = %v, want ErrKeepaliveTimeout", err)
			}
			if el := time.Since(start); el < time.Second || el > 3*time.Second {
				t.Errorf("ended after %v, want about 1.5 s", el)
			}
		})
	}
}
