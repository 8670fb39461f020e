package api

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"

	"github.com/certlab/certlab/iotda"
	"github.com/certlab/certlab/platform/registry"
)

// apiError is an error response: HTTP status, IoTDA error code and message.
type apiError struct {
	status int
	code   string
	msg    string
	quiet  bool // a server fault already logged where it happened (storage): not logged per request
}

func (e *apiError) Error() string { return fmt.Sprintf("%d %s: %s", e.status, e.code, e.msg) }

func errUnauthorized(reason string) *apiError {
	return &apiError{status: http.StatusUnauthorized, code: iotda.CodeUnauthorized,
		msg: "The request is unauthorized: " + reason}
}

func errBadFormat(problem string) *apiError {
	return &apiError{status: http.StatusBadRequest, code: iotda.CodeBadRequestFormat,
		msg: "Invalid input. The request format is invalid: " + problem}
}

func errInvalid(problem string) *apiError {
	return &apiError{status: http.StatusBadRequest, code: iotda.CodeInvalidInput,
		msg: "Invalid input data: " + problem}
}

func errBodyTooLarge(limit int64) *apiError {
	return &apiError{status: http.StatusRequestEntityTooLarge, code: iotda.CodePayloadTooLarge,
		msg: fmt.Sprintf("The request body is too large: the limit is %d bytes", limit)}
}

func errMethodNotAllowed(method, path string) *apiError {
	return &apiError{status: http.StatusMethodNotAllowed, code: iotda.CodeMethodNotAllowed,
		msg: fmt.Sprintf("Method %s is not allowed on %s", method, path)}
}

func errRouteNotFound(path string) *apiError {
	return &apiError{status: http.StatusNotFound, code: iotda.CodeNotFound,
		msg: "No API matches the path " + path}
}

// registryErrors maps the registry's sentinel errors to IoTDA responses; the
// message is the prefix followed by the specific problem the registry wrapped.
var registryErrors = []struct {
	sentinel error
	status   int
	code     string
	prefix   string
}{
	{registry.ErrNotFound, http.StatusNotFound, iotda.CodeNotFound, "The resource is not found"},
	{registry.ErrInvalidInput, http.StatusBadRequest, iotda.CodeInvalidInput, "Invalid input data"},
	{registry.ErrInvalidCert, http.StatusBadRequest, iotda.CodeInvalidCert, "Invalid certificate content"},                        // [CA-VALID]
	{registry.ErrCAQuota, http.StatusBadRequest, iotda.CodeCAQuota, "The number of CA certificates reached the limit"},            // [CA-QUOTA]
	{registry.ErrCAExists, http.StatusBadRequest, iotda.CodeCAExists, "The CA certificate already exists"},                        // [CA-DUPLICATE]
	{registry.ErrVerifyFailed, http.StatusBadRequest, iotda.CodeVerifyFailed, "The certificates verify verifyCode failed"},        // [CA-VERIFY]
	{registry.ErrDeviceExists, http.StatusBadRequest, iotda.CodeDeviceExists, "The device already exists"},                        // [DEV-ID]
	{registry.ErrNotMQTTProduct, http.StatusBadRequest, iotda.CodeNotMQTTProduct, "Only MQTT devices can use X.509 certificates"}, // [PROTO-MQTT-ONLY]
	{registry.ErrProductExists, http.StatusBadRequest, iotda.CodeProductExists, "The product already exists"},
	{registry.ErrProductInUse, http.StatusBadRequest, iotda.CodeProductInUse, "The product still has devices"},
}

// errorFor turns any handler error into the response to send. Unknown errors
// are 500 IOTDA.000500 with a generic message; the caller logs the cause.
func errorFor(err error) *apiError {
	if ae, ok := errors.AsType[*apiError](err); ok {
		return ae
	}
	if ae := storageError(err); ae != nil {
		return ae
	}
	for _, m := range registryErrors {
		if errors.Is(err, m.sentinel) {
			return &apiError{status: m.status, code: m.code, msg: withDetail(m.prefix, err, m.sentinel)}
		}
	}
	if errors.Is(err, iotda.ErrDeviceOffline) {
		// IoTDA would queue the message for an offline device; the reference
		// platform delivers synchronously or refuses, so the caller knows.
		return &apiError{status: http.StatusConflict, code: iotda.CodeDeviceNotOnline,
			msg: withDetail("The device is not online", err, iotda.ErrDeviceOffline)}
	}
	return &apiError{status: http.StatusInternalServerError, code: iotda.CodeInternal,
		msg: "Internal server error"}
}

// withDetail appends the specific problem err names beyond its sentinel.
// Registry errors read "op: sentinel: detail" (or "sentinel: detail"); the
// detail is what follows the sentinel, the operation being implied by the
// request: "add CA: invalid certificate: not a CA: basicConstraints CA:FALSE"
// under prefix "Invalid certificate content" becomes
// "Invalid certificate content: not a CA: basicConstraints CA:FALSE".
// Errors that wrap the sentinel elsewhere keep their whole text.
func withDetail(prefix string, err, sentinel error) string {
	detail, s := err.Error(), sentinel.Error()
	if _, after, ok := strings.Cut(detail, s+": "); ok {
		detail = after
	} else if detail == s {
		detail = ""
	} else {
		detail = strings.TrimSuffix(detail, ": "+s)
	}
	if detail == "" {
		return prefix
	}
	return prefix + ": " + detail
}

// writeError writes err as IoTDA's error body and logs server-side faults.
func (s *server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	ae := errorFor(err)
	rid := w.Header().Get(iotda.HeaderRequestID)
	if ae.status >= http.StatusInternalServerError && !ae.quiet {
		s.cfg.Logger.Error("api request failed", slog.String("request_id", rid),
			slog.String("method", r.Method), slog.String("path", r.URL.Path), slog.Any("err", err))
	} else {
		s.cfg.Logger.Debug("api request refused", slog.String("request_id", rid),
			slog.String("method", r.Method), slog.String("path", r.URL.Path),
			slog.Int("status", ae.status), slog.String("error_code", ae.code), slog.String("error_msg", ae.msg))
	}
	if werr := writeJSON(w, ae.status, iotda.ErrorBody{ErrorCode: ae.code, ErrorMsg: ae.msg}); werr != nil {
		http.Error(w, ae.msg, ae.status) // cannot happen: ErrorBody always encodes
	}
}
