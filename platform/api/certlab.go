package api

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"

	"github.com/certlab/certlab/iotda"
)

// Login-attempt listing bounds. An attempt's text is bounded where it is
// recorded (platform/broker/attempts.go); the page is bounded here too, in
// bytes, whatever limit asks for.
const (
	defaultAttempts     = 100
	maxAttempts         = 10000
	maxAttemptPageBytes = 1 << 20 // the JSON body of one page, at most
)

// listLoginAttempts: GET /certlab/v1/login-attempts?device_id=&reason=&limit= → 200
// iotda.ListLoginAttemptsResponse, newest first.
//
// Tenant isolation: a project sees the attempts whose ProjectID is its own
// (the broker sets it once the device, or the CA anchoring the chain, is
// known), plus TLS-stage refusals that carry no project (nothing identifies a
// tenant before the chain verifies, and the caller needs them to learn why
// its device was refused). Connect-stage refusals without a project (e.g.
// device_not_found) are shown to nobody: they may name another tenant's
// device. Filtering happens after the broker applies limit, so a page can
// hold fewer than limit attempts. A page stops before maxAttemptPageBytes
// of JSON, newest attempts first, and then says truncated.
func (s *server) listLoginAttempts(w http.ResponseWriter, req *request) error {
	q := req.URL.Query()
	limit := defaultAttempts
	if q.Has("limit") {
		n, err := strconv.Atoi(q.Get("limit"))
		if err != nil || n < 1 || n > maxAttempts {
			return &apiError{status: http.StatusBadRequest, code: iotda.CodeLimitOutOfRange,
				msg: fmt.Sprintf("Invalid input data: limit must be an integer from 1 to %d, got %q", maxAttempts, q.Get("limit"))}
		}
		limit = n
	}
	out := iotda.ListLoginAttemptsResponse{Attempts: []iotda.LoginAttempt{}}
	if s.cfg.Devices != nil {
		size := len(`{"attempts":[],"count":10000,"truncated":true}`)
		for _, a := range s.cfg.Devices.LoginAttempts(q.Get("device_id"), q.Get("reason"), limit) {
			if a.ProjectID != req.project.ID && (a.ProjectID != "" || a.Stage != iotda.StageTLS) {
				continue
			}
			b, err := json.Marshal(a)
			if err != nil {
				return fmt.Errorf("encode login attempt: %w", err)
			}
			if size += len(b) + 1; size > maxAttemptPageBytes {
				out.Truncated = true
				break
			}
			out.Attempts = append(out.Attempts, a)
		}
	}
	out.Count = len(out.Attempts)
	return writeJSON(w, http.StatusOK, out)
}

// createProject: POST /certlab/v1/projects with X-Certlab-Admin-Token and
// {"name": …} → 201 iotda.ProjectCredentials.
func (s *server) createProject(w http.ResponseWriter, req *request) error {
	var in iotda.AddProjectRequest
	if err := decodeJSON(req.body, &in); err != nil {
		return err
	}
	if in.Name == "" {
		return errInvalid("name is required")
	}
	p, err := s.reg.CreateProject(req.Context(), in.Name)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, iotda.ProjectCredentials{
		ProjectID: p.ID,
		Name:      p.Name,
		AccessKey: p.AccessKey,
		SecretKey: p.SecretKey,
		Token:     p.Token,
	})
}

// healthz: GET /certlab/v1/healthz (no authentication) → 200 {"status":"ok"},
// or the storage error (503 IOTDA.000503 when the registry's database file
// was removed or replaced) when the registry cannot store writes.
func (s *server) healthz(w http.ResponseWriter, _ *request) error {
	if err := s.reg.StorageErr(); err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}
