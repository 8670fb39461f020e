package iotda

// This file holds certlab's own contract on top of IoTDA: the login-refusal
// reasons every part shares (docs/requirements.md, "Login refusals") and the
// login-attempt record served by the reference platform at
// GET /certlab/v1/login-attempts. IoTDA documents neither, so certlab states them.

// Reason is the machine-readable cause of a login outcome.
type Reason string

// Login outcomes and refusal reasons.
const (
	ReasonOK                  Reason = "ok"
	ReasonNoClientCert        Reason = "no_client_cert"
	ReasonUnknownCA           Reason = "unknown_ca" // includes deleted CAs
	ReasonCANotVerified       Reason = "ca_not_verified"
	ReasonCertExpired         Reason = "cert_expired"
	ReasonCertNotYetValid     Reason = "cert_not_yet_valid"
	ReasonBadChain            Reason = "bad_chain"
	ReasonTLSHandshake        Reason = "tls_handshake" // handshake failed for a non-certificate reason (protocol, timeout)
	ReasonClientIDFormat      Reason = "clientid_format"
	ReasonKeepaliveRange      Reason = "keepalive_range"
	ReasonDeviceNotFound      Reason = "device_not_found"
	ReasonUsernameMismatch    Reason = "username_mismatch"
	ReasonFingerprintMismatch Reason = "fingerprint_mismatch"
	ReasonWrongProject        Reason = "wrong_project"
	ReasonNotMQTTProduct      Reason = "not_mqtt_product"
	ReasonDeviceFrozen        Reason = "device_frozen"
	ReasonAuthTypeMismatch    Reason = "auth_type_mismatch" // a SECRET device presented a certificate login
	ReasonWillNotSupported    Reason = "will_not_supported" // IoTDA supports no wills [MQTT-LIMITS]
	ReasonServerBusy          Reason = "server_busy"
	ReasonConnectTimeout      Reason = "connect_timeout" // TLS done but no CONNECT before the deadline
	ReasonMalformedConnect    Reason = "malformed_connect"
)

// Stage is where in the login a refusal happened.
type Stage string

// Login stages.
const (
	StageTLS     Stage = "tls"
	StageConnect Stage = "connect"
)

// Refusal is one row of the login-refusal table.
type Refusal struct {
	Reason Reason
	Stage  Stage
	MQTT3  byte // CONNACK return code for MQTT 3.1.1 (0 when refused in TLS)
	MQTT5  byte // CONNACK reason code for MQTT 5 (0 when refused in TLS)
}

// Code is the CONNACK code of the refusal for an MQTT protocol version
// (MQTT 5: the reason code; anything lower: the 3.1.1 return code).
func (r Refusal) Code(v MQTTVersion) byte {
	if v >= MQTT5 {
		return r.MQTT5
	}
	return r.MQTT3
}

// Refusals is the login-refusal table (docs/requirements.md, "Login
// refusals"): the one place the platform, the BDD suite, the load generator
// and `certlab check` look up which stage and code a refusal carries. Its
// order is the order of the checks: the platform refuses a login with the
// first row that applies (platform/broker/login.go walks its rules in this
// order, and a test holds them to it). A CA deleted while a device logs in is
// caught again after the handshake, as unknown_ca, just before the project
// check and once more when the session is admitted.
var Refusals = []Refusal{
	// TLS handshake: the client certificate and its chain. [LOGIN-TLS]
	{ReasonNoClientCert, StageTLS, 0, 0},
	{ReasonUnknownCA, StageTLS, 0, 0}, // also a CA deleted during the login [CA-DELETE]
	{ReasonCANotVerified, StageTLS, 0, 0},
	{ReasonCertExpired, StageTLS, 0, 0},
	{ReasonCertNotYetValid, StageTLS, 0, 0},
	{ReasonBadChain, StageTLS, 0, 0},
	// CONNECT: the packet itself, then the device, then its standing.
	{ReasonClientIDFormat, StageConnect, 0x02, 0x85},
	{ReasonKeepaliveRange, StageConnect, 0x02, 0x85},
	{ReasonWillNotSupported, StageConnect, 0x05, 0x87},
	{ReasonDeviceNotFound, StageConnect, 0x04, 0x86},
	{ReasonUsernameMismatch, StageConnect, 0x04, 0x86},
	{ReasonAuthTypeMismatch, StageConnect, 0x05, 0x87},
	{ReasonFingerprintMismatch, StageConnect, 0x05, 0x87},
	{ReasonWrongProject, StageConnect, 0x05, 0x87},
	{ReasonNotMQTTProduct, StageConnect, 0x05, 0x87},
	{ReasonDeviceFrozen, StageConnect, 0x05, 0x8A},
	{ReasonServerBusy, StageConnect, 0x03, 0x89},
}

