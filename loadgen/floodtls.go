package loadgen

// floodtls.go: the client side of one flood handshake. A peer that floods a
// mutual-TLS endpoint does not run a full TLS client: it does the least that
// makes the server pay for a handshake. This one speaks TLS 1.3 (X25519,
// TLS_AES_128_GCM_SHA256) by hand:
//
//	ClientHello        one canned record per flood: the same random and key
//	                   share every time (the server draws its own)
//	ServerHello        read: the server's key share -> one X25519 (the only
//	                   public-key operation the flood pays), the handshake
//	                   secrets (RFC 8446 §7.1)
//	server flight      EncryptedExtensions .. Finished decrypted for the
//	                   transcript only: the server's signature and
//	                   certificate are not checked
//	Certificate        the client's, encrypted: empty (no-cert) or a chain
//	                   of a CA the server does not know (unknown-ca). No
//	                   CertificateVerify: a server that decides the chain on
//	                   the Certificate (crypto/tls does) never asks for more
//	the verdict        the server's alert, decrypted with its application
//	                   traffic key ("certificate required", "bad certificate"),
//	                   or a connection closed before any TLS byte (a server
//	                   refusing to serve it: closed_before_tls)
//
// The server meanwhile pays a key exchange, a CertificateVerify signature and
// (unknown-ca) the certificate's parsing and chain decision: a handshake's
// work minus the client-signature check. Every connection ends with a TCP
// reset from the flood's side (no TIME_WAIT on the generator).

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/ecdh"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"io"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/certlab/certlab/loadgen/result"
	"github.com/certlab/certlab/sim/device"
)

// TLS 1.3 wire constants the flood uses.
const (
	recordHandshake = 22
	recordAlert     = 21
	recordCCS       = 20
	recordAppData   = 23

	msgClientHello         = 1
	msgServerHello         = 2
	msgEncryptedExtensions = 8
	msgCertificate         = 11
	msgCertificateRequest  = 13
	msgCertificateVerify   = 15
	msgFinished            = 20

	suiteAES128GCMSHA256 = 0x1301
	groupX25519          = 0x001d
	versionTLS13         = 0x0304

	maxRecordPayload = 16384 + 256 // TLSCiphertext.length bound (RFC 8446 §5.2)
)

// helloRetryRandom marks a ServerHello that is a HelloRetryRequest (RFC 8446 §4.1.3).
var helloRetryRandom = [32]byte{
	0xCF, 0x21, 0xAD, 0x74, 0xE5, 0x9A, 0x61, 0x11, 0xBE, 0x1D, 0x8C, 0x02, 0x1E, 0x65, 0xB8, 0x91,
	0xC2, 0xA2, 0x11, 0x16, 0x7A, 0xBB, 0x8C, 0x5E, 0x07, 0x9E, 0x09, 0xE2, 0xC8, 0xA8, 0x33, 0x9C,
}

// floodHello is the canned part of every flood handshake: the ClientHello
// (record and message) and the key behind its key share.
type floodHello struct {
	record []byte // the ClientHello record as sent
	msg    []byte // the handshake message, for the transcript
	key    *ecdh.PrivateKey
}

// newFloodHello builds the ClientHello: TLS 1.3 only, X25519 only,
// TLS_AES_128_GCM_SHA256 only, the signature schemes a platform's server
// certificate may use, SNI when serverName is a DNS name, no session ID (so
// the server sends no compatibility ChangeCipherSpec).
func newFloodHello(serverName string) (*floodHello, error) {
	key, err := ecdh.X25519().GenerateKey(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("flood: key share: %w", err)
	}
	var random [32]byte
	if _, err := rand.Read(random[:]); err != nil {
		return nil, fmt.Errorf("flood: client random: %w", err)
	}
	var ext []byte
	if serverName != "" && net.ParseIP(serverName) == nil {
		name := []byte(serverName)
		body := u16(nil, len(name)+3)
		body = append(body, 0) // host_name
		body = u16(body, len(name))
		body = append(body, name...)
		ext = extension(ext, 0x0000, body) // server_name
	}
	ext = extension(ext, 0x000a, []byte{0, 2, 0, 0x1d})                  // supported_groups: x25519
	ext = extension(ext, 0x002b, []byte{2, 0x03, 0x04})                  // supported_versions: TLS 1.3
	ext = extension(ext, 0x000d, u16list(0x0403, 0x0503, 0x0603, 0x0807, // signature_algorithms: ECDSA, Ed25519,
		0x0804, 0x0805, 0x0806, 0x0401, 0x0501, 0x0601)) //                  RSA-PSS, PKCS#1 (certificates)
	share := key.PublicKey().Bytes()
	ks := u16(nil, 4+len(share))
	ks = u16(ks, groupX25519)
	ks = u16(ks, len(share))
	ks = append(ks, share...)
	ext = extension(ext, 0x0033, ks) // key_share

	body := []byte{0x03, 0x03} // legacy_version
	body = append(body, random[:]...)
	body = append(body, 0)                // legacy_session_id: empty
	body = append(body, 0, 2, 0x13, 0x01) // cipher_suites: TLS_AES_128_GCM_SHA256
	body = append(body, 1, 0)             // legacy_compression_methods: null
	body = u16(body, len(ext))
	body = append(body, ext...)
	msg := handshakeMsg(msgClientHello, body)
	rec := []byte{recordHandshake, 0x03, 0x01}
	rec = u16(rec, len(msg))
	rec = append(rec, msg...)
	return &floodHello{record: rec, msg: msg, key: key}, nil
}

