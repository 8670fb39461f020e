package loadgen

import (
	"math"

	"github.com/certlab/certlab/iotda"
	"github.com/certlab/certlab/loadgen/result"
)

// shareScale is the resolution of a bad share: parts per million.
const shareScale = 1_000_000

// BadPlan decides which devices present a bad identity. It depends only on
// the device index, so every shard, every re-run and Prepare agree on it.
// Bad devices are spread evenly: device i is bad when floor((i+1)*share) >
// floor(i*share), so devices 0..n-1 hold exactly floor(n*share) bad ones,
// and the j-th bad device has kind Kinds[j % len(Kinds)].
type BadPlan struct {
	Share float64          // 0..1
	Kinds []result.BadKind // default DefaultBadKinds
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
func (p BadPlan) Kind(i int) result.BadKind {
	m := p.ppm()
	if m == 0 {
		return result.Good
	}
	before := int64(i) * m / shareScale
	if (int64(i)+1)*m/shareScale == before {
		return result.Good
	}
	kinds := p.Kinds
	if len(kinds) == 0 {
		kinds = result.DefaultBadKinds
	}
	return kinds[before%int64(len(kinds))]
}

// Expectation is what a server should answer to an identity.
type Expectation struct {
	Outcome result.Outcome
	Phase   string       // "" for success
	Reason  iotda.Reason // the refusal reason (iotda.Refusals), "" for success
	Connack int          // the expected CONNACK code of a CONNECT-stage refusal
}

// ExpectPlatform is what a platform that follows the login-refusal table
// (docs/requirements.md) answers to kind over MQTT version v (4 or 5).
func ExpectPlatform(kind result.BadKind, mqttVersion int) Expectation {
	connect := func(r iotda.Reason) Expectation {
		ref, _ := iotda.RefusalFor(r)
		return Expectation{Outcome: result.OutcomeRefused, Phase: result.PhaseConnect, Reason: r, Connack: int(ref.Code(iotda.MQTTVersion(mqttVersion)))}
	}
	switch kind {
	case result.BadFingerprint:
		return connect(iotda.ReasonFingerprintMismatch) // [DEV-FINGERPRINT]
	case result.BadUnregistered:
		return connect(iotda.ReasonDeviceNotFound)
	case result.BadUnknownCA:
		return Expectation{Outcome: result.OutcomeRefused, Phase: result.PhaseTLS, Reason: iotda.ReasonUnknownCA} // [LOGIN-TLS]
	default:
		return Expectation{Outcome: result.OutcomeSuccess} // [LOGIN-SUCCESS]
	}
}

// ExpectBaseline is what the bare crypto/tls baseline server answers: it
// checks the chain against the fleet's CAs and nothing else, so only an
// unknown CA is refused.
func ExpectBaseline(kind result.BadKind) Expectation {
	if kind == result.BadUnknownCA {
		return Expectation{Outcome: result.OutcomeRefused, Phase: result.PhaseTLS, Reason: iotda.ReasonUnknownCA}
	}
	return Expectation{Outcome: result.OutcomeSuccess}
}

// Matches reports whether a result meets the expectation: the same outcome,
// and for a refusal the same phase and (at CONNECT) the same CONNACK code.
func (e Expectation) Matches(r *result.Result) bool {
	if r.Outcome != e.Outcome {
		return false
	}
	if e.Outcome != result.OutcomeRefused {
		return true
	}
	if r.Phase != e.Phase {
		return false
	}
	return e.Phase != result.PhaseConnect || r.ConnackCode == e.Connack
}
