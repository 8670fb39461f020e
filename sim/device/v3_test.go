package device

import (
	"bytes"
	"crypto/tls"
	"encoding/binary"
	"io"
	"net"
	"testing"
	"time"

	"github.com/certlab/certlab/iotda"
)

// mqttString is a length-prefixed UTF-8 string (spec 1.5.3).
func mqttString(s string) []byte {
	return append(binary.BigEndian.AppendUint16(nil, uint16(len(s))), s...)
}

// TestV3WireBytes checks the 3.1.1 session byte for byte against a raw TLS
// peer: CONNECT as IoTDA devices send it (spec 3.1), then a normal
// DISCONNECT on Close (spec 3.14).
func TestV3WireBytes(t *testing.T) {
	t.Parallel()
	p := getPKI(t)
	d := newDevice(t, p.deviceCA, "prod_wire")
	clientID := iotda.ClientIDFor(d.id, time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
	got := make(chan []byte, 1)
	addr := rawServer(t, p.serverTLS(), func(c net.Conn) {
		buf := make([]byte, 512)
		n, _ := c.Read(buf) // the whole CONNECT: the session writes a packet as one record
		connect := append([]byte(nil), buf[:n]...)
		_, _ = c.Write([]byte{0x20, 0x02, 0x00, 0x00}) // CONNACK accepted
		rest, _ := io.ReadAll(c)
		got <- append(connect, rest...)
	})

	withPassword := []byte("ignored")
	for _, tc := range []struct {
		name     string
		password []byte
		flags    byte
		tail     []byte
	}{
		// 0x82 = username + clean session; no password flag for certificate devices.
		{"certificate device", nil, 0x82, nil},
		{"with password", withPassword, 0xc2, mqttString(string(withPassword))},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, res := Login(t.Context(), Config{
				Addr: addr, TLS: p.clientTLS(d.leaf, tls.VersionTLS13),
				ClientID: clientID, Username: d.id, Password: tc.password,
			})
			if !res.OK() {
				t.Fatalf("login: %+v", res)
			}
			if err := s.Close(); err != nil {
				t.Fatalf("Close: %v", err)
			}
			var body []byte
			body = append(body, mqttString("MQTT")...)
			body = append(body, 0x04, tc.flags, 0x00, 0x78) // level 4, flags, keepalive 120
			body = append(body, mqttString(clientID)...)
			body = append(body, mqttString(d.id)...)
			body = append(body, tc.tail...)
			want := append([]byte{0x10, byte(len(body))}, body...)
			want = append(want, 0xe0, 0x00) // DISCONNECT
			select {
			case g := <-got:
				if !bytes.Equal(g, want) {
					t.Errorf("wire bytes\n got % x\nwant % x", g, want)
				}
			case <-time.After(5 * time.Second):
				t.Fatal("server saw nothing")
			}
		})
	}
}

// TestV5CoalescedRecords checks that the MQTT 5 session (paho) sends each
// packet as one TLS record, and that CONNECT carries Receive Maximum 16 and
// does not switch problem information off (docs/libraries.md A2).
func TestV5CoalescedRecords(t *testing.T) {
	t.Parallel()
	p := getPKI(t)
	d := newDevice(t, p.deviceCA, "prod_wire5")
	reads := make(chan []byte, 4)
	addr := rawServer(t, p.serverTLS(), func(c net.Conn) {
		buf := make([]byte, 512)
		for i := 0; ; i++ {
			n, err := c.Read(buf) // crypto/tls returns at most one record per Read
			if err != nil {
				close(reads)
				return
			}
			reads <- append([]byte(nil), buf[:n]...)
			if i == 0 {
				_, _ = c.Write([]byte{0x20, 0x03, 0x00, 0x00, 0x00}) // CONNACK success, no properties
			}
		}
	})
	s, res := Login(t.Context(), Config{
		Addr: addr, TLS: p.clientTLS(d.leaf, tls.VersionTLS13), MQTTVersion: 5,
		ClientID: iotda.ClientIDFor(d.id, time.Now()), Username: d.id,
	})
	if !res.OK() {
		t.Fatalf("login: %+v", res)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	var recs [][]byte
	for r := range reads {
		recs = append(recs, r)
	}
	if len(recs) != 2 {
		t.Fatalf("got %d records, want CONNECT and DISCONNECT: % x", len(recs), recs)
	}
	connect, disconnect := recs[0], recs[1]
	if connect[0] != 0x10 || int(connect[1])+2 != len(connect) {
		t.Errorf("CONNECT record is not one whole packet: % x", connect)
	}
	// Properties after protocol name, level, flags and keepalive: exactly
	// Receive Maximum 16. Request Problem Information is absent, which means 1
	// (spec v5 3.1.2.11.7); paho writes it only to send 0.
	if len(connect) < 16 || !bytes.Equal(connect[12:16], []byte{0x03, 0x21, 0x00, 0x10}) {
		t.Errorf("CONNECT properties: % x", connect)
	}
	if disconnect[0] != 0xe0 || int(disconnect[1])+2 != len(disconnect) {
		t.Errorf("DISCONNECT record = % x", disconnect)
	}
}