// RefusalFor returns the row of the refusal table for a reason; ok is false
// for ReasonOK and for the failures that are not refusals (Failures).
func RefusalFor(reason Reason) (Refusal, bool) {
	for _, r := range Refusals {
		if r.Reason == reason {
			return r, true
		}
	}
	return Refusal{}, false
}

// Failures are the reasons a login attempt ends with that are not a verdict
// on the device, so not rows of the refusal table: the handshake failed for
// another cause than the certificate, or no acceptable CONNECT arrived.
var Failures = []Reason{ReasonTLSHandshake, ReasonConnectTimeout, ReasonMalformedConnect}

// LoginReasons returns every reason a login attempt can be recorded with:
// ReasonOK, the refusals in table order, then the Failures. It is the closed
// label set of the platform's login metrics.
func LoginReasons() []Reason {
	out := make([]Reason, 0, 1+len(Refusals)+len(Failures))
	out = append(out, ReasonOK)
	for _, r := range Refusals {
		out = append(out, r.Reason)
	}
	return append(out, Failures...)
}

// Stage returns where in the login a reason ends it: the table's stage for a
// refusal, StageTLS for ReasonTLSHandshake, else StageConnect (success,
// connect_timeout, malformed_connect).
func (r Reason) Stage() Stage {
	if ref, ok := RefusalFor(r); ok {
		return ref.Stage
	}
	if r == ReasonTLSHandshake {
		return StageTLS
	}
	return StageConnect
}

// Outcome is the outcome a platform records for an attempt that ended with
// this reason: success for ReasonOK, refused otherwise.
func (r Reason) Outcome() Outcome {
	if r == ReasonOK {
		return OutcomeSuccess
	}
	return OutcomeRefused
}

// LoginAttempt is one login attempt as the reference platform records it.
type LoginAttempt struct {
	Time          string      `json:"time"` // RFC 3339 with milliseconds, UTC
	Peer          string      `json:"peer"`
	Outcome       Outcome     `json:"outcome"` // success or refused
	Stage         Stage       `json:"stage"`
	Reason        Reason      `json:"reason"`
	Detail        string      `json:"detail,omitempty"` // human-readable explanation and remedy
	ConnackCode   int         `json:"connack_code,omitempty"`
	TLSVersion    string      `json:"tls_version,omitempty"`
	CipherSuite   string      `json:"cipher_suite,omitempty"`
	ServerName    string      `json:"server_name,omitempty"`
	DidResume     bool        `json:"did_resume,omitempty"`
	CertSubject   string      `json:"cert_subject,omitempty"`
	CertIssuer    string      `json:"cert_issuer,omitempty"`
	CertSHA256    string      `json:"cert_sha256,omitempty"`
	CertNotBefore string      `json:"cert_not_before,omitempty"`
	CertNotAfter  string      `json:"cert_not_after,omitempty"`
	CertKeyType   string      `json:"cert_key_type,omitempty"`
	CAID          string      `json:"ca_id,omitempty"` // the anchoring device CA, when the chain verified
	ClientID      string      `json:"client_id,omitempty"`
	Username      string      `json:"username,omitempty"`
	DeviceID      string      `json:"device_id,omitempty"`
	ProjectID     string      `json:"project_id,omitempty"`
	MQTTVersion   MQTTVersion `json:"mqtt_version,omitempty"` // 3, 4 (3.1.1) or 5
	Keepalive     int         `json:"keepalive,omitempty"`
	HandshakeMs   float64     `json:"handshake_ms,omitempty"`
}

// ListLoginAttemptsResponse is the body of GET /certlab/v1/login-attempts.
type ListLoginAttemptsResponse struct {
	Attempts []LoginAttempt `json:"attempts"`
	Count    int            `json:"count"`
	// Truncated says the page stopped at the platform's byte bound per page
	// (1 MiB on the reference platform) before limit attempts: ask for a
	// narrower filter or a smaller limit.
	Truncated bool `json:"truncated,omitempty"`
}
