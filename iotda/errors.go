package iotda

import (
	"errors"
	"fmt"
)

// Request-authentication errors. VerifyRequest wraps one of them with a
// sentence saying what exactly was wrong; the API answers each with 401
// IOTDA.000002 and that sentence.
var (
	// ErrNoCredentials: SignRequest was given neither AK/SK nor a token.
	ErrNoCredentials = errors.New("no credentials")
	// ErrMissingAuthorization: the request has no Authorization header.
	ErrMissingAuthorization = errors.New("missing Authorization header")
	// ErrMalformedAuthorization: the Authorization header cannot be parsed,
	// names an unknown algorithm, or does not sign x-sdk-date.
	ErrMalformedAuthorization = errors.New("malformed Authorization header")
	// ErrBadDate: X-Sdk-Date is missing or not in 20060102T150405Z form.
	ErrBadDate = errors.New("missing or malformed X-Sdk-Date")
	// ErrStaleDate: X-Sdk-Date is outside the allowed clock skew.
	ErrStaleDate = errors.New("X-Sdk-Date outside the allowed clock skew")
	// ErrUnknownAccessKey: no secret is known for the access key.
	ErrUnknownAccessKey = errors.New("unknown access key")
	// ErrSignatureMismatch: the signature does not match the request.
	ErrSignatureMismatch = errors.New("signature mismatch")
)

// ErrDeviceOffline: the device has no live MQTT session, so a message down
// to it cannot be delivered. A platform answers 409 CodeDeviceNotOnline.
var ErrDeviceOffline = errors.New("device is not online")

// ErrUnexpectedStatus: the server answered a success status other than the
// one IoTDA documents for the operation (e.g. 200 where 201 is due).
var ErrUnexpectedStatus = errors.New("unexpected HTTP status")

// APIError is an HTTP error answer of IoTDA (status ≥ 400): its status, the
// error body and the X-Request-Id response header. A body that is not an
// IoTDA error body leaves ErrorCode empty and keeps its first 200 bytes in ErrorMsg.
type APIError struct {
	StatusCode int
	ErrorCode  string
	ErrorMsg   string
	RequestID  string
}

// Error renders "IOTDA.014302 (HTTP 400): message [request id]".
func (e *APIError) Error() string {
	var s string
	if e.ErrorCode != "" {
		s = fmt.Sprintf("%s (HTTP %d): %s", e.ErrorCode, e.StatusCode, e.ErrorMsg)
	} else {
		s = fmt.Sprintf("HTTP %d: %s", e.StatusCode, e.ErrorMsg)
	}
	if e.RequestID != "" {
		s += " [request " + e.RequestID + "]"
	}
	return s
}

// IsCode reports whether err is (or wraps) an *APIError with this error_code.
func IsCode(err error, code string) bool {
	var ae *APIError
	return errors.As(err, &ae) && ae.ErrorCode == code
}

// StatusCode returns the HTTP status of an *APIError in err's chain, or 0.
func StatusCode(err error) int {
	var ae *APIError
	if errors.As(err, &ae) {
		return ae.StatusCode
	}
	return 0
}
