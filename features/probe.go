package features

// probe.go: a minimal raw MQTT 5 client for the protocol-limit scenarios
// [MQTT-LIMITS]. sim/device deliberately cannot send what IoTDA does not
// support (QoS 2, retained messages, wills), so to check that a platform
// refuses them the suite writes those packets itself, with mochi-mqtt's
// packet codec, over the same mutual-TLS connection a device uses.
// References to "spec" are to https://docs.oasis-open.org/mqtt/mqtt/v5.0/mqtt-v5.0.html.

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"time"

	"github.com/mochi-mqtt/server/v2/packets"
)

// probeAnswerTimeout bounds the wait for the platform's answer to a PUBLISH.
const probeAnswerTimeout = 3 * time.Second

// maxProbePacket bounds what the probe reads from the platform.
const maxProbePacket = 64 << 10

// probeConn is one raw MQTT 5 connection.
type probeConn struct {
	conn    *tls.Conn
	br      *bufio.Reader
	connack packets.Packet // valid when connected or refused
	nextID  uint16
}

// probeWill is a will message to put in CONNECT.
type probeWill struct {
	topic   string
	payload []byte
}

// probeAnswer is what the platform did after a PUBLISH.
type probeAnswer struct {
	kind string // "puback", "pubrec", "disconnect", "closed", "timeout", "other"
	code byte   // reason code of PUBACK, PUBREC or DISCONNECT
	err  error  // the read error for "closed" and "other"
}

func (a probeAnswer) String() string {
	switch a.kind {
	case "puback", "pubrec", "disconnect":
		return fmt.Sprintf("%s 0x%02x", a.kind, a.code)
	case "":
		return "nothing recorded"
	default:
		return fmt.Sprintf("%s (%v)", a.kind, a.err)
	}
}

// dialProbe connects over TLS and sends an MQTT 5 CONNECT. It returns the
// connection with its CONNACK, whatever the CONNACK's reason code; an error
// means no CONNACK arrived.
func dialProbe(ctx context.Context, addr string, tc *tls.Config, clientID, username string, will *probeWill) (*probeConn, error) {
	ctx, cancel := context.WithTimeout(ctx, loginTimeout)
	defer cancel()
	d := tls.Dialer{Config: tc}
	raw, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("probe dial %s: %w", addr, err)
	}
	p := &probeConn{conn: raw.(*tls.Conn), br: bufio.NewReader(raw)}
	if dl, ok := ctx.Deadline(); ok {
		_ = p.conn.SetDeadline(dl)
	}
	pk := packets.Packet{
		FixedHeader:     packets.FixedHeader{Type: packets.Connect},
		ProtocolVersion: 5,
		Connect: packets.ConnectParams{
			ProtocolName:     []byte("MQTT"),
			Clean:            true,
			Keepalive:        120,
			ClientIdentifier: clientID,
			UsernameFlag:     username != "",
			Username:         []byte(username),
		},
	}
	if will != nil {
		pk.Connect.WillFlag, pk.Connect.WillTopic, pk.Connect.WillPayload = true, will.topic, will.payload
	}
	var buf bytes.Buffer
	if err := pk.ConnectEncode(&buf); err != nil {
		p.close()
		return nil, fmt.Errorf("probe: encode CONNECT: %w", err)
	}
	if _, err := p.conn.Write(buf.Bytes()); err != nil {
		p.close()
		return nil, fmt.Errorf("probe: write CONNECT: %w", err)
	}
	fh, body, err := p.read()
	if err != nil {
		p.close()
		return nil, fmt.Errorf("probe: read CONNACK: %w", err)
	}
	if fh.Type != packets.Connack {
		p.close()
		return nil, fmt.Errorf("probe: got %s instead of CONNACK", packets.PacketNames[fh.Type])
	}
	p.connack = packets.Packet{FixedHeader: fh, ProtocolVersion: 5}
	if err := p.connack.ConnackDecode(body); err != nil {
		p.close()
		return nil, fmt.Errorf("probe: decode CONNACK: %w", err)
	}
	_ = p.conn.SetDeadline(time.Time{})
	return p, nil
}

