package iotda

import (
	"net/http"
	"time"
)

// Credentials are what a client signs with. Exactly one of AK/SK or Token is used:
// AK/SK when AccessKey is set, else Token (sent as X-Auth-Token).
type Credentials struct {
	AccessKey string
	SecretKey string
	Token     string
	ProjectID string
	Region    string // for V11 derived signing; "" = "local"
	// Derived selects V11-HMAC-SHA256 (service "iotdm") instead of SDK-HMAC-SHA256.
	Derived bool
}

// SignRequest signs r in place (X-Sdk-Date, Authorization) over body.
// TODO(iotda signer helper): implement per reference/iotda.md §2.2/§2.3.
func SignRequest(r *http.Request, body []byte, c Credentials, now time.Time) error { panic("TODO") }

// SecretLookup returns the secret key for an access key, and whether it exists.
type SecretLookup func(accessKey string) (secretKey string, ok bool)

// VerifyRequest checks the Authorization header of a signed request (either
// scheme) against body, within ±skew of now, and returns the access key that
// signed it. A missing, malformed, stale or wrong signature is an error whose
// message says which (the API answers 401 IOTDA.000002 with it).
// TODO(iotda signer helper): implement.
func VerifyRequest(r *http.Request, body []byte, lookup SecretLookup, now time.Time, skew time.Duration) (accessKey string, err error) {
	panic("TODO")
}
