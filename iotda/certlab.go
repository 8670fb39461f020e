package iotda

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
)

// certlab's own endpoints on the reference platform (not IoTDA): the login
// attempt log and project administration. See login.go.

// LoginAttemptFilter selects login attempts; zero fields do not filter.
type LoginAttemptFilter struct {
	DeviceID string
	Reason   Reason
	Limit    int // newest first; 0 = server default
}

// LoginAttempts reads the platform's login-attempt log:
// GET /certlab/v1/login-attempts?device_id=&reason=&limit=.
func (c *Client) LoginAttempts(ctx context.Context, f LoginAttemptFilter) (*ListLoginAttemptsResponse, error) {
	q := url.Values{}
	if f.DeviceID != "" {
		q.Set("device_id", f.DeviceID)
	}
	if f.Reason != "" {
		q.Set("reason", string(f.Reason))
	}
	if f.Limit > 0 {
		q.Set("limit", strconv.Itoa(f.Limit))
	}
	var out ListLoginAttemptsResponse
	err := c.do(ctx, call{op: "list login attempts", method: http.MethodGet, path: pathOf("certlab", "v1", "login-attempts"),
		query: q, want: []int{http.StatusOK}, out: &out})
	if err != nil {
		return nil, err
	}
	return &out, nil
}

// AddProject creates a project and its API credentials:
// POST /certlab/v1/projects with X-Certlab-Admin-Token → 201 (200 accepted).
// A client without credentials sends it unsigned.
func (c *Client) AddProject(ctx context.Context, adminToken, name string) (*ProjectCredentials, error) {
	var out ProjectCredentials
	err := c.do(ctx, call{op: "add project", method: http.MethodPost, path: pathOf("certlab", "v1", "projects"),
		in: AddProjectRequest{Name: name}, header: http.Header{HeaderAdminToken: {adminToken}}, adminOnly: true,
		want: []int{http.StatusCreated, http.StatusOK}, out: &out})
	if err != nil {
		return nil, err
	}
	return &out, nil
}
