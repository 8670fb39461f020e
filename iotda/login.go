package iotda

// This file holds certlab's own contract on top of IoTDA: the login-refusal
// reasons every part shares (shared/requirements.md, "Login refusals") and the
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
// (5 = MQTT 5; anything lower = the 3.1.1 return code).
func (r Refusal) Code(mqttVersion int) byte {
	if mqttVersion >= 5 {
		return r.MQTT5
	}
	return r.MQTT3
}

// Refusals is the login-refusal table of shared/requirements.md: the one
// place the platform, the BDD suite, the load generator and `certlab check`
// look up which code a refusal carries.
var Refusals = map[Reason]Refusal{
	ReasonNoClientCert:        {ReasonNoClientCert, StageTLS, 0, 0},
	ReasonUnknownCA:           {ReasonUnknownCA, StageTLS, 0, 0},
	ReasonCANotVerified:       {ReasonCANotVerified, StageTLS, 0, 0},
	ReasonCertExpired:         {ReasonCertExpired, StageTLS, 0, 0},
	ReasonCertNotYetValid:     {ReasonCertNotYetValid, StageTLS, 0, 0},
	ReasonBadChain:            {ReasonBadChain, StageTLS, 0, 0},
	ReasonClientIDFormat:      {ReasonClientIDFormat, StageConnect, 0x02, 0x85},
	ReasonKeepaliveRange:      {ReasonKeepaliveRange, StageConnect, 0x02, 0x85},
	ReasonDeviceNotFound:      {ReasonDeviceNotFound, StageConnect, 0x04, 0x86},
	ReasonUsernameMismatch:    {ReasonUsernameMismatch, StageConnect, 0x04, 0x86},
	ReasonFingerprintMismatch: {ReasonFingerprintMismatch, StageConnect, 0x05, 0x87},
	ReasonWrongProject:        {ReasonWrongProject, StageConnect, 0x05, 0x87},
	ReasonNotMQTTProduct:      {ReasonNotMQTTProduct, StageConnect, 0x05, 0x87},
	ReasonDeviceFrozen:        {ReasonDeviceFrozen, StageConnect, 0x05, 0x8A},
	ReasonAuthTypeMismatch:    {ReasonAuthTypeMismatch, StageConnect, 0x05, 0x87},
	ReasonWillNotSupported:    {ReasonWillNotSupported, StageConnect, 0x05, 0x87},
	ReasonServerBusy:          {ReasonServerBusy, StageConnect, 0x03, 0x89},
}

// LoginAttempt is one login attempt as the reference platform records it.
type LoginAttempt struct {
	Time          string  `json:"time"` // RFC 3339 with milliseconds, UTC
	Peer          string  `json:"peer"`
	Outcome       string  `json:"outcome"` // "success" or "refused"
	Stage         Stage   `json:"stage"`
	Reason        Reason  `json:"reason"`
	Detail        string  `json:"detail,omitempty"` // human-readable explanation and remedy
	ConnackCode   int     `json:"connack_code,omitempty"`
	TLSVersion    string  `json:"tls_version,omitempty"`
	CipherSuite   string  `json:"cipher_suite,omitempty"`
	ServerName    string  `json:"server_name,omitempty"`
	DidResume     bool    `json:"did_resume,omitempty"`
	CertSubject   string  `json:"cert_subject,omitempty"`
	CertIssuer    string  `json:"cert_issuer,omitempty"`
	CertSHA256    string  `json:"cert_sha256,omitempty"`
	CertNotBefore string  `json:"cert_not_before,omitempty"`
	CertNotAfter  string  `json:"cert_not_after,omitempty"`
	CertKeyType   string  `json:"cert_key_type,omitempty"`
	CAID          string  `json:"ca_id,omitempty"` // the anchoring device CA, when the chain verified
	ClientID      string  `json:"client_id,omitempty"`
	Username      string  `json:"username,omitempty"`
	DeviceID      string  `json:"device_id,omitempty"`
	ProjectID     string  `json:"project_id,omitempty"`
	MQTTVersion   int     `json:"mqtt_version,omitempty"` // 3, 4 (3.1.1) or 5
	Keepalive     int     `json:"keepalive,omitempty"`
	HandshakeMs   float64 `json:"handshake_ms,omitempty"`
}

// ListLoginAttemptsResponse is the body of GET /certlab/v1/login-attempts.
type ListLoginAttemptsResponse struct {
	Attempts []LoginAttempt `json:"attempts"`
	Count    int            `json:"count"`
}
