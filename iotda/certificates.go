package iotda

import (
	"context"
	"net/http"
	"net/url"
)

// Device CA certificate operations (docs/iotda.md §4.2).

// AddCertificate uploads a device CA: POST /v5/iot/{project_id}/certificates → 201. [CA-UPLOAD]
func (c *Client) AddCertificate(ctx context.Context, in CreateCertificateDto) (*CACert, error) {
	var out CACert
	err := c.do(ctx, call{op: "add certificate", method: http.MethodPost, path: c.projectPath("certificates"),
		in: in, want: []int{http.StatusCreated}, out: &out})
	if err != nil {
		return nil, err
	}
	return &out, nil
}

// ListCertificates pages the project's device CAs. [CA-LIST]
func (c *Client) ListCertificates(ctx context.Context, o ListOptions) (*ListCertificatesResponse, error) {
	var out ListCertificatesResponse
	err := c.do(ctx, call{op: "list certificates", method: http.MethodGet, path: c.projectPath("certificates"),
		query: o.values(), want: []int{http.StatusOK}, out: &out})
	if err != nil {
		return nil, err
	}
	return &out, nil
}

// ShowCertificate returns one device CA, with its name and PEM content.
func (c *Client) ShowCertificate(ctx context.Context, id string) (*CACert, error) {
	var out CACert
	err := c.do(ctx, call{op: "show certificate", method: http.MethodGet, path: c.projectPath("certificates", id),
		want: []int{http.StatusOK}, out: &out})
	if err != nil {
		return nil, err
	}
	return &out, nil
}

// CheckCertificate proves possession of a CA's key with a verification
// certificate: POST …/certificates/{id}/action?action_id=verify → 200, no body. [CA-VERIFY]
func (c *Client) CheckCertificate(ctx context.Context, id string, in VerifyCertificateDto) error {
	return c.do(ctx, call{op: "check certificate", method: http.MethodPost, path: c.projectPath("certificates", id, "action"),
		query: url.Values{"action_id": {"verify"}}, in: in, want: []int{http.StatusOK}})
}

// DeleteCertificate deletes a device CA → 204. [CA-DELETE]
func (c *Client) DeleteCertificate(ctx context.Context, id string) error {
	return c.do(ctx, call{op: "delete certificate", method: http.MethodDelete, path: c.projectPath("certificates", id),
		want: []int{http.StatusNoContent}})
}
