package api

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/certlab/certlab/iotda"
	"github.com/certlab/certlab/platform/registry"
)

func TestParsePage(t *testing.T) {
	tests := []struct {
		name     string
		query    string
		want     registry.Page
		wantCode string
	}{
		{name: "defaults", query: "", want: registry.Page{Limit: 10}},
		{name: "all set", query: "limit=50&marker=abc&offset=500", want: registry.Page{Limit: 50, Marker: "abc", Offset: 500}},
		{name: "limit 1", query: "limit=1", want: registry.Page{Limit: 1}},
		{name: "limit 0", query: "limit=0", wantCode: iotda.CodeLimitOutOfRange},
		{name: "limit 51", query: "limit=51", wantCode: iotda.CodeLimitOutOfRange},
		{name: "limit abc", query: "limit=abc", wantCode: iotda.CodeLimitOutOfRange},
		{name: "limit empty", query: "limit=", wantCode: iotda.CodeLimitOutOfRange},
		{name: "offset 501", query: "offset=501", wantCode: iotda.CodeMarkerOutOfRange},
		{name: "offset -1", query: "offset=-1", wantCode: iotda.CodeMarkerOutOfRange},
		{name: "offset x", query: "offset=x", wantCode: iotda.CodeMarkerOutOfRange},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q, err := url.ParseQuery(tt.query)
			if err != nil {
				t.Fatal(err)
			}
			got, err := parsePage(q)
			if tt.wantCode != "" {
				ae := errorFor(err)
				if err == nil || ae.code != tt.wantCode || ae.status != http.StatusBadRequest {
					t.Fatalf("parsePage(%q) error = %v, want 400 %s", tt.query, err, tt.wantCode)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("parsePage(%q) = %+v, %v; want %+v", tt.query, got, err, tt.want)
			}
		})
	}
}

func TestDecodeJSONMessages(t *testing.T) {
	tests := []struct {
		name    string
		body    string
		wantMsg string // substring of error_msg; "" = no error
	}{
		{name: "ok with unknown field", body: `{"node_id":"n1","product_id":"p","future":1}`},
		{name: "empty", body: ``, wantMsg: "request body is empty"},
		{name: "syntax", body: `{"node_id":`, wantMsg: "syntax error at offset"},
		{name: "trailing garbage", body: `{"node_id":"a"} x`, wantMsg: "syntax error at offset"},
		{name: "wrong type", body: `{"node_id":5}`, wantMsg: `field "node_id" must be a string, got number`},
		{name: "nested wrong type", body: `{"node_id":"a","auth_info":{"secure_access":"yes"}}`, wantMsg: `field "auth_info.secure_access" must be a boolean`},
		{name: "int32 overflow", body: `{"node_id":"a","auth_info":{"timeout":1e12}}`, wantMsg: `field "auth_info.timeout" must be an integer`},
		{name: "array body", body: `[]`, wantMsg: "the body must be an object, got array"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var v iotda.AddDevice
			err := decodeJSON([]byte(tt.body), &v)
			if tt.wantMsg == "" {
				if err != nil {
					t.Fatalf("decodeJSON: %v", err)
				}
				return
			}
			ae := errorFor(err)
			if ae.code != iotda.CodeBadRequestFormat || !strings.Contains(ae.msg, tt.wantMsg) {
				t.Fatalf("decodeJSON(%q) = %s %q, want %s containing %q", tt.body, ae.code, ae.msg, iotda.CodeBadRequestFormat, tt.wantMsg)
			}
		})
	}
}

func TestErrorFor(t *testing.T) {
	tests := []struct {
		name       string
		err        error
		wantStatus int
		wantCode   string
		wantMsg    string
	}{
		{"invalid cert detail", fmt.Errorf("%w: not a CA: basicConstraints CA:FALSE", registry.ErrInvalidCert),
			400, iotda.CodeInvalidCert, "Invalid certificate content: not a CA: basicConstraints CA:FALSE"},
		{"wrapped by op", fmt.Errorf("add CA: %w", fmt.Errorf("%w: expired", registry.ErrInvalidCert)),
			400, iotda.CodeInvalidCert, "Invalid certificate content: expired"},
		{"registry style", fmt.Errorf("verify CA 01: %w: %w", registry.ErrVerifyFailed, errors.New(`CN "x" does not match verify_code`)),
			400, iotda.CodeVerifyFailed, `The certificates verify verifyCode failed: CN "x" does not match verify_code`},
		{"not found suffix", fmt.Errorf("device %q: %w", "d1", registry.ErrNotFound),
			404, iotda.CodeNotFound, `The resource is not found: device "d1"`},
		{"bare sentinel", registry.ErrCAQuota, 400, iotda.CodeCAQuota, "The number of CA certificates reached the limit"},
		{"exists", fmt.Errorf("%w: %s", registry.ErrCAExists, "id 1"), 400, iotda.CodeCAExists, "The CA certificate already exists: id 1"},
		{"verify", registry.ErrVerifyFailed, 400, iotda.CodeVerifyFailed, "The certificates verify verifyCode failed"},
		{"device exists", registry.ErrDeviceExists, 400, iotda.CodeDeviceExists, "The device already exists"},
		{"not mqtt", registry.ErrNotMQTTProduct, 400, iotda.CodeNotMQTTProduct, "Only MQTT devices can use X.509 certificates"},
		{"product exists", registry.ErrProductExists, 400, iotda.CodeProductExists, "The product already exists"},
		{"product in use", registry.ErrProductInUse, 400, iotda.CodeProductInUse, "The product still has devices"},
		{"invalid input", fmt.Errorf("%w: node_id too long", registry.ErrInvalidInput), 400, iotda.CodeInvalidInput, "Invalid input data: node_id too long"},
		{"offline", fmt.Errorf("send: %w", iotda.ErrDeviceOffline), 409, iotda.CodeDeviceNotOnline, "The device is not online: send"},
		{"internal hides cause", errors.New("disk I/O error at /secret/path"), 500, iotda.CodeInternal, "Internal server error"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := errorFor(tt.err)
			if got.status != tt.wantStatus || got.code != tt.wantCode || got.msg != tt.wantMsg {
				t.Fatalf("errorFor(%v) = %d %s %q; want %d %s %q", tt.err, got.status, got.code, got.msg, tt.wantStatus, tt.wantCode, tt.wantMsg)
			}
		})
	}
}

func TestLabels(t *testing.T) {
	if got := routeLabel("GET /v5/iot/{project_id}/devices"); got != "/v5/iot/{project_id}/devices" {
		t.Errorf("routeLabel = %q", got)
	}
	for in, want := range map[string]string{"GET": "GET", "DELETE": "DELETE", "BREW": "OTHER", "get": "OTHER"} {
		if got := methodLabel(in); got != want {
			t.Errorf("methodLabel(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestNewRequestIDAndUUID(t *testing.T) {
	a, b := newRequestID(), newRequestID()
	if len(a) != 32 || strings.Trim(a, "0123456789abcdef") != "" || a == b {
		t.Fatalf("request IDs %q %q: want distinct 32 lowercase hex", a, b)
	}
	u := newUUID()
	if len(u) != 36 || u[14] != '4' || strings.Count(u, "-") != 4 {
		t.Fatalf("newUUID = %q, want a version-4 UUID", u)
	}
}
