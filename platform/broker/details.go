package broker

// details.go: the human explanation (and remedy) recorded with each refusal
// in LoginAttempt.Detail. The machine-readable part is the reason.
//
// A detail quotes what the peer sent (its ClientId, username, certificate
// names, the error its bytes caused): every such value goes through
// peerText or errText first, so that a detail stays within bound.Detail
// with its remedy intact.

import "github.com/certlab/certlab/platform/internal/bound"

// peerText is a peer-controlled value as a detail may quote it.
func peerText(s string) string { return bound.String(s, bound.Field) }

// errText is an error a peer's bytes caused, as a detail may quote it.
func errText(err error) string { return bound.String(err.Error(), bound.Field) }

const (
	detailNoClientCert         = "The client sent no certificate. Configure the device with its X.509 device certificate and private key: certificate login requires mutual TLS."
	detailUnknownCA            = "The certificate chain does not lead to any device CA certificate on the platform (issuer %q; a deleted CA counts as unknown). Upload and verify the CA that issued the device certificate, and send any intermediates with it."
	detailCANotVerified        = "The certificate was issued by %s, which is uploaded but not verified. Verify it: sign a verification certificate whose CN is the CA's verify_code and submit it."
	detailExpired              = "The certificate %q expired at %s (platform time %s). Issue a new device certificate and register its fingerprint."
	detailNotYetValid          = "The certificate %q is not valid before %s (platform time %s). Check the clock of the issuing CA or wait until it is valid."
	detailCADeletedDuringLogin = "The CA that anchors the certificate was deleted while the device was logging in."
	detailBadChain             = "The certificate chain is invalid: %v. Check that intermediates are CA certificates (basicConstraints CA:TRUE), that the signatures are intact and that the device certificate allows client authentication."

	detailClientIDFormat      = "The ClientId %q is not {device_id}_0_{0|1}_{YYYYMMDDHH}: %v."
	detailKeepalive           = "The keepalive of %d s is outside %d..%d s. Set a keepalive in that range (IoTDA SDKs use 120)."
	detailWill                = "The CONNECT carries a will message; the platform does not support wills. Connect without one."
	detailDeviceNotFound      = "No device %q is registered. Register the device, or fix the device_id in the ClientId."
	detailUsername            = "The username %q differs from the device_id %q of the ClientId. Set the username to the device_id."
	detailAuthType            = "Device %q uses %s authentication, not CERTIFICATES; it cannot log in with a certificate."
	detailWrongProject        = "The certificate chains to %s, but device %q belongs to project %s. Upload and verify the CA in the device's project."
	detailProductMissing      = "The product %[2]q of device %[1]q could not be read (%[3]v); only devices of MQTT products can use certificates."
	detailNotMQTT             = "Device %q belongs to product %q whose protocol is %q; only MQTT devices can use certificates."
	detailFrozen              = "Device %q is frozen. Unfreeze it to allow logins."
	detailFingerprint         = "The certificate fingerprint (SHA-256 %s, SHA-1 %s) matches neither the device's primary nor its secondary fingerprint. Register this certificate's fingerprint or present the registered certificate."
	detailBindLost            = "The device had no fingerprint, but another certificate was bound to it first; this certificate (SHA-256 %s) does not match it."
	detailBindFailed          = "The platform could not record the device's first fingerprint (%v). Retry the login."
	detailBusy                = "The platform serves at most %d device connections. Retry later."
	detailBusyHandshakes      = "The platform was already running its %d concurrent TLS handshakes with %d more waiting (--max-handshakes, --handshake-queue); the connection was closed before the handshake. Retry later with backoff and jitter."
	detailBusyQueue           = "The connection waited for one of the platform's %d TLS handshake slots for %s without getting one (--max-handshakes); it was closed before the handshake. Retry later with backoff and jitter."
	detailConnectTimeout      = "TLS completed but no CONNECT packet arrived within %s."
	detailClosedBeforeConnect = "TLS completed but the client closed the connection before sending CONNECT."
	detailMalformed           = "The first MQTT packet was not an acceptable CONNECT: %v."
	detailProtocolLevel       = "The CONNECT asks for protocol level %d, which the platform does not speak: use MQTT 3.1.1 (\"MQTT\", level 4) or MQTT 5 (\"MQTT\", level 5)."
)