func u16(b []byte, v int) []byte { return append(b, byte(v>>8), byte(v)) }

func u24(b []byte, v int) []byte { return append(b, byte(v>>16), byte(v>>8), byte(v)) }

func u16list(vs ...int) []byte {
	b := u16(nil, 2*len(vs))
	for _, v := range vs {
		b = u16(b, v)
	}
	return b
}

func extension(b []byte, typ int, body []byte) []byte {
	b = u16(b, typ)
	b = u16(b, len(body))
	return append(b, body...)
}

func handshakeMsg(typ byte, body []byte) []byte {
	m := make([]byte, 0, 4+len(body))
	m = append(m, typ)
	m = u24(m, len(body))
	return append(m, body...)
}

// floodCertificateMsg is the client's Certificate message (RFC 8446
// §4.4.2) with the given chain (none: the empty certificate_list of a peer
// without a certificate), for a CertificateRequest context ctx.
func floodCertificateMsg(ctx []byte, chain [][]byte) []byte {
	var list []byte
	for _, der := range chain {
		list = u24(list, len(der))
		list = append(list, der...)
		list = u16(list, 0) // no extensions
	}
	body := append([]byte{byte(len(ctx))}, ctx...)
	body = u24(body, len(list))
	body = append(body, list...)
	return handshakeMsg(msgCertificate, body)
}

// trafficKeys are one direction's record protection: AES-128-GCM, its
// static IV and the record sequence number.
type trafficKeys struct {
	aead cipher.AEAD
	iv   [12]byte
	seq  uint64
}

