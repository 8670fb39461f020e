package broker

// login.go: the login decision, top to bottom. A certificate login is decided
// by an ordered list of small named rules (rules, below), in the order of the
// login-refusal table (iotda.Refusals, docs/requirements.md §4): the first
// rule that refuses gives the reason and a human explanation with a remedy.
// The rules run in three stages as the connection advances:
//
//   - handshake: tls.Config.VerifyConnection, on the presented chain (verify.go);
//   - connect: OnConnect, on the CONNECT packet and the registered device (hook.go);
//   - admission: under Broker.mu, against the live sessions (effects.go).
//
// Deciding changes nothing: decide reads the login's inputs and the directory
// (Trust, LookupDevice, Product) and returns a verdict. The effects of a
// verdict — binding a first fingerprint, admitting the session, the CONNACK,
// the attempt record, the metrics — are applied by effects.go and attempts.go.

import (
	"crypto/sha1" //nolint:gosec // IoTDA's legacy fingerprint format
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/certlab/certlab/iotda"
	"github.com/certlab/certlab/platform/registry"
)

// stage is the point of the login at which a rule runs.
type stage uint8

const (
	stageHandshake stage = iota // VerifyConnection: the presented chain
	stageConnect                // OnConnect: the CONNECT packet and the device
	stageAdmission              // Broker.admit, under Broker.mu: the live sessions
)

// login is the state of one certificate login, in the manner of crypto/tls's
// handshake state: the inputs the connection has presented so far, filled in
// by the hook as the login advances, and the verdict under construction. It
// lives in the connection's connState.
type login struct {
	dir Directory // read only here: Trust, LookupDevice, Product

	// handshake (verifyConnection)
	now     time.Time           // the clock for the chain's validity
	certs   []*x509.Certificate // the presented chain, leaf first
	sha256  string              // the leaf's fingerprint, lowercase hex, computed once [DEV-FINGERPRINT]
	sha1    string              // the leaf's SHA-1, lowercase hex: a cache filled on first use (sha1Hex)
	anchors []anchor            // the roots of the verified chains, once the handshake is accepted

	// connect (OnConnect)
	clientID  string
	username  string
	keepalive uint16
	will      bool

	// admission (read under Broker.mu)
	sessions   int  // live sessions
	takeover   bool // the device already has a session, which this one replaces
	maxClients int  // sessions before server_busy; 0 = unlimited

	v verdict // the verdict under construction (see decide)
}

// verdict is what a stage of the login decided: ReasonOK or the first
// refusal, with what the rules learnt on the way.
type verdict struct {
	reason iotda.Reason
	detail string // a refusal's human explanation and remedy

	trust     *registry.Trust // the snapshot the stage was decided against
	anchors   []anchor        // the roots of the verified chains (handshake; carried on)
	deviceID  string          // from the ClientId, once parsed
	projectID string          // the device's project once found; before, the anchoring CA's
	device    loginDevice     // once found
	ca        *registry.CA    // the anchoring CA in the device's project; for ca_not_verified, the unverified CA
	bind      bool            // no fingerprint is registered: admitting the login binds the leaf's [DEV-FINGERPRINT-BIND]
}

func (v *verdict) ok() bool { return v.reason == iotda.ReasonOK }

// loginDevice is what the login reads of the registered device: the fields
// of registry.Device the rules check, copied once (a whole Device would more
// than double the per-connection state).
type loginDevice struct {
	ID, ProjectID, ProductID, AuthType string
	Fingerprint, SecondaryFingerprint  string // primary ("" = bind at first login) and secondary
	Frozen                             bool
}

// rule is one check of the login. check returns ReasonOK, or a refusal and
// its explanation; it may note what it learnt in the verdict.
type rule struct {
	name    string
	stage   stage
	refuses []iotda.Reason // the reasons check can return, in table order
	check   func(l *login, v *verdict) (iotda.Reason, string)
}

