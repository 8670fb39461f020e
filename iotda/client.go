package iotda

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// UserAgent is sent with every client request.
const UserAgent = "certlab/iotda"

// DefaultTimeout bounds each client request unless WithTimeout says otherwise.
const DefaultTimeout = 30 * time.Second

// maxResponseBytes bounds what the client reads from one response.
const maxResponseBytes = 16 << 20

// Client is a small typed IoTDA v5 client. Every request is signed with
// SignRequest (or carries X-Auth-Token when the credentials only have a
// token) and bounded by the per-request timeout. HTTP statuses ≥ 400 come
// back as *APIError. A Client is safe for concurrent use.
type Client struct {
	base    string // endpoint without trailing slash
	creds   Credentials
	hc      *http.Client
	rootCAs *x509.CertPool
	now     func() time.Time
	timeout time.Duration
}

// ClientOption configures a Client.
type ClientOption func(*Client)

// WithHTTPClient sends requests through hc (its Timeout still applies).
func WithHTTPClient(hc *http.Client) ClientOption { return func(c *Client) { c.hc = hc } }

// WithRootCAs verifies the server certificate against pool instead of the
// system roots (applied to the transport of WithHTTPClient too, when it is an *http.Transport).
func WithRootCAs(pool *x509.CertPool) ClientOption { return func(c *Client) { c.rootCAs = pool } }

// WithClock sets the clock used for X-Sdk-Date (tests; skewed clients).
func WithClock(now func() time.Time) ClientOption { return func(c *Client) { c.now = now } }

// WithTimeout bounds each request (default DefaultTimeout; ≤ 0 = no bound
// beyond the caller's context).
func WithTimeout(d time.Duration) ClientOption { return func(c *Client) { c.timeout = d } }

// NewClient returns a client for the API at baseURL (e.g. https://127.0.0.1:8943).
func NewClient(baseURL string, creds Credentials, opts ...ClientOption) *Client {
	c := &Client{base: strings.TrimRight(baseURL, "/"), creds: creds, now: time.Now, timeout: DefaultTimeout}
	for _, o := range opts {
		o(c)
	}
	if c.hc == nil {
		c.hc = &http.Client{}
	}
	if c.rootCAs != nil {
		tr, ok := c.hc.Transport.(*http.Transport)
		if c.hc.Transport == nil {
			tr, ok = http.DefaultTransport.(*http.Transport), true
		}
		if ok {
			tr = tr.Clone()
			if tr.TLSClientConfig == nil {
				tr.TLSClientConfig = &tls.Config{MinVersion: tls.VersionTLS12}
			}
			tr.TLSClientConfig.RootCAs = c.rootCAs
			hc := *c.hc
			hc.Transport = tr
			c.hc = &hc
		}
	}
	return c
}

// Credentials returns the credentials the client authenticates with.
func (c *Client) Credentials() Credentials { return c.creds }

// BaseURL returns the API endpoint the client talks to.
func (c *Client) BaseURL() string { return c.base }

// call is one API operation.
type call struct {
	op     string // for error messages: "add certificate"
	method string
	path   string // already escaped (see pathOf)
	query  url.Values
	in     any // JSON body; nil = none
	want   []int
	out    any // decoded from the body; nil = body ignored
	header http.Header
	// adminOnly calls are authorised by a header of their own; they are
	// signed when the client has credentials and sent as they are otherwise.
	adminOnly bool
}

// projectPath is /v5/iot/{project_id}/seg/seg… with each segment escaped.
func (c *Client) projectPath(segs ...string) string {
	return pathOf(append([]string{"v5", "iot", c.creds.ProjectID}, segs...)...)
}

// pathOf joins escaped segments into an absolute path.
func pathOf(segs ...string) string {
	var b strings.Builder
	for _, s := range segs {
		b.WriteByte('/')
		b.WriteString(url.PathEscape(s))
	}
	return b.String()
}

// encodeQuery encodes like the SDK: sorted keys, spaces as %20.
func encodeQuery(q url.Values) string {
	return strings.ReplaceAll(q.Encode(), "+", "%20")
}

