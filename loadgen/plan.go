package loadgen

import (
	"fmt"
	"math"
	"strings"

	"github.com/certlab/certlab/iotda"
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

// shareScale is the resolution of a bad share: parts per million.
const shareScale = 1_000_000

// BadPlan decides which devices present a bad identity. It depends only on
// the device index, so every shard, every re-run and Prepare agree on it.
// Bad devices are spread evenly: device i is bad when floor((i+1)*share) >
// floor(i*share), so devices 0..n-1 hold exactly floor(n*share) bad ones,
// and the j-th bad device has kind Kinds[j % len(Kinds)].
type BadPlan struct {
	Share float64   // 0..1
	Kinds []BadKind // default DefaultBadKinds
}

func (p BadPlan) ppm() int64 {
	if p.Share <= 0 {
		return 0
	}
	if p.Share >= 1 {
		return shareScale
	}
	return int64(math.Round(p.Share * shareScale))
}

// Kind returns the identity device i presents.
func (p BadPlan) Kind(i int) BadKind {
	m := p.ppm()
	if m == 0 {
		return Good
	}
	before := int64(i) * m / shareScale
	if (int64(i)+1)*m/shareScale == before {
		return Good
	}
	kinds := p.Kinds
	if len(kinds) == 0 {
		kinds = DefaultBadKinds
	}
	return kinds[before%int64(len(kinds))]
}

// Expectation is what a server should answer to an identity.
type Expectation struct {
	Outcome Outcome
	Phase   string       // "" for success
	Reason  iotda.Reason // the refusal reason (iotda.Refusals), "" for success
	Connack int          // the expected CONNACK code of a CONNECT-stage refusal
}

// ExpectPlatform is what a platform that follows the login-refusal table
// (docs/requirements.md) answers to kind over MQTT version v (4 or 5).
func ExpectPlatform(kind BadKind, mqttVersion int) Expectation {
	connect := func(r iotda.Reason) Expectation {
		ref, _ := iotda.RefusalFor(r)
		return Expectation{Outcome: OutcomeRefused, Phase: PhaseConnect, Reason: r, Connack: int(ref.Code(iotda.MQTTVersion(mqttVersion)))}
	}
	switch kind {
	case BadFingerprint:
		return connect(iotda.ReasonFingerprintMismatch) // [DEV-FINGERPRINT]
	case BadUnregistered:
		return connect(iotda.ReasonDeviceNotFound)
	case BadUnknownCA:
		return Expectation{Outcome: OutcomeRefused, Phase: PhaseTLS, Reason: iotda.ReasonUnknownCA} // [LOGIN-TLS]
	default:
		return Expectation{Outcome: OutcomeSuccess} // [LOGIN-SUCCESS]
	}
}

// ExpectBaseline is what the bare crypto/tls baseline server answers: it
// checks the chain against the fleet's CAs and nothing else, so only an
// unknown CA is refused.
func ExpectBaseline(kind BadKind) Expectation {
	if kind == BadUnknownCA {
		return Expectation{Outcome: OutcomeRefused, Phase: PhaseTLS, Reason: iotda.ReasonUnknownCA}
	}
	return Expectation{Outcome: OutcomeSuccess}
}

// Matches reports whether a result meets the expectation: the same outcome,
// and for a refusal the same phase and (at CONNECT) the same CONNACK code.
func (e Expectation) Matches(r *Result) bool {
	if r.Outcome != e.Outcome {
		return false
	}
	if e.Outcome != OutcomeRefused {
		return true
	}
	if r.Phase != e.Phase {
		return false
	}
	return e.Phase != PhaseConnect || r.ConnackCode == e.Connack
}