// rules is the login decision, in the order of the login-refusal table: a
// login is refused with the first rule that refuses. TestRulesFollowTheRefusalTable
// holds the order to iotda.Refusals. unknown_ca comes back twice after the
// handshake, for a CA deleted while the device logs in: just before the
// project check (so the attempt names the device) and at admission.
var rules = []rule{
	{"a client certificate is presented", stageHandshake,
		[]iotda.Reason{iotda.ReasonNoClientCert}, (*login).certificatePresented},
	{"the chain verifies to a verified device CA", stageHandshake,
		[]iotda.Reason{iotda.ReasonUnknownCA, iotda.ReasonCANotVerified, iotda.ReasonCertExpired, iotda.ReasonCertNotYetValid, iotda.ReasonBadChain},
		(*login).chainVerifies},

	{"the ClientId is well formed", stageConnect, []iotda.Reason{iotda.ReasonClientIDFormat}, (*login).clientIDWellFormed},
	{"the keepalive is in range", stageConnect, []iotda.Reason{iotda.ReasonKeepaliveRange}, (*login).keepaliveInRange},
	{"the CONNECT carries no will", stageConnect, []iotda.Reason{iotda.ReasonWillNotSupported}, (*login).noWill},
	{"the device is registered", stageConnect, []iotda.Reason{iotda.ReasonDeviceNotFound}, (*login).deviceRegistered},
	{"the username is the device ID", stageConnect, []iotda.Reason{iotda.ReasonUsernameMismatch}, (*login).usernameIsDeviceID},
	{"the device uses certificates", stageConnect, []iotda.Reason{iotda.ReasonAuthTypeMismatch}, (*login).usesCertificates},
	{"the certificate is the registered one", stageConnect, []iotda.Reason{iotda.ReasonFingerprintMismatch}, (*login).fingerprintRegistered},
	{"the anchoring CA is still uploaded", stageConnect, []iotda.Reason{iotda.ReasonUnknownCA}, (*login).anchorStillUploaded},
	{"the CA belongs to the device's project", stageConnect, []iotda.Reason{iotda.ReasonWrongProject}, (*login).caInDeviceProject},
	{"the product speaks MQTT", stageConnect, []iotda.Reason{iotda.ReasonNotMQTTProduct}, (*login).productIsMQTT},
	{"the device is not frozen", stageConnect, []iotda.Reason{iotda.ReasonDeviceFrozen}, (*login).notFrozen},

	{"the anchoring CA is still trusted", stageAdmission, []iotda.Reason{iotda.ReasonUnknownCA}, (*login).anchorStillTrusted},
	{"there is room for the session", stageAdmission, []iotda.Reason{iotda.ReasonServerBusy}, (*login).roomForSession},
}

// decide walks the rules of one stage in order and returns the verdict: the
// first refusal, or ReasonOK and what the rules learnt. It reads the login's
// inputs and the directory, and writes nothing but l.v, the verdict it
// returns, and the leaf's SHA-1 cache (sha1Hex). The verdict is built in the
// login, which lives on the heap anyway: a local verdict handed to the rules
// would cost an allocation per stage. The handshake and connect stages start
// a fresh verdict; admission continues the connect one.
func (l *login) decide(s stage) verdict {
	v := &l.v
	switch s {
	case stageHandshake:
		*v = verdict{}
	case stageConnect:
		*v = verdict{anchors: l.anchors}
		// Until the device is known, attribute the attempt to the project of
		// the CA that anchors the certificate, so refusals before the device
		// lookup are visible to that project's users in the login log.
		if len(l.anchors) > 0 && l.anchors[0].ca != nil {
			v.projectID = l.anchors[0].ca.ProjectID
		}
	}
	v.reason, v.detail = iotda.ReasonOK, ""
	v.trust = l.dir.Trust()
	for i := range rules {
		r := &rules[i]
		if r.stage != s {
			continue
		}
		if reason, detail := r.check(l, v); reason != iotda.ReasonOK {
			v.reason, v.detail, v.bind = reason, detail, false // a refused login binds nothing
			break
		}
	}
	return *v
}

// ---- handshake [LOGIN-TLS] ----

func (l *login) certificatePresented(*verdict) (iotda.Reason, string) {
	if len(l.certs) == 0 { // RequireAnyClientCert normally stops this earlier
		return iotda.ReasonNoClientCert, detailNoClientCert
	}
	return iotda.ReasonOK, ""
}

var (
	emptyPool       = x509.NewCertPool()
	clientAuthUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
)

