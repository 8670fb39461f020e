package features

import (
	"fmt"

	"github.com/certlab/certlab/iotda"
)

// Requirement is one ID of docs/requirements.md.
type Requirement struct {
	ID        string // tag without "@", e.g. "CA-QUOTA"
	Behaviour string // one-line summary
}

// Requirements is the requirement catalogue of docs/requirements.md, in its
// order. The suite must cover every ID with at least one scenario
// (coverage_test.go enforces it); Run reports results for each.
var Requirements = []Requirement{
	{"CA-UPLOAD", "a device CA (PEM) can be uploaded; certificate_id, cn_name, owner, verify_code, status=false, dates"},
	{"CA-VALID", "only a CA certificate is accepted (X.509, CA:TRUE, keyCertSign, valid now)"},
	{"CA-DUPLICATE", "the same CA cannot be uploaded twice in a project"},
	{"CA-QUOTA", "at most 100 device CAs per project, also under concurrent uploads"},
	{"CA-VERIFY", "proof of possession: CN = verify_code and signed by the CA, else IOTDA.014307"},
	{"CA-UNVERIFIED", "an unverified CA authenticates no device"},
	{"CA-DELETE", "a deleted CA authenticates no device; live sessions anchored on it are dropped"},
	{"CA-LIST", "listing pages with limit/marker/offset and reports the total count"},
	{"PROTO-MQTT-ONLY", "CERTIFICATES devices only under MQTT products; SECRET devices anywhere"},
	{"DEV-NODEID", "node_id is 1-64 of [A-Za-z0-9_-]: MAC, serial number or IMEI"},
	{"DEV-ID", "device_id = product_id_node_id unless given; unique across the platform, also concurrently"},
	{"DEV-FINGERPRINT", "fingerprint of 40 or 64 hex digits, case-insensitive; malformed refused"},
	{"DEV-FINGERPRINT-BIND", "with no fingerprint, the first successful login binds the certificate"},
	{"DEV-FINGERPRINT-SECONDARY", "a secondary fingerprint is accepted when the primary does not match"},
	{"DEV-FREEZE", "a frozen device cannot log in; freezing drops its live session"},
	{"DEV-STATUS", "INACTIVE until first login; ONLINE while connected; OFFLINE after"},
	{"LOGIN-SUCCESS", "a registered device with a valid certificate gets CONNACK success (3.1.1 and 5)"},
	{"LOGIN-TLS", "the client certificate is required and its chain verified in the TLS handshake"},
	{"LOGIN-CLIENTID", "ClientId {device_id}_0_{0|1}_{YYYYMMDDHH} is checked, parsed from the right"},
	{"LOGIN-USERNAME", "username must equal the device_id; the password is ignored"},
	{"LOGIN-PROJECT", "the anchoring CA must belong to the device's project"},
	{"LOGIN-KEEPALIVE", fmt.Sprintf("keepalive must be %d-%d s", iotda.MinKeepalive, iotda.MaxKeepalive)},
	{"LOGIN-TAKEOVER", "one connection per device: a second login takes over"},
	{"ACL-OWN-TOPICS", "a device publishes and subscribes only under " + iotda.TopicPrefix("{its device_id}")},
	{"MQTT-LIMITS", "no QoS 2, no retained messages, no wills, PUBLISH <= 1 MB"},
}