// read reads one packet.
func (p *probeConn) read() (packets.FixedHeader, []byte, error) {
	var fh packets.FixedHeader
	b, err := p.br.ReadByte()
	if err != nil {
		return fh, nil, err
	}
	if err := fh.Decode(b); err != nil {
		return fh, nil, fmt.Errorf("fixed header 0x%02x: %w", b, err)
	}
	n, _, err := packets.DecodeLength(p.br)
	if err != nil {
		return fh, nil, err
	}
	if n > maxProbePacket {
		return fh, nil, fmt.Errorf("%s of %d bytes", packets.PacketNames[fh.Type], n)
	}
	fh.Remaining = n
	body := make([]byte, n)
	if _, err := io.ReadFull(p.br, body); err != nil {
		return fh, nil, err
	}
	return fh, body, nil
}

// publish sends one PUBLISH and reports the platform's first answer.
func (p *probeConn) publish(topic string, qos byte, retain bool, payload []byte) probeAnswer {
	pk := packets.Packet{
		FixedHeader:     packets.FixedHeader{Type: packets.Publish, Qos: qos, Retain: retain},
		ProtocolVersion: 5,
		TopicName:       topic,
		Payload:         payload,
	}
	if qos > 0 {
		p.nextID++
		pk.PacketID = p.nextID
	}
	var buf bytes.Buffer
	if err := pk.PublishEncode(&buf); err != nil {
		return probeAnswer{kind: "other", err: fmt.Errorf("encode PUBLISH: %w", err)}
	}
	_ = p.conn.SetDeadline(time.Now().Add(probeAnswerTimeout))
	defer func() { _ = p.conn.SetDeadline(time.Time{}) }()
	if _, err := p.conn.Write(buf.Bytes()); err != nil {
		return classifyProbeErr(err)
	}
	fh, body, err := p.read()
	if err != nil {
		return classifyProbeErr(err)
	}
	ack := packets.Packet{FixedHeader: fh, ProtocolVersion: 5}
	switch fh.Type {
	case packets.Puback:
		if err := ack.PubackDecode(body); err != nil {
			return probeAnswer{kind: "other", err: err}
		}
		return probeAnswer{kind: "puback", code: ack.ReasonCode}
	case packets.Pubrec:
		if err := ack.PubrecDecode(body); err != nil {
			return probeAnswer{kind: "other", err: err}
		}
		return probeAnswer{kind: "pubrec", code: ack.ReasonCode}
	case packets.Disconnect:
		if err := ack.DisconnectDecode(body); err != nil {
			return probeAnswer{kind: "other", err: err}
		}
		return probeAnswer{kind: "disconnect", code: ack.ReasonCode}
	default:
		return probeAnswer{kind: "other", err: fmt.Errorf("unexpected %s", packets.PacketNames[fh.Type])}
	}
}

func classifyProbeErr(err error) probeAnswer {
	var ne net.Error
	switch {
	case errors.As(err, &ne) && ne.Timeout():
		return probeAnswer{kind: "timeout", err: err}
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, net.ErrClosed):
		return probeAnswer{kind: "closed", err: err}
	default:
		// ECONNRESET, EPIPE and alerts all mean the platform ended the connection.
		var op *net.OpError
		if errors.As(err, &op) {
			return probeAnswer{kind: "closed", err: err}
		}
		return probeAnswer{kind: "other", err: err}
	}
}

// disconnect sends DISCONNECT (normal) and closes the connection.
func (p *probeConn) disconnect() {
	pk := packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Disconnect}, ProtocolVersion: 5}
	var buf bytes.Buffer
	if pk.DisconnectEncode(&buf) == nil {
		_ = p.conn.SetWriteDeadline(time.Now().Add(time.Second))
		_, _ = p.conn.Write(buf.Bytes())
	}
	p.close()
}

func (p *probeConn) close() { _ = p.conn.Close() }

// maximumQoS is the CONNACK's Maximum QoS (2 when absent, spec §3.2.2.3.4).
func (p *probeConn) maximumQoS() byte {
	if p.connack.Properties.MaximumQosFlag {
		return p.connack.Properties.MaximumQos
	}
	return 2
}

// retainAvailable is the CONNACK's Retain Available (1 when absent, spec §3.2.2.3.5).
func (p *probeConn) retainAvailable() byte {
	if p.connack.Properties.RetainAvailableFlag {
		return p.connack.Properties.RetainAvailable
	}
	return 1
}
