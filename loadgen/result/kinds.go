package result

import (
	"fmt"
	"strings"
)

// BadKind names the identity a device presents: "good" or a kind of bad
// identity the platform must refuse.
type BadKind string

// Identity kinds.
const (
	// Good: the device's own fleet certificate, registered with its fingerprint.
	Good BadKind = "good"
	// BadFingerprint: a fresh certificate from the device's own (verified) CA,
	// for the registered device, whose fingerprint is not the registered one.
	// Refused at CONNECT with fingerprint_mismatch. [DEV-FINGERPRINT]
	BadFingerprint BadKind = "fingerprint_mismatch"
	// BadUnregistered: a valid certificate from a verified CA for a device ID
	// that was never registered. Refused at CONNECT with device_not_found.
	BadUnregistered BadKind = "unregistered"
	// BadUnknownCA: a certificate issued by a CA nobody uploaded (the
	// sim/pki catalogue's unknown-ca variant). Refused in the TLS handshake. [LOGIN-TLS]
	BadUnknownCA BadKind = "unknown_ca"
)

// DefaultBadKinds is the rotation of bad identities when none is chosen.
var DefaultBadKinds = []BadKind{BadFingerprint, BadUnregistered, BadUnknownCA}

// ParseBadKinds parses a comma-separated list of bad kinds.
func ParseBadKinds(s string) ([]BadKind, error) {
	if strings.TrimSpace(s) == "" {
		return DefaultBadKinds, nil
	}
	var out []BadKind
	for _, p := range strings.Split(s, ",") {
		k := BadKind(strings.TrimSpace(p))
		switch k {
		case BadFingerprint, BadUnregistered, BadUnknownCA:
			out = append(out, k)
		default:
			return nil, fmt.Errorf("parse bad kinds: unknown kind %q (want %s, %s or %s)", k, BadFingerprint, BadUnregistered, BadUnknownCA)
		}
	}
	return out, nil
}
