package api

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"reflect"
	"runtime/debug"
	"strings"

	"github.com/certlab/certlab/iotda"
	"github.com/certlab/certlab/platform/registry"
)

// authMode says how a route authenticates its caller.
type authMode int

const (
	authProject authMode = iota // AK/SK signature or X-Auth-Token of a project
	authAdmin                   // X-Certlab-Admin-Token
	authNone                    // public (healthz)
)

// request is what a route handler gets: the HTTP request, its body (already
// read, bounded) and the authenticated project (zero for authAdmin/authNone).
type request struct {
	*http.Request
	body    []byte
	project registry.Project
}

// handlerFunc handles one route. It writes the success response itself and
// returns an error (an *apiError, or a registry error that errorFor maps)
// for everything else; nothing must have been written when it returns one.
type handlerFunc func(w http.ResponseWriter, req *request) error

// handle registers pattern with the common pipeline: bounded body read,
// authentication, tenant check, handler, IoTDA-style error.
func (s *server) handle(pattern string, mode authMode, fn handlerFunc) {
	s.patterns[pattern] = true
	s.mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
		defer s.recoverPanic(w, r)
		if err := s.serve(w, r, mode, fn); err != nil {
			s.writeError(w, r, err)
		}
	})
}

// recoverPanic turns a handler panic into 500 IOTDA.000500 (when nothing
// was written yet) and logs it with its stack; http.ErrAbortHandler passes.
func (s *server) recoverPanic(w http.ResponseWriter, r *http.Request) {
	v := recover()
	if v == nil {
		return
	}
	if v == http.ErrAbortHandler {
		panic(v)
	}
	err := fmt.Errorf("handler panic: %v\n%s", v, debug.Stack())
	if sw, ok := w.(*statusWriter); ok && sw.code != 0 {
		s.cfg.Logger.Error("api handler panicked after writing", slog.String("request_id", w.Header().Get(iotda.HeaderRequestID)), slog.Any("err", err))
		return
	}
	s.writeError(w, r, err)
}

func (s *server) serve(w http.ResponseWriter, r *http.Request, mode authMode, fn handlerFunc) error {
	// The body is read before authentication because the AK/SK signature
	// covers its SHA-256.
	body, err := s.readBody(w, r)
	if err != nil {
		return err
	}
	req := &request{Request: r, body: body}
	switch mode {
	case authProject:
		p, err := s.authenticate(r, body)
		if err != nil {
			return err
		}
		// Tenant isolation: a project's credentials reach only that project.
		if pid := r.PathValue("project_id"); pid != "" && pid != p.ID {
			return &apiError{status: http.StatusForbidden, code: iotda.CodeForbidden,
				msg: "Operation not allowed. The user does not have the permission: the credentials do not belong to project " + pid}
		}
		req.project = p
	case authAdmin:
		if err := s.authenticateAdmin(r); err != nil {
			return err
		}
	}
	// Every body this API reads is JSON. Refusing other media types also
	// closes the SDK signer's UNSIGNED-PAYLOAD case (a body the signature
	// does not cover is only allowed for non-JSON content types).
	if ct := r.Header.Get("Content-Type"); len(body) > 0 && ct != "" && !isJSONContentType(ct) {
		return errBadFormat("Content-Type must be application/json, got " + quote(ct))
	}
	return fn(w, req)
}

// readBody reads the whole body, at most MaxBodyBytes.
func (s *server) readBody(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	if r.Body == nil || r.Body == http.NoBody {
		return nil, nil
	}
	if r.ContentLength > s.cfg.MaxBodyBytes {
		return nil, errBodyTooLarge(s.cfg.MaxBodyBytes)
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.cfg.MaxBodyBytes))
	if err != nil {
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			return nil, errBodyTooLarge(s.cfg.MaxBodyBytes)
		}
		return nil, &apiError{status: http.StatusBadRequest, code: iotda.CodeBadRequestFormat,
			msg: "Invalid input. The request format is invalid: reading body: " + err.Error()}
	}
	return body, nil
}

// isJSONContentType reports whether a Content-Type header names JSON.
func isJSONContentType(ct string) bool {
	mt, _, err := mime.ParseMediaType(ct)
	return err == nil && mt == "application/json"
}

