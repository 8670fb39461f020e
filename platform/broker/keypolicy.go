package broker

// keypolicy.go: the key policy at login. [LOGIN-TLS] Go verifies a chain
// whatever its keys (it refuses only RSA keys under 1024 bits, and client
// certificates with RSA keys over 8192 bits before verification); certlab
// refuses chains with a key outside iotda.KeyPolicy with bad_chain, naming
// the certificate and its key: a weak device key (RSA 1024), an odd curve,
// or a CA uploaded before the policy existed.

import (
	"crypto/x509"
	"errors"
	"fmt"

	"github.com/certlab/certlab/iotda"
)

// keyPolicyViolation is the first certificate of a chain whose key is
// outside the policy.
type keyPolicyViolation struct {
	cert *x509.Certificate
	err  *iotda.KeyPolicyError
}

func (v *keyPolicyViolation) Error() string { return v.err.Error() }
func (v *keyPolicyViolation) Unwrap() error { return v.err }

// withinKeyPolicy keeps the verified chains (leaf first, anchor last) whose
// every key is within the policy. When none is left it returns the first
// violation found.
func withinKeyPolicy(chains [][]*x509.Certificate) ([][]*x509.Certificate, error) {
	var first error
	kept := chains[:0:0]
	for _, chain := range chains {
		if err := chainKeys(chain); err != nil {
			if first == nil {
				first = err
			}
			continue
		}
		kept = append(kept, chain)
	}
	if len(kept) == 0 && first != nil {
		return nil, first
	}
	return kept, nil
}

func chainKeys(chain []*x509.Certificate) error {
	for i, c := range chain {
		role := iotda.RoleIntermediateCA
		switch i {
		case 0:
			role = iotda.RoleDeviceCert
		case len(chain) - 1:
			role = iotda.RoleDeviceCA
		}
		if err := iotda.CheckKey(role, c.PublicKey); err != nil {
			kpe, _ := errors.AsType[*iotda.KeyPolicyError](err)
			return &keyPolicyViolation{cert: c, err: kpe}
		}
	}
	return nil
}

// keyPolicyDetail explains a violation with its remedy.
func keyPolicyDetail(err error) string {
	if v, ok := errors.AsType[*keyPolicyViolation](err); ok {
		return fmt.Sprintf(detailKeyPolicy, v.err.Role, formatName(&v.cert.Subject), v.err.Key, iotda.KeyPolicy)
	}
	return fmt.Sprintf(detailBadChain, errText(err))
}

// detailKeyPolicy: role, subject, key name, the policy.
const detailKeyPolicy = "The %s %q has a key outside the platform's key policy: %s key (allowed: %s). Reissue it with an allowed key, e.g. ECDSA P-256 or RSA 2048."

// detailOversizedRSA: Go's TLS stack refused the chain before verification.
const detailOversizedRSA = "The client sent a certificate with an RSA key over 8192 bits (%v), outside the platform's key policy (" + iotda.KeyPolicy + "). Reissue the device certificate and its chain with allowed keys, e.g. ECDSA P-256 or RSA 2048."