func newTrafficKeys(secret []byte) (*trafficKeys, error) {
	key, err := expandLabel(secret, "key", nil, 16)
	if err != nil {
		return nil, err
	}
	iv, err := expandLabel(secret, "iv", nil, 12)
	if err != nil {
		return nil, err
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	k := &trafficKeys{aead: aead}
	copy(k.iv[:], iv)
	return k, nil
}

func (k *trafficKeys) nonce() []byte {
	var n [12]byte
	copy(n[:], k.iv[:])
	var s [8]byte
	binary.BigEndian.PutUint64(s[:], k.seq)
	for i := range s {
		n[4+i] ^= s[i]
	}
	k.seq++
	return n[:]
}

// seal protects one record of content type typ (RFC 8446 §5.2).
func (k *trafficKeys) seal(typ byte, content []byte) []byte {
	inner := append(append([]byte(nil), content...), typ)
	n := len(inner) + k.aead.Overhead()
	hdr := []byte{recordAppData, 0x03, 0x03, byte(n >> 8), byte(n)}
	return k.aead.Seal(hdr, k.nonce(), inner, hdr)
}

// open unprotects one application_data record; it returns the inner
// content type and content.
func (k *trafficKeys) open(hdr, payload []byte) (byte, []byte, error) {
	inner, err := k.aead.Open(nil, k.nonce(), payload, hdr)
	if err != nil {
		return 0, nil, fmt.Errorf("decrypt the server's record: %w", err)
	}
	i := len(inner) - 1
	for i >= 0 && inner[i] == 0 {
		i--
	}
	if i < 0 {
		return 0, nil, errors.New("server record without a content type")
	}
	return inner[i], inner[:i], nil
}

// expandLabel is HKDF-Expand-Label with SHA-256 (RFC 8446 §7.1).
func expandLabel(secret []byte, label string, context []byte, length int) ([]byte, error) {
	info := u16(nil, length)
	info = append(info, byte(6+len(label)))
	info = append(info, "tls13 "...)
	info = append(info, label...)
	info = append(info, byte(len(context)))
	info = append(info, context...)
	return hkdf.Expand(sha256.New, secret, string(info), length)
}

var emptyHash = sha256.Sum256(nil)

// keySchedule derives the handshake traffic secrets from the ECDHE secret
// and the transcript hash of ClientHello..ServerHello, and keeps the
// handshake secret for the application traffic secret.
type keySchedule struct {
	handshake      []byte
	client, server []byte // handshake traffic secrets
}

func newKeySchedule(shared, helloHash []byte) (*keySchedule, error) {
	zeros := make([]byte, sha256.Size)
	early, err := hkdf.Extract(sha256.New, zeros, nil)
	if err != nil {
		return nil, err
	}
	derived, err := expandLabel(early, "derived", emptyHash[:], sha256.Size)
	if err != nil {
		return nil, err
	}
	ks := &keySchedule{}
	if ks.handshake, err = hkdf.Extract(sha256.New, shared, derived); err != nil {
		return nil, err
	}
	if ks.client, err = expandLabel(ks.handshake, "c hs traffic", helloHash, sha256.Size); err != nil {
		return nil, err
	}
	if ks.server, err = expandLabel(ks.handshake, "s hs traffic", helloHash, sha256.Size); err != nil {
		return nil, err
	}
	return ks, nil
}

// serverApplication is the server's application traffic secret, from the
// transcript hash through the server's Finished.
func (ks *keySchedule) serverApplication(finishedHash []byte) ([]byte, error) {
	derived, err := expandLabel(ks.handshake, "derived", emptyHash[:], sha256.Size)
	if err != nil {
		return nil, err
	}
	master, err := hkdf.Extract(sha256.New, make([]byte, sha256.Size), derived)
	if err != nil {
		return nil, err
	}
	return expandLabel(master, "s ap traffic", finishedHash, sha256.Size)
}

// recordReader reads TLS records from a connection through one buffer.
type recordReader struct {
	c    net.Conn
	buf  []byte
	r, w int
	got  bool // any byte was read
}

// next returns the next record's header and payload (valid until the next call).
func (rr *recordReader) next() (hdr, payload []byte, err error) {
	if err := rr.fill(5); err != nil {
		return nil, nil, err
	}
	n := int(binary.BigEndian.Uint16(rr.buf[rr.r+3:]))
	if n > maxRecordPayload {
		return nil, nil, fmt.Errorf("record of %d bytes: %w", n, errFloodProtocol)
	}
	if err := rr.fill(5 + n); err != nil {
		return nil, nil, err
	}
	hdr, payload = rr.buf[rr.r:rr.r+5], rr.buf[rr.r+5:rr.r+5+n]
	rr.r += 5 + n
	return hdr, payload, nil
}

func (rr *recordReader) fill(n int) error {
	if rr.w-rr.r >= n {
		return nil
	}
	if rr.r > 0 {
		rr.w = copy(rr.buf, rr.buf[rr.r:rr.w])
		rr.r = 0
	}
	for rr.w < n {
		m, err := rr.c.Read(rr.buf[rr.w:])
		rr.w += m
		if m > 0 {
			rr.got = true
		}
		if err != nil {
			if rr.w >= n {
				return nil
			}
			if errors.Is(err, io.EOF) && rr.w > 0 {
				return io.ErrUnexpectedEOF
			}
			return err
		}
	}
	return nil
}

// errFloodProtocol: the server sent something a TLS 1.3 server does not.
var errFloodProtocol = errors.New("unexpected TLS message")

// handshakeReader reassembles handshake messages from records.
type handshakeReader struct{ pending []byte }

// msg returns the next whole handshake message, or nil when more is needed.
func (h *handshakeReader) msg() []byte {
	if len(h.pending) < 4 {
		return nil
	}
	n := 4 + (int(h.pending[1])<<16 | int(h.pending[2])<<8 | int(h.pending[3]))
	if len(h.pending) < n {
		return nil
	}
	m := h.pending[:n:n]
	h.pending = h.pending[n:]
	return m
}

// floodBufs recycles the per-attempt read buffers.
var floodBufs = sync.Pool{New: func() any { b := make([]byte, 5+maxRecordPayload); return &b }}

// floodVerdict is how one flood handshake ended, as a Result's fields.
type floodVerdict struct {
	outcome result.Outcome
	phase   string
	reason  string
	err     error
}

// floodHandshake runs one flood handshake on c: ClientHello, the server's
// flight, the client Certificate (chain, possibly empty), the verdict.
func floodHandshake(ctx context.Context, c net.Conn, hello *floodHello, chain [][]byte) floodVerdict {
	bp := floodBufs.Get().(*[]byte)
	defer floodBufs.Put(bp)
	rr := &recordReader{c: c, buf: *bp}
	if _, err := c.Write(hello.record); err != nil {
		return floodFailed(ctx, rr, fmt.Errorf("write ClientHello: %w", err))
	}
	transcript := sha256.New()
	transcript.Write(hello.msg)

	// ServerHello, in the clear.
	var hs handshakeReader
	var sh []byte
	for sh == nil {
		hdr, payload, err := rr.next()
		if err != nil {
			return floodFailed(ctx, rr, fmt.Errorf("read ServerHello: %w", err))
		}
		switch hdr[0] {
		case recordAlert:
			return floodAlert(payload)
		case recordHandshake:
			hs.pending = append(hs.pending, payload...)
			sh = hs.msg()
		default:
			return floodProtocol(fmt.Errorf("record type %d before ServerHello: %w", hdr[0], errFloodProtocol))
		}
	}
	serverShare, err := parseServerHello(sh)
	if err != nil {
		return floodProtocol(err)
	}
	transcript.Write(sh)
	peer, err := ecdh.X25519().NewPublicKey(serverShare)
	if err != nil {
		return floodProtocol(fmt.Errorf("server key share: %w", err))
	}
	shared, err := hello.key.ECDH(peer)
	if err != nil {
		return floodProtocol(fmt.Errorf("key exchange: %w", err))
	}
	ks, err := newKeySchedule(shared, transcript.Sum(nil))
	if err != nil {
		return floodProtocol(err)
	}
	serverHS, err := newTrafficKeys(ks.server)
	if err != nil {
		return floodProtocol(err)
	}

	// The server's flight, for the transcript and the CertificateRequest context.
	reqContext, err := readServerFlight(rr, serverHS, transcript, &hs)
	if err != nil {
		var v floodVerdict
		if errors.As(err, &v) {
			return v
		}
		return floodFailed(ctx, rr, err)
	}
	appSecret, err := ks.serverApplication(transcript.Sum(nil))
	if err != nil {
		return floodProtocol(err)
	}
	serverApp, err := newTrafficKeys(appSecret)
	if err != nil {
		return floodProtocol(err)
	}
	clientHS, err := newTrafficKeys(ks.client)
	if err != nil {
		return floodProtocol(err)
	}
	if _, err := c.Write(clientHS.seal(recordHandshake, floodCertificateMsg(reqContext, chain))); err != nil {
		return floodFailed(ctx, rr, fmt.Errorf("write Certificate: %w", err))
	}

	// The verdict: an alert under the server's application key.
	for {
		hdr, payload, err := rr.next()
		if err != nil {
			return floodFailed(ctx, rr, fmt.Errorf("read the verdict: %w", err))
		}
		switch hdr[0] {
		case recordAlert: // in the clear: a server that failed to read our record
			return floodAlert(payload)
		case recordAppData:
			typ, content, err := serverApp.open(hdr, payload)
			if err != nil {
				return floodProtocol(err)
			}
			if typ == recordAlert {
				return floodAlert(content)
			}
			// A session ticket or data: the server accepted the certificate.
			return floodVerdict{outcome: result.OutcomeSuccess}
		default:
			return floodProtocol(fmt.Errorf("record type %d after Certificate: %w", hdr[0], errFloodProtocol))
		}
	}
}

// Error makes a floodVerdict usable as an error inside readServerFlight.
func (v floodVerdict) Error() string { return v.reason }

// readServerFlight reads EncryptedExtensions .. Finished into the
// transcript and returns the CertificateRequest's context.
func readServerFlight(rr *recordReader, keys *trafficKeys, transcript hash.Hash, hs *handshakeReader) ([]byte, error) {
	var reqContext []byte
	for {
		for m := hs.msg(); m != nil; m = hs.msg() {
			transcript.Write(m)
			switch m[0] {
			case msgCertificateRequest:
				if len(m) < 5 || len(m) < 5+int(m[4]) {
					return nil, floodProtocol(fmt.Errorf("short CertificateRequest: %w", errFloodProtocol))
				}
				reqContext = append([]byte(nil), m[5:5+int(m[4])]...)
			case msgFinished:
				return reqContext, nil
			case msgEncryptedExtensions, msgCertificate, msgCertificateVerify:
			default:
				return nil, floodProtocol(fmt.Errorf("handshake message %d in the server's flight: %w", m[0], errFloodProtocol))
			}
		}
		hdr, payload, err := rr.next()
		if err != nil {
			return nil, fmt.Errorf("read the server's flight: %w", err)
		}
		switch hdr[0] {
		case recordCCS:
			continue
		case recordAlert:
			return nil, floodAlert(payload)
		case recordAppData:
			typ, content, err := keys.open(hdr, payload)
			if err != nil {
				return nil, floodProtocol(err)
			}
			switch typ {
			case recordHandshake:
				hs.pending = append(hs.pending, content...)
			case recordAlert:
				return nil, floodAlert(content)
			default:
				return nil, floodProtocol(fmt.Errorf("inner type %d in the server's flight: %w", typ, errFloodProtocol))
			}
		default:
			return nil, floodProtocol(fmt.Errorf("record type %d in the server's flight: %w", hdr[0], errFloodProtocol))
		}
	}
}

// parseServerHello checks a ServerHello for TLS 1.3, TLS_AES_128_GCM_SHA256
// and X25519 and returns the server's key share.
func parseServerHello(m []byte) ([]byte, error) {
	bad := func(what string) ([]byte, error) {
		return nil, fmt.Errorf("ServerHello: %s: %w", what, errFloodProtocol)
	}
	if m[0] != msgServerHello {
		return bad(fmt.Sprintf("handshake message %d", m[0]))
	}
	b := m[4:]
	if len(b) < 2+32+1 {
		return bad("short")
	}
	if [32]byte(b[2:34]) == helloRetryRandom {
		return bad("HelloRetryRequest (the server wants another key share)")
	}
	b = b[34:]
	sid := int(b[0])
	if len(b) < 1+sid+2+1+2 {
		return bad("short")
	}
	b = b[1+sid:]
	if suite := binary.BigEndian.Uint16(b); suite != suiteAES128GCMSHA256 {
		return bad(fmt.Sprintf("cipher suite %#04x", suite))
	}
	b = b[3:]
	n := int(binary.BigEndian.Uint16(b))
	b = b[2:]
	if len(b) < n {
		return bad("short extensions")
	}
	b = b[:n]
	var share []byte
	var tls13 bool
	for len(b) >= 4 {
		typ, l := binary.BigEndian.Uint16(b), int(binary.BigEndian.Uint16(b[2:]))
		if len(b) < 4+l {
			return bad("short extension")
		}
		body := b[4 : 4+l]
		b = b[4+l:]
		switch typ {
		case 0x002b:
			tls13 = l == 2 && binary.BigEndian.Uint16(body) == versionTLS13
		case 0x0033:
			if l < 4 || binary.BigEndian.Uint16(body) != groupX25519 || int(binary.BigEndian.Uint16(body[2:])) != l-4 {
				return bad("key share")
			}
			share = body[4:]
		}
	}
	if !tls13 {
		return bad("not TLS 1.3")
	}
	if len(share) != 32 {
		return bad("no X25519 key share")
	}
	return share, nil
}

// floodAlert is the verdict of an alert from the server: a refusal in the
// TLS phase, named as certlab's clients name it ("tls_alert:bad certificate").
func floodAlert(payload []byte) floodVerdict {
	if len(payload) < 2 {
		return floodProtocol(fmt.Errorf("short alert: %w", errFloodProtocol))
	}
	text := strings.TrimPrefix(tls.AlertError(payload[1]).Error(), "tls: ")
	return floodVerdict{outcome: result.OutcomeRefused, phase: result.PhaseTLS, reason: device.AlertReason(text)}
}

// floodFailed classifies an I/O error of the handshake: a connection closed
// or reset before the server sent any byte is the server refusing to serve
// it (closed_before_tls); later, a drop or a timeout is an error.
func floodFailed(ctx context.Context, rr *recordReader, err error) floodVerdict {
	v := device.ClassifyHandshake(ctx, err)
	if !rr.got {
		v = device.ClassifyUnansweredHandshake(ctx, err)
	}
	return floodVerdict{outcome: v.Outcome, phase: string(v.Phase), reason: v.Reason, err: err}
}

func floodProtocol(err error) floodVerdict {
	return floodVerdict{outcome: result.OutcomeError, phase: result.PhaseTLS, reason: device.ReasonProtocol, err: err}
}

// resetOnClose makes Close send a TCP reset (SO_LINGER 0).
func resetOnClose(c net.Conn) {
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
}

// floodDial dials the server for one flood handshake, under deadline.
func floodDial(ctx context.Context, addr string, deadline time.Time) (net.Conn, error) {
	d := net.Dialer{Deadline: deadline, KeepAlive: -1}
	return d.DialContext(ctx, "tcp", addr)
}
