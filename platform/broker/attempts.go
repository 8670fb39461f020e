package broker

// attempts.go: login diagnostics. Every attempt, at whatever stage it ends,
// becomes one iotda.LoginAttempt in a bounded ring (newest first on read),
// one metric increment and, for refusals, one Info log line — at most one
// per reason every RefusalLogInterval, then a summary ("more_like_this").
//
// What a peer chooses (ClientId, username, SNI, certificate names, and the
// detail that quotes them) is cut to the bounds of package bound before it
// is stored, logged or served: an attempt holds at most
// maxAttemptBytes of text, whatever the peer sent.

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/tls"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/certlab/certlab/iotda"
	"github.com/certlab/certlab/platform/internal/bound"
)

const attemptTime = "2006-01-02T15:04:05.000Z07:00" // RFC 3339 with milliseconds

// maxAttemptBytes bounds the text one stored attempt holds: six peer
// values of bound.Field, the detail (bound.Detail), each with its marker,
// and the fixed-size rest (peer address, fingerprint, IDs, names of the
// TLS version, cipher suite and key type) generously. The README states the
// ring's worst case from it; TestAttemptBounds holds the record to it.
const maxAttemptBytes = 6*(bound.Field+bound.MarkerMax) + bound.Detail + bound.MarkerMax + 512

// refused records a refusal, counts it and logs it: one line per reason at
// most every RefusalLogInterval, the rest counted into a summary line.
func (b *Broker) refused(st *connState, reason iotda.Reason, detail string) {
	a := b.record(st, reason, detail)
	b.refusals.Log(string(reason), "login refused",
		slog.String("reason", string(reason)), slog.String("stage", string(a.Stage)), slog.String("peer", a.Peer),
		slog.String("client_id", a.ClientID), slog.String("device_id", a.DeviceID), slog.Int("connack", a.ConnackCode),
		slog.String("cert_subject", a.CertSubject), slog.String("cert_issuer", a.CertIssuer), slog.String("cert_sha256", a.CertSHA256),
		slog.String("ca_id", a.CAID), slog.String("tls_version", a.TLSVersion), slog.String("detail", a.Detail))
}

// record builds the attempt from what the connection learnt, stores and counts
// it. The returned copy has no time fields: they are formatted only when the
// log is read (LoginAttempts).
func (b *Broker) record(st *connState, reason iotda.Reason, detail string) iotda.LoginAttempt {
	st.recorded = true
	stage, outcome := reason.Stage(), reason.Outcome()
	rec := attemptRec{at: b.now()}
	a := iotda.LoginAttempt{
		Peer:        st.peer,
		Outcome:     outcome,
		Stage:       stage,
		Reason:      reason,
		Detail:      bound.String(detail, bound.Detail),
		ServerName:  bound.String(st.sni, bound.Field),
		DidResume:   st.resumed,
		CertSubject: st.subject, // bounded by setLeaf
		CertIssuer:  st.issuer,
		CertSHA256:  st.login.sha256,
		ClientID:    bound.String(st.login.clientID, bound.Field),
		Username:    bound.String(st.login.username, bound.Field),
		DeviceID:    bound.String(st.deviceID, bound.Field),
		ProjectID:   st.projectID,
		MQTTVersion: iotda.MQTTVersion(st.version),
		Keepalive:   int(st.login.keepalive),
		HandshakeMs: float64(st.handshake.Microseconds()) / 1000,
	}
	if st.tlsVersion != 0 {
		a.TLSVersion = tls.VersionName(st.tlsVersion)
	}
	if st.cipher != 0 {
		a.CipherSuite = cipherSuiteName(st.cipher)
	}
	if leaf := st.login.leaf(); leaf != nil {
		rec.leaf, rec.notBefore, rec.notAfter = true, leaf.NotBefore, leaf.NotAfter
		a.CertKeyType = keyType(leaf.PublicKey)
	}
	switch anchors := st.login.anchors; {
	case st.ca != nil:
		a.CAID = st.ca.ID
	case len(anchors) > 0 && anchors[0].ca != nil:
		a.CAID = anchors[0].ca.ID
	}
	if outcome == iotda.OutcomeRefused && stage == iotda.StageConnect && st.connack >= 0 {
		a.ConnackCode = st.connack
	}
	rec.a = a
	b.attempts.put(rec)
	b.metrics.login(reason)
	return a
}

// LoginAttempts returns recorded login attempts, newest first, filtered by
// device ID and reason ("" matches any); limit <= 0 means all that match.
func (b *Broker) LoginAttempts(deviceID, reason string, limit int) []iotda.LoginAttempt {
	return b.attempts.list(deviceID, reason, limit)
}

// attemptRec is one stored attempt. Its times are kept as time.Time and
// formatted only when the attempt is read: most attempts are never read.
type attemptRec struct {
	a                   iotda.LoginAttempt // time fields empty when at is set
	at                  time.Time          // zero: a.Time is used as is
	leaf                bool               // notBefore and notAfter are set
	notBefore, notAfter time.Time
}

// attempt returns the attempt with its time fields formatted.
func (r *attemptRec) attempt() iotda.LoginAttempt {
	a := r.a
	if !r.at.IsZero() {
		a.Time = r.at.UTC().Format(attemptTime)
	}
	if r.leaf {
		a.CertNotBefore = r.notBefore.UTC().Format(time.RFC3339)
		a.CertNotAfter = r.notAfter.UTC().Format(time.RFC3339)
	}
	return a
}

// attemptLog is a fixed-size ring of attempts.
type attemptLog struct {
	mu   sync.Mutex
	buf  []attemptRec
	next int  // where the next attempt goes
	full bool // buf has wrapped
}

func newAttemptLog(size int) *attemptLog {
	return &attemptLog{buf: make([]attemptRec, size)}
}

// add stores an attempt whose fields are already formatted.
func (l *attemptLog) add(a iotda.LoginAttempt) { l.put(attemptRec{a: a}) }

func (l *attemptLog) put(r attemptRec) {
	l.mu.Lock()
	l.buf[l.next] = r
	l.next++
	if l.next == len(l.buf) {
		l.next, l.full = 0, true
	}
	l.mu.Unlock()
}

func (l *attemptLog) list(deviceID, reason string, limit int) []iotda.LoginAttempt {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := l.next
	if l.full {
		n = len(l.buf)
	}
	var out []iotda.LoginAttempt
	for i := 0; i < n; i++ {
		r := &l.buf[(l.next-1-i+len(l.buf))%len(l.buf)]
		if (deviceID != "" && r.a.DeviceID != deviceID) || (reason != "" && string(r.a.Reason) != reason) {
			continue
		}
		out = append(out, r.attempt())
		if limit > 0 && len(out) == limit {
			break
		}
	}
	return out
}

func (l *attemptLog) len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.full {
		return len(l.buf)
	}
	return l.next
}

// keyType names a public key the way people read it: "ECDSA P-256", "RSA 2048", "Ed25519".
func keyType(pub any) string {
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		return "ECDSA " + k.Curve.Params().Name
	case *rsa.PublicKey:
		return fmt.Sprintf("RSA %d", k.N.BitLen())
	case ed25519.PublicKey:
		return "Ed25519"
	default:
		return fmt.Sprintf("%T", pub)
	}
}