// chainVerifies verifies the chain against the snapshot's verified CAs and
// notes the roots it anchors on; a failure is classified into a TLS-stage
// reason. [CA-UNVERIFIED]
func (l *login) chainVerifies(v *verdict) (iotda.Reason, string) {
	opts := x509.VerifyOptions{
		Roots:       poolOrEmpty(v.trust.Verified), // never nil: nil would mean the system roots
		CurrentTime: l.now,
		KeyUsages:   clientAuthUsage,
	}
	if len(l.certs) > 1 {
		opts.Intermediates = x509.NewCertPool()
		for _, c := range l.certs[1:] {
			opts.Intermediates.AddCert(c)
		}
	}
	chains, err := l.certs[0].Verify(opts)
	if err != nil {
		reason, detail, ca := classifyVerifyError(err, l.certs, opts, v.trust, l.now)
		v.ca = ca
		return reason, detail
	}
	if chains, err = withinKeyPolicy(chains); err != nil { // keypolicy.go
		return iotda.ReasonBadChain, keyPolicyDetail(err)
	}
	for _, chain := range chains {
		a := anchor{sha256: sha256Hex(chain[len(chain)-1].Raw)}
		if !slices.ContainsFunc(v.anchors, func(x anchor) bool { return x.sha256 == a.sha256 }) {
			a.ca = v.trust.BySHA256[a.sha256]
			v.anchors = append(v.anchors, a)
		}
	}
	return iotda.ReasonOK, ""
}

// ---- connect ----

// anchorStillUploaded refuses a login whose CA was deleted since the
// handshake: a deleted CA authenticates no device from that moment. [CA-DELETE]
func (l *login) anchorStillUploaded(v *verdict) (iotda.Reason, string) {
	if !anchorsKnown(v.trust, v.anchors) {
		return iotda.ReasonUnknownCA, detailCADeletedDuringLogin
	}
	return iotda.ReasonOK, ""
}

// [LOGIN-CLIENTID]
func (l *login) clientIDWellFormed(v *verdict) (iotda.Reason, string) {
	id, err := iotda.ParseClientID(l.clientID)
	if err != nil {
		return iotda.ReasonClientIDFormat, fmt.Sprintf(detailClientIDFormat, peerText(l.clientID), errText(err))
	}
	v.deviceID = id.DeviceID
	return iotda.ReasonOK, ""
}

// [LOGIN-KEEPALIVE]
func (l *login) keepaliveInRange(*verdict) (iotda.Reason, string) {
	if !iotda.KeepaliveAllowed(int(l.keepalive)) {
		return iotda.ReasonKeepaliveRange, fmt.Sprintf(detailKeepalive, l.keepalive, iotda.MinKeepalive, iotda.MaxKeepalive)
	}
	return iotda.ReasonOK, ""
}

// [MQTT-LIMITS] IoTDA supports no wills.
func (l *login) noWill(*verdict) (iotda.Reason, string) {
	if l.will {
		return iotda.ReasonWillNotSupported, detailWill
	}
	return iotda.ReasonOK, ""
}

func (l *login) deviceRegistered(v *verdict) (iotda.Reason, string) {
	dev, ok := l.dir.LookupDevice(v.deviceID)
	if !ok {
		return iotda.ReasonDeviceNotFound, fmt.Sprintf(detailDeviceNotFound, peerText(v.deviceID))
	}
	v.device = loginDevice{ID: dev.ID, ProjectID: dev.ProjectID, ProductID: dev.ProductID, AuthType: dev.AuthType,
		Fingerprint: dev.Fingerprint, SecondaryFingerprint: dev.SecondaryFingerprint, Frozen: dev.Frozen}
	v.projectID = dev.ProjectID
	return iotda.ReasonOK, ""
}

// [LOGIN-USERNAME] The password is ignored.
func (l *login) usernameIsDeviceID(v *verdict) (iotda.Reason, string) {
	if l.username != v.deviceID {
		return iotda.ReasonUsernameMismatch, fmt.Sprintf(detailUsername, peerText(l.username), peerText(v.deviceID))
	}
	return iotda.ReasonOK, ""
}

func (l *login) usesCertificates(v *verdict) (iotda.Reason, string) {
	if v.device.AuthType != iotda.AuthCertificates {
		return iotda.ReasonAuthTypeMismatch, fmt.Sprintf(detailAuthType, v.device.ID, v.device.AuthType)
	}
	return iotda.ReasonOK, ""
}

