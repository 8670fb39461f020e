package check

import (
	"fmt"

	"github.com/certlab/certlab/iotda"
)

// remedies tells a device vendor what to change for each login outcome the
// platform can report (docs/requirements.md, "Login refusals"). Findings
// carry more specific remedies; this table covers reasons that only the
// platform's record or the login itself reveals.
var remedies = map[iotda.Reason]string{
	iotda.ReasonNoClientCert:    "configure the device with its X.509 device certificate and private key: certificate login is mutual TLS",
	iotda.ReasonUnknownCA:       "upload the CA that issued the device certificate to the project and verify it; send any intermediates with the device certificate (a deleted CA counts as unknown)",
	iotda.ReasonCANotVerified:   "verify the issuing CA: submit a certificate signed by its key whose subject CN is the CA's verify_code",
	iotda.ReasonCertExpired:     "issue a new device certificate and check the validity dates; also check the device clock",
	iotda.ReasonCertNotYetValid: "check the device and issuer clocks, or wait until NotBefore; issue certificates with NotBefore slightly in the past",
	iotda.ReasonBadChain:        "reissue the certificate with SHA-256 (or stronger) signatures, keys within the key policy (" + iotda.KeyPolicy + "), intermediates with basicConstraints CA:TRUE, ExtKeyUsage clientAuth (or none), and configure the private key that belongs to it",
	iotda.ReasonTLSHandshake:    "use TLS 1.2 or 1.3 with an ECDHE AES-GCM cipher suite, and trust the platform's server CA",
	iotda.ReasonClientIDFormat:  "use the ClientId {device_id}_0_0_{YYYYMMDDHH} (UTC hour)",
	iotda.ReasonKeepaliveRange: fmt.Sprintf("set the MQTT keepalive between %d and %d seconds (IoTDA SDKs use %d)",
		iotda.MinKeepalive, iotda.MaxKeepalive, iotda.DefaultKeepalive),
	iotda.ReasonDeviceNotFound:      "register the device (node ID and the certificate's fingerprint) under an MQTT product, or fix the device_id in the ClientId",
	iotda.ReasonUsernameMismatch:    "set the MQTT username to the device_id of the ClientId",
	iotda.ReasonFingerprintMismatch: "register this certificate's fingerprint (reset-fingerprint, primary or secondary), or present the registered certificate",
	iotda.ReasonWrongProject:        "upload and verify the issuing CA in the device's own project",
	iotda.ReasonNotMQTTProduct:      "register certificate devices under a product whose protocol_type is MQTT",
	iotda.ReasonDeviceFrozen:        "unfreeze the device (POST …/devices/{device_id}/unfreeze)",
	iotda.ReasonAuthTypeMismatch:    "register the device with auth_type CERTIFICATES to log in with a certificate",
	iotda.ReasonWillNotSupported:    "connect without a will message: IoTDA supports no wills",
	iotda.ReasonServerBusy:          "the platform is at its connection limit: retry later with backoff",
	iotda.ReasonConnectTimeout:      "send the MQTT CONNECT right after the TLS handshake",
	iotda.ReasonMalformedConnect:    "send a valid MQTT 3.1.1 or 5 CONNECT as the first packet",
}

// remedyFor returns the remedy for a reason ("" for ok or an unknown reason).
func remedyFor(r iotda.Reason) string { return remedies[r] }
