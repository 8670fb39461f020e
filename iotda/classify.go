package iotda

// classify.go: the one mapping from Go's certificate-verification and
// server-side TLS handshake errors to the TLS-stage reasons of the
// login-refusal table (docs/requirements.md), used by the platform's
// listener, by `certlab check` and by the PKI catalogue tests, which pin it
// against real x509.Verify and crypto/tls behaviour (sim/pki).
//
// Go reports some chain problems indirectly: when a candidate issuer was found
// by name but rejected (SHA-1 signature, CA:FALSE "intermediate", bad
// signature), Verify returns UnknownAuthorityError whose only trace of the
// cause is an unexported hint rendered in Error() as "(possibly because of
// ...)". Such errors are bad_chain, not unknown_ca.
//
// ca_not_verified needs registry knowledge (the issuer is uploaded but not
// verified): the platform refines unknown_ca into it.

import (
	"crypto/x509"
	"errors"
	"strings"
	"time"
)

// ReasonForVerifyError classifies an error from (*x509.Certificate).Verify
// (or anything wrapping one, such as *tls.CertificateVerificationError).
// at is the verification time (VerifyOptions.CurrentTime); zero means now.
// It tells expired from not-yet-valid, which Go reports with one code.
func ReasonForVerifyError(err error, at time.Time) Reason {
	if err == nil {
		return ReasonOK
	}
	if at.IsZero() {
		at = time.Now()
	}
	if inv, ok := errors.AsType[x509.CertificateInvalidError](err); ok {
		if inv.Reason == x509.Expired {
			if (inv.Cert != nil && at.Before(inv.Cert.NotBefore)) || strings.Contains(inv.Detail, " is before ") {
				return ReasonCertNotYetValid // [LOGIN-TLS]
			}
			return ReasonCertExpired // [LOGIN-TLS]
		}
		return ReasonBadChain // wrong EKU, CA:FALSE issuer, name constraints, path length
	}
	if ua, ok := errors.AsType[x509.UnknownAuthorityError](err); ok {
		msg := ua.Error()
		i := strings.Index(msg, "(possibly because of ")
		if i < 0 {
			return ReasonUnknownCA // no issuer of that name among the trusted CAs
		}
		hint := msg[i:]
		if strings.Contains(hint, "has expired or is not yet valid") {
			if strings.Contains(hint, " is before ") {
				return ReasonCertNotYetValid
			}
			return ReasonCertExpired
		}
		return ReasonBadChain // an issuer was found by name but rejected
	}
	return ReasonBadChain // InsecureAlgorithmError, ConstraintViolationError, parse errors, ...
}

// ReasonForHandshakeError classifies the error a crypto/tls server's
// Handshake returned for a client that must present a certificate
// (RequireAndVerifyClientCert, or RequireAnyClientCert plus a verifier that
// wraps the x509 error with %w). Errors that are not about the client
// certificate are tls_handshake.
func ReasonForHandshakeError(err error, at time.Time) Reason {
	if err == nil {
		return ReasonOK
	}
	if _, ok := errors.AsType[x509.CertificateInvalidError](err); ok {
		return ReasonForVerifyError(err, at)
	}
	if _, ok := errors.AsType[x509.UnknownAuthorityError](err); ok {
		return ReasonForVerifyError(err, at)
	}
	if _, ok := errors.AsType[*KeyPolicyError](err); ok {
		return ReasonBadChain // a verifier applying CheckKey refused a key of the chain
	}
	msg := err.Error()
	switch {
	case strings.Contains(msg, "tls: client didn't provide a certificate"):
		return ReasonNoClientCert
	case strings.Contains(msg, "tls: invalid signature by the client certificate"):
		// The chain verified, but the client does not hold the certificate's key.
		return ReasonBadChain
	case strings.Contains(msg, "tls: failed to parse client certificate"),
		strings.Contains(msg, "tls: failed to verify certificate"),
		strings.Contains(msg, "tls: client sent certificate containing RSA key larger than"): // Go's own bound, = MaxRSAKeyBits
		return ReasonBadChain
	}
	if isX509Error(err) {
		return ReasonBadChain
	}
	return ReasonTLSHandshake
}

func isX509Error(err error) bool {
	if _, ok := errors.AsType[x509.InsecureAlgorithmError](err); ok {
		return true
	}
	if _, ok := errors.AsType[x509.ConstraintViolationError](err); ok {
		return true
	}
	return errors.Is(err, x509.ErrUnsupportedAlgorithm)
}