// fingerprintRegistered compares the leaf with the registered fingerprints,
// primary then secondary. With no primary the login is accepted on condition
// that it binds the leaf's: the verdict says so, and admission does it.
func (l *login) fingerprintRegistered(v *verdict) (iotda.Reason, string) {
	primary, secondary := v.device.Fingerprint, v.device.SecondaryFingerprint
	sha1 := ""
	if iotda.FingerprintDigest(primary) == iotda.DigestSHA1 || iotda.FingerprintDigest(secondary) == iotda.DigestSHA1 {
		sha1 = l.sha1Hex() // most devices register SHA-256: most logins never compute it
	}
	switch {
	case iotda.FingerprintMatches(primary, l.sha256, sha1): // [DEV-FINGERPRINT]
	case iotda.FingerprintMatches(secondary, l.sha256, sha1): // [DEV-FINGERPRINT-SECONDARY]
	case primary == "": // [DEV-FINGERPRINT-BIND]
		v.bind = true
	default:
		return iotda.ReasonFingerprintMismatch, fmt.Sprintf(detailFingerprint, l.sha256, l.sha1Hex())
	}
	return iotda.ReasonOK, ""
}

// [LOGIN-PROJECT]
func (l *login) caInDeviceProject(v *verdict) (iotda.Reason, string) {
	if v.ca = projectAnchor(v.trust, v.anchors, v.projectID); v.ca == nil {
		return iotda.ReasonWrongProject, wrongProjectDetail(v.anchors, v.device.ID, v.projectID)
	}
	return iotda.ReasonOK, ""
}

// [PROTO-MQTT-ONLY]
func (l *login) productIsMQTT(v *verdict) (iotda.Reason, string) {
	dev := &v.device
	prod, err := l.dir.Product(dev.ProjectID, dev.ProductID)
	if err != nil {
		return iotda.ReasonNotMQTTProduct, fmt.Sprintf(detailProductMissing, dev.ID, dev.ProductID, err)
	}
	if prod.ProtocolType != iotda.ProtocolMQTT {
		return iotda.ReasonNotMQTTProduct, fmt.Sprintf(detailNotMQTT, dev.ID, prod.ID, prod.ProtocolType)
	}
	return iotda.ReasonOK, ""
}

// [DEV-FREEZE]
func (l *login) notFrozen(v *verdict) (iotda.Reason, string) {
	if v.device.Frozen {
		return iotda.ReasonDeviceFrozen, fmt.Sprintf(detailFrozen, v.device.ID)
	}
	return iotda.ReasonOK, ""
}

// ---- admission, under Broker.mu ----

// anchorStillTrusted checks the anchoring CA once more against the current
// snapshot. The registry swaps the snapshot before HandleEvent scans the
// sessions (also under Broker.mu), so a CA deleted during this login either
// refuses it here or drops it there. [CA-DELETE]
func (l *login) anchorStillTrusted(v *verdict) (iotda.Reason, string) {
	if projectAnchor(v.trust, v.anchors, v.projectID) == nil {
		return iotda.ReasonUnknownCA, detailCADeletedDuringLogin
	}
	return iotda.ReasonOK, ""
}

// roomForSession is the server_busy check; a takeover never adds a session.
func (l *login) roomForSession(*verdict) (iotda.Reason, string) {
	if l.maxClients > 0 && !l.takeover && l.sessions >= l.maxClients {
		return iotda.ReasonServerBusy, fmt.Sprintf(detailBusy, l.maxClients)
	}
	return iotda.ReasonOK, ""
}

// ---- what the rules share ----

// leaf is the presented leaf certificate, or nil.
func (l *login) leaf() *x509.Certificate {
	if len(l.certs) == 0 {
		return nil
	}
	return l.certs[0]
}

// sha1Hex returns the leaf's SHA-1 fingerprint (IoTDA's legacy format),
// computed on first use: most devices register SHA-256 fingerprints, so most
// logins never need it. The cache is the one thing besides the verdict that
// deciding writes; it holds a function of the leaf, so it changes no answer.
func (l *login) sha1Hex() string {
	if l.sha1 == "" && len(l.certs) > 0 {
		s := sha1.Sum(l.certs[0].Raw) //nolint:gosec // IoTDA's legacy fingerprint format
		l.sha1 = hex.EncodeToString(s[:])
	}
	return l.sha1
}

// anchor is the root of a verified chain: the SHA-256 of its DER and the
// record BySHA256 had for it at handshake time.
type anchor struct {
	sha256 string
	ca     *registry.CA
}

