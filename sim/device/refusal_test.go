package device

import (
	"bufio"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"syscall"
	"testing"
	"time"

	"github.com/certlab/certlab/iotda"
)

// A server that refuses a connection before TLS — reset at accept, or reset
// on reading the ClientHello, as certlab's platform does at its handshake
// bound — is a refusal with reason closed_before_tls, not a broken peer;
// one that hangs up after it has answered stays an error (eof/reset).
func TestLoginClosedBeforeTLS(t *testing.T) {
	p := getPKI(t)
	d := newDevice(t, p.deviceCA, "prod_busy")
	reset := func(c net.Conn) {
		if tc, ok := c.(*net.TCPConn); ok {
			_ = tc.SetLinger(0)
		}
		_ = c.Close()
	}
	atAccept := rawServer(t, nil, reset)
	afterHello := rawServer(t, nil, func(c net.Conn) {
		var b [512]byte
		_, _ = c.Read(b[:]) // the ClientHello
		reset(c)
	})
	midHandshake := rawServer(t, nil, func(c net.Conn) { // answers, then hangs up
		var b [512]byte
		_, _ = c.Read(b[:])
		_, _ = c.Write([]byte{0x16, 0x03, 0x03, 0x00, 0x10}) // a handshake record header, then nothing
		reset(c)
	})
	for _, tc := range []struct {
		name    string
		addr    string
		outcome iotda.Outcome
		phases  []Phase
		reason  string
	}{
		{"reset at accept", atAccept, iotda.OutcomeRefused, []Phase{PhaseTCP, PhaseTLS}, ReasonClosedBeforeTLS},
		{"reset on ClientHello", afterHello, iotda.OutcomeRefused, []Phase{PhaseTLS}, ReasonClosedBeforeTLS},
		{"reset after answering", midHandshake, iotda.OutcomeError, []Phase{PhaseTLS}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for range 5 {
				cfg := Config{Addr: tc.addr, TLS: p.clientTLS(d.leaf, tls.VersionTLS13), ClientID: iotda.ClientIDFor(d.id, time.Now()),
					Username: d.id, ConnectTimeout: 2 * time.Second}
				s, res := Login(t.Context(), cfg)
				if s != nil {
					s.Close()
					t.Fatal("logged in")
				}
				phaseOK := false
				for _, ph := range tc.phases {
					phaseOK = phaseOK || res.Phase == ph
				}
				if res.Outcome != tc.outcome || !phaseOK || (tc.reason != "" && res.Reason != tc.reason) ||
					(tc.reason == "" && res.Reason == ReasonClosedBeforeTLS) {
					t.Fatalf("login = {%s %q %q} (%v), want {%s %v %q}", res.Outcome, res.Phase, res.Reason, res.Err, tc.outcome, tc.phases, tc.reason)
				}
			}
		})
	}
}

// Abort ends a held session as a network failure would: the server reads
// no DISCONNECT and no close_notify, only the connection's end.
func TestSessionAbort(t *testing.T) {
	p := getPKI(t)
	d := newDevice(t, p.deviceCA, "prod_abort")
	for _, mv := range []iotda.MQTTVersion{iotda.MQTT311, iotda.MQTT5} {
		t.Run(mv.String(), func(t *testing.T) {
			after := make(chan error, 1) // what the server read after CONNACK
			addr := rawServer(t, p.serverTLS(), func(c net.Conn) {
				br := bufio.NewReader(c)
				if _, _, err := readPacket(&byteReader{r: br}); err != nil { // CONNECT
					after <- err
					return
				}
				connack := []byte{0x20, 0x02, 0x00, 0x00}
				if mv == iotda.MQTT5 {
					connack = []byte{0x20, 0x03, 0x00, 0x00, 0x00}
				}
				_, _ = c.Write(connack)
				_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
				n, err := io.Copy(io.Discard, br)
				if n > 0 {
					err = errors.New("the server read bytes after CONNACK")
				}
				after <- err
			})
			cfg := Config{Addr: addr, TLS: p.clientTLS(d.leaf, tls.VersionTLS13), MQTTVersion: mv,
				ClientID: iotda.ClientIDFor(d.id, time.Now()), Username: d.id, Keepalive: 60}
			s, res := Login(t.Context(), cfg)
			if s == nil {
				t.Fatalf("login: %+v", res)
			}
			s.Abort()
			select {
			case <-s.Done():
			default:
				t.Fatal("Abort returned before the session ended")
			}
			if errors.Is(s.Err(), ErrClosed) || s.Err() == nil {
				t.Errorf("Err after Abort = %v, want the connection's error", s.Err())
			}
			if err := <-after; !errors.Is(err, syscall.ECONNRESET) {
				t.Errorf("server saw %v after CONNACK; want a connection reset and nothing else", err)
			}
			if err := s.Close(); err != nil {
				t.Errorf("Close after Abort: %v", err)
			}
		})
	}
}