// do sends k and decodes its answer.
func (c *Client) do(ctx context.Context, k call) error {
	if c.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.timeout)
		defer cancel()
	}
	var body []byte
	if k.in != nil {
		var buf bytes.Buffer
		enc := json.NewEncoder(&buf) // trailing newline, no HTML escaping: as the SDK encodes
		enc.SetEscapeHTML(false)
		if err := enc.Encode(k.in); err != nil {
			return fmt.Errorf("%s: encode body: %w", k.op, err)
		}
		body = buf.Bytes()
	}
	target := c.base + k.path
	if len(k.query) > 0 {
		target += "?" + encodeQuery(k.query)
	}
	req, err := http.NewRequestWithContext(ctx, k.method, target, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("%s: %w", k.op, err)
	}
	if body == nil {
		req.Body, req.GetBody, req.ContentLength = http.NoBody, nil, 0
	}
	for name, vs := range k.header {
		req.Header[name] = vs
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", UserAgent)
	if !k.adminOnly || c.creds.AccessKey != "" || c.creds.Token != "" {
		if err := SignRequest(req, body, c.creds, c.now()); err != nil {
			return fmt.Errorf("%s: %w", k.op, err)
		}
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return fmt.Errorf("%s: %w", k.op, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes))
	if err != nil {
		return fmt.Errorf("%s: read response: %w", k.op, err)
	}
	if resp.StatusCode >= 400 {
		return fmt.Errorf("%s: %w", k.op, parseAPIError(resp, data))
	}
	if !slices.Contains(k.want, resp.StatusCode) {
		return fmt.Errorf("%s: %w: got HTTP %d, want %s", k.op, ErrUnexpectedStatus, resp.StatusCode, statusList(k.want))
	}
	if k.out == nil {
		return nil
	}
	if len(bytes.TrimSpace(data)) == 0 {
		return fmt.Errorf("%s: HTTP %d with an empty body", k.op, resp.StatusCode)
	}
	if err := json.Unmarshal(data, k.out); err != nil {
		return fmt.Errorf("%s: decode HTTP %d body: %w", k.op, resp.StatusCode, err)
	}
	return nil
}

// parseAPIError reads an IoTDA error body ({"error_code","error_msg"}, or the
// SDK's fallback {"code","message"}); anything else keeps its first 200 bytes.
func parseAPIError(resp *http.Response, data []byte) *APIError {
	e := &APIError{StatusCode: resp.StatusCode, RequestID: resp.Header.Get(HeaderRequestID)}
	var b struct {
		ErrorCode string `json:"error_code"`
		ErrorMsg  string `json:"error_msg"`
		Code      string `json:"code"`
		Message   string `json:"message"`
	}
	if json.Unmarshal(data, &b) == nil && (b.ErrorCode != "" || b.Code != "") {
		e.ErrorCode, e.ErrorMsg = b.ErrorCode, b.ErrorMsg
		if e.ErrorCode == "" {
			e.ErrorCode, e.ErrorMsg = b.Code, b.Message
		}
		return e
	}
	if len(data) > 200 {
		data = data[:200]
	}
	e.ErrorMsg = strings.TrimSpace(string(data))
	if e.ErrorMsg == "" {
		e.ErrorMsg = http.StatusText(resp.StatusCode)
	}
	return e
}

func statusList(xs []int) string {
	s := make([]string, len(xs))
	for i, x := range xs {
		s[i] = strconv.Itoa(x)
	}
	return strings.Join(s, " or ")
}

// ListOptions pages a list call (docs/iotda.md §3): Limit 1–50 (0 =
// server default 10), Offset 0–500, Marker = last ID of the previous page.
type ListOptions struct {
	AppID  string
	Limit  int
	Offset int
	Marker string
}

func (o ListOptions) values() url.Values {
	q := url.Values{}
	if o.AppID != "" {
		q.Set("app_id", o.AppID)
	}
	if o.Limit > 0 {
		q.Set("limit", strconv.Itoa(o.Limit))
	}
	if o.Offset > 0 {
		q.Set("offset", strconv.Itoa(o.Offset))
	}
	if o.Marker != "" {
		q.Set("marker", o.Marker)
	}
	return q
}