// authenticate identifies the calling project from an AK/SK signature
// (Authorization header, either scheme, ±ClockSkew) or, without one, from
// X-Auth-Token. docs/iotda.md §2.
func (s *server) authenticate(r *http.Request, body []byte) (registry.Project, error) {
	if r.Header.Get(iotda.HeaderAuthorization) != "" {
		lookup := func(ak string) (string, bool) {
			p, ok := s.reg.ProjectByAccessKey(ak)
			return p.SecretKey, ok
		}
		ak, err := iotda.VerifyRequest(r, body, lookup, s.cfg.Now(), s.cfg.ClockSkew)
		if err != nil {
			return registry.Project{}, errUnauthorized(strings.TrimPrefix(err.Error(), "verify request: "))
		}
		p, ok := s.reg.ProjectByAccessKey(ak)
		if !ok {
			return registry.Project{}, errUnauthorized("unknown access key")
		}
		return p, nil
	}
	if tok := r.Header.Get(iotda.HeaderAuthToken); tok != "" {
		if p, ok := s.projectByToken(tok); ok {
			return p, nil
		}
		return registry.Project{}, errUnauthorized("invalid X-Auth-Token")
	}
	return registry.Project{}, errUnauthorized("missing Authorization or X-Auth-Token header")
}

// projectByToken compares tok with every project's token in constant time
// (SHA-256 digests, no early exit), so response time tells nothing about how
// much of a token was right.
func (s *server) projectByToken(tok string) (registry.Project, bool) {
	got := sha256.Sum256([]byte(tok))
	var found registry.Project
	match := 0
	for _, p := range s.reg.Projects() {
		want := sha256.Sum256([]byte(p.Token))
		eq := subtle.ConstantTimeCompare(got[:], want[:])
		if eq == 1 && match == 0 {
			found = p
		}
		match |= eq
	}
	return found, match == 1
}

// authenticateAdmin checks X-Certlab-Admin-Token in constant time; an empty
// AdminToken refuses everyone.
func (s *server) authenticateAdmin(r *http.Request) error {
	if s.cfg.AdminToken == "" {
		return errUnauthorized("project creation is disabled (no admin token configured)")
	}
	tok := r.Header.Get(iotda.HeaderAdminToken)
	if tok == "" {
		return errUnauthorized("missing X-Certlab-Admin-Token header")
	}
	got, want := sha256.Sum256([]byte(tok)), sha256.Sum256([]byte(s.cfg.AdminToken))
	if subtle.ConstantTimeCompare(got[:], want[:]) != 1 {
		return errUnauthorized("invalid X-Certlab-Admin-Token")
	}
	return nil
}

// decodeJSON decodes a request body into v. Unknown fields are ignored, as
// IoTDA does; malformed JSON and wrong field types are 400 IOTDA.000008
// naming the problem.
func decodeJSON(body []byte, v any) error {
	if len(body) == 0 {
		return errBadFormat("request body is empty")
	}
	err := json.Unmarshal(body, v)
	if err == nil {
		return nil
	}
	if se, ok := errors.AsType[*json.SyntaxError](err); ok {
		return errBadFormat(fmt.Sprintf("syntax error at offset %d: %s", se.Offset, se.Error()))
	}
	if te, ok := errors.AsType[*json.UnmarshalTypeError](err); ok {
		if te.Field == "" {
			return errBadFormat(fmt.Sprintf("the body must be %s, got %s", jsonKind(te.Type), te.Value))
		}
		return errBadFormat(fmt.Sprintf("field %q must be %s, got %s", te.Field, jsonKind(te.Type), te.Value))
	}
	return errBadFormat(err.Error())
}

// jsonKind names the JSON type a Go type decodes from.
func jsonKind(t reflect.Type) string {
	if t == nil {
		return "a JSON value"
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "a boolean"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "an integer"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Struct, reflect.Map:
		return "an object"
	case reflect.Slice, reflect.Array:
		return "an array"
	default:
		return "a JSON value"
	}
}

// writeJSON writes v as a JSON response with the given status.
func writeJSON(w http.ResponseWriter, status int, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode response: %w", err) // nothing written yet: becomes a 500
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(b) // a write error means the client went away
	return nil
}

// writeEmpty writes a success status with no body.
func writeEmpty(w http.ResponseWriter, status int) error {
	w.WriteHeader(status)
	return nil
}

// newRequestID returns 32 random lowercase hex digits.
func newRequestID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24+)
	return hex.EncodeToString(b[:])
}
