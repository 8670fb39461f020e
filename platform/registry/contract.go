package registry

// contract.go: the registry's exported surface that the API handlers
// (platform/api), the MQTT broker glue (platform) and the platform wiring
// use. Domain types are deliberately independent of the wire types in iotda/:
// the API maps between them.

import (
	"crypto/x509"
	"encoding/json"
	"errors"
	"time"
)

// MaxCAsPerProject is IoTDA's device CA quota. [CA-QUOTA]
const MaxCAsPerProject = 100

// Sentinel errors. Callers test with errors.Is; the wrapped message carries
// the specific problem (e.g. "invalid certificate: not a CA: basicConstraints CA:FALSE").
var (
	// ErrNotFound: the project, CA, product or device does not exist (in that project).
	ErrNotFound = errors.New("not found")
	// ErrInvalidInput: a field breaks a documented rule (node_id charset, fingerprint length, ...).
	ErrInvalidInput = errors.New("invalid input")
	// ErrInvalidCert: CA upload content is not a usable CA certificate. [CA-VALID]
	ErrInvalidCert = errors.New("invalid certificate")
	// ErrCAQuota: the project already has MaxCAsPerProject CAs. [CA-QUOTA]
	ErrCAQuota = errors.New("CA quota reached")
	// ErrCAExists: the same CA certificate is already uploaded in the project. [CA-DUPLICATE]
	ErrCAExists = errors.New("CA already exists")
	// ErrVerifyFailed: the verification certificate does not prove possession. [CA-VERIFY]
	ErrVerifyFailed = errors.New("verification failed")
	// ErrProductExists: a product with that product_id already exists.
	ErrProductExists = errors.New("product already exists")
	// ErrProductInUse: the product still has devices.
	ErrProductInUse = errors.New("product has devices")
	// ErrNotMQTTProduct: a CERTIFICATES device under a product whose protocol is not MQTT. [PROTO-MQTT-ONLY]
	ErrNotMQTTProduct = errors.New("only MQTT devices can use X.509 certificates")
	// ErrDeviceExists: the device_id is already taken anywhere on the platform. [DEV-ID]
	ErrDeviceExists = errors.New("device already exists")
)

// Project is a tenant: its own credentials, CAs, products and devices.
type Project struct {
	ID        string    // 32 lowercase hex digits
	Name      string    // unique
	AccessKey string    // AK for SDK-HMAC-SHA256 / V11-HMAC-SHA256
	SecretKey string    // SK
	Token     string    // static X-Auth-Token value
	CreatedAt time.Time // UTC
}

// CA is an uploaded device CA certificate.
type CA struct {
	ID         string            // certificate_id: 24 lowercase hex digits, increasing with creation (sortable)
	ProjectID  string            //
	AppID      string            // resource space; "" = default
	CNName     string            // subject CN
	Owner      string            // subject O (first), "" if none
	Verified   bool              // status: proof of possession done [CA-VERIFY]
	VerifyCode string            // CN the verification certificate must carry (UUID)
	PEM        string            // content as uploaded (normalised to one PEM block)
	Cert       *x509.Certificate // parsed
	SHA256     string            // lowercase hex SHA-256 of the DER, for duplicate detection
	CreatedAt  time.Time         //
}

// Product is a device product (template); ProtocolType decides whether its devices may use certificates.
type Product struct {
	ID                  string          // product_id (given or allocated: 24 lowercase hex digits)
	ProjectID           string          //
	AppID               string          //
	Name                string          //
	DeviceType          string          //
	ProtocolType        string          // one of iotda.ProtocolTypes
	DataFormat          string          // json | binary
	ManufacturerName    string          //
	Industry            string          //
	Description         string          //
	ServiceCapabilities json.RawMessage // stored as given ("[]" if absent)
	CreatedAt           time.Time       //
}

// Device is a registered device.
type Device struct {
	ID                   string          // device_id, unique across the platform [DEV-ID]
	Seq                  int64           // creation order, for paging (marker = 24-hex of Seq)
	ProjectID            string          //
	AppID                string          //
	NodeID               string          // 1–64 of [A-Za-z0-9_-] [DEV-NODEID]
	Name                 string          // device_name
	ProductID            string          //
	Description          string          //
	GatewayID            string          // = ID for a directly connected device
	AuthType             string          // iotda.AuthSecret | iotda.AuthCertificates
	Secret               string          // SECRET devices
	Fingerprint          string          // primary, lowercase hex, 40 or 64 digits; "" = bind at first login
	SecondaryFingerprint string          // lowercase hex or ""
	SecureAccess         bool            //
	Timeout              int32           //
	Frozen               bool            // [DEV-FREEZE]
	Status               string          // iotda.StatusInactive | StatusOnline | StatusOffline (FROZEN is derived by the API from Frozen)
	ExtensionInfo        json.RawMessage //
	CreatedAt            time.Time       //
	ActiveTime           time.Time       // first successful login; zero if never
	StatusUpdateTime     time.Time       // last ONLINE/OFFLINE change; zero if never
}

// Page selects a slice of a list, IoTDA style: records in descending ID order,
// Marker = ID of the last record of the previous page ("" = from the newest),
// Offset = records to skip after the marker.
type Page struct {
	Limit  int    // 1..50
	Marker string // opaque to callers
	Offset int    // 0..500
}

// NewDevice is what AddDevice asks for, after JSON decoding.
type NewDevice struct {
	DeviceID             string // "" = product_id + "_" + node_id
	NodeID               string
	Name                 string
	ProductID            string
	Description          string
	AppID                string
	AuthType             string // "" = SECRET
	Secret               string // "" for SECRET = generated
	Fingerprint          string
	SecondaryFingerprint string
	SecureAccess         bool
	Timeout              int32
	ExtensionInfo        json.RawMessage
}

// DeviceFilter narrows ListDevices.
type DeviceFilter struct {
	ProductID string
	NodeID    string
	AppID     string
}

// EventKind says what changed in the registry.
type EventKind int

// Registry changes that matter to live MQTT sessions.
const (
	EventCADeleted        EventKind = iota + 1 // CAID set; sessions anchored on it must drop [CA-DELETE]
	EventDeviceFrozen                          // DeviceID set [DEV-FREEZE]
	EventDeviceDeleted                         // DeviceID set
	EventFingerprintReset                      // DeviceID set; Force = force_disconnect
	EventTrustChanged                          // the trust snapshot was replaced (upload, verify, delete)
)

// Event is delivered synchronously, after the change is committed, to every
// function registered with (*Registry).OnChange.
type Event struct {
	Kind     EventKind
	CAID     string
	DeviceID string
	Force    bool
}

// Trust is an immutable snapshot of the device CAs, swapped atomically on
// every CA upload, verification or deletion. The TLS hot path reads it
// without locks. [LOGIN-TLS]
type Trust struct {
	// Verified holds every verified, unexpired CA of every project.
	Verified *x509.CertPool
	// All holds every uploaded CA (verified or not), to tell ca_not_verified from unknown_ca.
	All *x509.CertPool
	// BySHA256 maps the SHA-256 (lowercase hex) of a CA's DER to its record.
	// When the same CA is uploaded in several projects it holds one of them
	// (a verified one if any, else the oldest); CAInProject answers for a
	// given project.
	BySHA256 map[string]*CA
	// Built is when the snapshot was built; CAs expiring after it are still
	// rejected by chain verification against the current time.
	Built time.Time

	// byProject indexes every CA by (project, SHA-256); see CAInProject.
	byProject map[trustKey]*CA
}