// anchorsKnown reports whether any anchor is still a CA of the snapshot.
func anchorsKnown(trust *registry.Trust, anchors []anchor) bool {
	for _, a := range anchors {
		if trust.BySHA256[a.sha256] != nil {
			return true
		}
	}
	return false
}

// projectAnchor returns the verified CA record, in projectID, of one of the
// anchors in the given snapshot, or nil. The same CA may be uploaded in
// several projects: CAInProject finds the project's own record; BySHA256
// (one record per hash) is the fallback. [LOGIN-PROJECT] [CA-DELETE]
func projectAnchor(trust *registry.Trust, anchors []anchor, projectID string) *registry.CA {
	for _, a := range anchors {
		if ca, ok := trust.CAInProject(projectID, a.sha256); ok && ca.Verified {
			return ca
		}
		if ca := trust.BySHA256[a.sha256]; ca != nil && ca.ProjectID == projectID && ca.Verified {
			return ca
		}
	}
	return nil
}

func wrongProjectDetail(anchors []anchor, deviceID, projectID string) string {
	var cas []string
	for _, a := range anchors {
		if a.ca != nil {
			cas = append(cas, fmt.Sprintf("CA %s of project %s", a.ca.ID, a.ca.ProjectID))
		}
	}
	anchor := "no CA known to the platform"
	if len(cas) > 0 {
		anchor = strings.Join(cas, ", ")
	}
	return fmt.Sprintf(detailWrongProject, anchor, deviceID, projectID)
}

// classifyVerifyError maps a chain-verification error to a TLS-stage reason
// (iotda.ReasonForVerifyError, the one mapping every part shares) and a human
// explanation with a remedy. Only the platform knows whether an "unknown" CA
// was uploaded but not verified, so it refines unknown_ca here, naming the
// CA. [CA-UNVERIFIED]
func classifyVerifyError(err error, certs []*x509.Certificate, opts x509.VerifyOptions, trust *registry.Trust, now time.Time) (iotda.Reason, string, *registry.CA) {
	switch reason := iotda.ReasonForVerifyError(err, now); reason {
	case iotda.ReasonCertExpired, iotda.ReasonCertNotYetValid:
		return reason, validityDetail(reason, invalidCert(err, certs, now), now), nil
	case iotda.ReasonUnknownCA:
		all := opts
		all.Roots = poolOrEmpty(trust.All)
		if chains, err := certs[0].Verify(all); err == nil {
			ca := trust.BySHA256[sha256Hex(chains[0][len(chains[0])-1].Raw)]
			name := "an uploaded CA"
			if ca != nil {
				name = fmt.Sprintf("CA %s (%s, project %s)", ca.ID, ca.CNName, ca.ProjectID)
			}
			return iotda.ReasonCANotVerified, fmt.Sprintf(detailCANotVerified, peerText(name)), ca
		}
		return reason, fmt.Sprintf(detailUnknownCA, formatName(&certs[len(certs)-1].Issuer)), nil
	default:
		return iotda.ReasonBadChain, fmt.Sprintf(detailBadChain, errText(err)), nil
	}
}

// invalidCert names the certificate outside its validity: the one the error
// carries, else the first presented certificate that is (Go hides an expired
// intermediate behind "unknown authority").
func invalidCert(err error, certs []*x509.Certificate, now time.Time) *x509.Certificate {
	if inv, ok := errors.AsType[x509.CertificateInvalidError](err); ok && inv.Cert != nil {
		return inv.Cert
	}
	for _, c := range certs {
		if now.Before(c.NotBefore) || now.After(c.NotAfter) {
			return c
		}
	}
	return certs[0]
}

func validityDetail(reason iotda.Reason, c *x509.Certificate, now time.Time) string {
	if reason == iotda.ReasonCertNotYetValid {
		return fmt.Sprintf(detailNotYetValid, formatName(&c.Subject),
			c.NotBefore.UTC().Format(time.RFC3339), now.UTC().Format(time.RFC3339))
	}
	return fmt.Sprintf(detailExpired, formatName(&c.Subject),
		c.NotAfter.UTC().Format(time.RFC3339), now.UTC().Format(time.RFC3339))
}

func poolOrEmpty(p *x509.CertPool) *x509.CertPool {
	if p == nil {
		return emptyPool
	}
	return p
}
