package api_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/certlab/certlab/iotda"
	"github.com/certlab/certlab/platform/api"
)

// TestProducts: create, show, list, delete, and the product rules over HTTP.
func TestProducts(t *testing.T) {
	tp := newTestPlatform(t)
	r := tp.as("POST", tp.v5("/products"), map[string]any{
		"product_id": "thermo", "name": "Thermometer", "device_type": "sensor", "protocol_type": "MQTT",
		"data_format": "json", "manufacturer_name": "ACME", "industry": "home", "description": "d",
		"service_capabilities": []any{map[string]any{"service_id": "temp", "properties": []any{}}},
	})
	p := requireJSON(t, r, http.StatusCreated)
	requireFields(t, p, "app_id", "app_name", "product_id", "name", "device_type", "protocol_type", "data_format",
		"manufacturer_name", "industry", "description", "service_capabilities", "create_time")
	if p["product_id"] != "thermo" || p["name"] != "Thermometer" || p["protocol_type"] != "MQTT" || p["manufacturer_name"] != "ACME" {
		t.Errorf("created product = %v", p)
	}
	if caps, _ := p["service_capabilities"].([]any); len(caps) != 1 {
		t.Errorf("service_capabilities = %v, want the one given", p["service_capabilities"])
	}
	requireTime(t, "create_time", p["create_time"], iotda.CompactTime)

	// An allocated product_id when none is given.
	auto := requireJSON(t, tp.as("POST", tp.v5("/products"), map[string]any{
		"name": "Auto", "device_type": "meter", "protocol_type": "CoAP", "data_format": "binary"}), http.StatusCreated)
	if id, _ := auto["product_id"].(string); id == "" {
		t.Errorf("allocated product_id is empty")
	}

	show := requireJSON(t, tp.as("GET", tp.v5("/products/thermo"), nil), http.StatusOK)
	if show["name"] != "Thermometer" {
		t.Errorf("show = %v", show)
	}
	list := requireJSON(t, tp.as("GET", tp.v5("/products?limit=1"), nil), http.StatusOK)
	if page := list["page"].(map[string]any); page["count"] != float64(2) || len(list["products"].([]any)) != 1 || page["marker"] == "" {
		t.Errorf("list limit=1 = %v", list)
	}

	requireError(t, tp.as("POST", tp.v5("/products"), map[string]any{
		"product_id": "thermo", "name": "Again", "device_type": "sensor", "protocol_type": "MQTT", "data_format": "json"}),
		http.StatusBadRequest, iotda.CodeProductExists, "already exists")
	requireError(t, tp.as("POST", tp.v5("/products"), map[string]any{
		"name": "Bad", "device_type": "sensor", "protocol_type": "Pigeon", "data_format": "json"}),
		http.StatusBadRequest, iotda.CodeInvalidInput, "")
	requireError(t, tp.as("POST", tp.v5("/products"), map[string]any{"device_type": "sensor", "protocol_type": "MQTT"}),
		http.StatusBadRequest, iotda.CodeInvalidInput, "name")

	// A product with devices cannot be deleted.
	requireJSON(t, tp.as("POST", tp.v5("/devices"), map[string]any{"node_id": "n1", "product_id": "thermo"}), http.StatusCreated)
	requireError(t, tp.as("DELETE", tp.v5("/products/thermo"), nil), http.StatusBadRequest, iotda.CodeProductInUse, "")
	requireEmpty(t, tp.as("DELETE", tp.v5("/devices/thermo_n1"), nil), http.StatusNoContent)
	requireEmpty(t, tp.as("DELETE", tp.v5("/products/thermo"), nil), http.StatusNoContent)
	requireError(t, tp.as("GET", tp.v5("/products/thermo"), nil), http.StatusNotFound, iotda.CodeNotFound, "")
}

// TestDeviceLifecycle: register, show, list, update, reset fingerprints,
// freeze, unfreeze, delete. [DEV-ID] [DEV-FINGERPRINT] [DEV-FINGERPRINT-SECONDARY] [DEV-FREEZE] [DEV-STATUS]
func TestDeviceLifecycle(t *testing.T) {
	tp := newTestPlatform(t)
	tp.createProduct("meter", "MQTT")
	ca := newCA(t, "Device CA")
	leaf, err := ca.NewDeviceCert("AA-BB-CC-DD-EE-FF")
	if err != nil {
		t.Fatal(err)
	}
	fp := leaf.FingerprintSHA256()

	d := requireJSON(t, tp.as("POST", tp.v5("/devices"), map[string]any{
		"node_id": "AABBCCDDEEFF", "product_id": "meter", "device_name": "kitchen",
		"auth_info":      map[string]any{"auth_type": "CERTIFICATES", "fingerprint": strings.ToUpper(fp)},
		"extension_info": map[string]any{"floor": 2},
	}), http.StatusCreated)
	requireFields(t, d, "app_id", "app_name", "device_id", "node_id", "gateway_id", "device_name", "node_type",
		"description", "auth_info", "product_id", "product_name", "status", "create_time", "tags", "extension_info")
	wantID := "meter_AABBCCDDEEFF"
	if d["device_id"] != wantID || d["gateway_id"] != wantID || d["node_type"] != "GATEWAY" ||
		d["status"] != iotda.StatusInactive || d["product_name"] != "product meter" || d["device_name"] != "kitchen" {
		t.Errorf("AddDevice = %v", d)
	}
	requireTime(t, "create_time", d["create_time"], iotda.CompactTime)
	requireAbsent(t, d, "active_time", "connection_status_update_time")
	if tags, ok := d["tags"].([]any); !ok || len(tags) != 0 {
		t.Errorf("tags = %v, want []", d["tags"])
	}
	ai := d["auth_info"].(map[string]any)
	if ai["auth_type"] != iotda.AuthCertificates || ai["fingerprint"] != fp {
		t.Errorf("auth_info = %v, want CERTIFICATES with lower-case fingerprint %s", ai, fp)
	}
	requireAbsent(t, ai, "secret")

	// A SECRET device: the secret appears in the AddDevice answer only.
	sd := requireJSON(t, tp.as("POST", tp.v5("/devices"), map[string]any{
		"device_id": "secret-dev-1", "node_id": "SN0001", "product_id": "meter",
		"auth_info": map[string]any{"auth_type": "SECRET", "secret": "s3cret-value"}}), http.StatusCreated)
	if sd["auth_info"].(map[string]any)["secret"] != "s3cret-value" {
		t.Errorf("AddDevice SECRET: auth_info = %v, want the secret", sd["auth_info"])
	}
	shown := requireJSON(t, tp.as("GET", tp.v5("/devices/secret-dev-1"), nil), http.StatusOK)
	requireAbsent(t, shown["auth_info"].(map[string]any), "secret")

	// Duplicate device_id. [DEV-ID]
	requireError(t, tp.as("POST", tp.v5("/devices"), map[string]any{"node_id": "AABBCCDDEEFF", "product_id": "meter"}),
		http.StatusBadRequest, iotda.CodeDeviceExists, "")

	// List with filters.
	list := requireJSON(t, tp.as("GET", tp.v5("/devices?product_id=meter"), nil), http.StatusOK)
	if page := list["page"].(map[string]any); page["count"] != float64(2) {
		t.Errorf("list count = %v, want 2", page["count"])
	}
	item := list["devices"].([]any)[0].(map[string]any)
	requireFields(t, item, "device_id", "node_id", "gateway_id", "node_type", "product_id", "product_name", "status", "tags")
	requireAbsent(t, item, "auth_info")
	list = requireJSON(t, tp.as("GET", tp.v5("/devices?node_id=SN0001"), nil), http.StatusOK)
	if devs := list["devices"].([]any); len(devs) != 1 || devs[0].(map[string]any)["device_id"] != "secret-dev-1" {
		t.Errorf("list node_id=SN0001 = %v", devs)
	}
	list = requireJSON(t, tp.as("GET", tp.v5("/devices?limit=1"), nil), http.StatusOK)
	if marker, _ := list["page"].(map[string]any)["marker"].(string); len(marker) != 24 {
		t.Errorf("device page marker = %q, want 24 hex digits", marker)
	}

	// Update.
	up := requireJSON(t, tp.as("PUT", tp.v5("/devices/"+wantID), map[string]any{"device_name": "hall", "description": "moved"}), http.StatusOK)
	if up["device_name"] != "hall" || up["description"] != "moved" {
		t.Errorf("update = %v", up)
	}

	// Reset fingerprints. [DEV-FINGERPRINT-SECONDARY]
	leaf2, err := ca.NewDeviceCert("AA-BB-CC-DD-EE-FF")
	if err != nil {
		t.Fatal(err)
	}
	rf := requireJSON(t, tp.as("POST", tp.v5("/devices/"+wantID+"/reset-fingerprint"),
		map[string]any{"fingerprint": leaf2.FingerprintSHA1(), "fingerprint_type": "SECONDARY"}), http.StatusOK)
	if rf["device_id"] != wantID || rf["fingerprint"] != leaf2.FingerprintSHA1() || rf["fingerprint_type"] != "SECONDARY" {
		t.Errorf("reset SECONDARY = %v", rf)
	}
	rf = requireJSON(t, tp.as("POST", tp.v5("/devices/"+wantID+"/reset-fingerprint"), map[string]any{"force_disconnect": true}), http.StatusOK)
	if rf["fingerprint"] != "" || rf["fingerprint_type"] != "PRIMARY" {
		t.Errorf("reset PRIMARY to empty = %v", rf)
	}
	ai = requireJSON(t, tp.as("GET", tp.v5("/devices/"+wantID), nil), http.StatusOK)["auth_info"].(map[string]any)
	if ai["secondary_fingerprint"] != leaf2.FingerprintSHA1() {
		t.Errorf("after reset: auth_info = %v", ai)
	}
	if _, ok := ai["fingerprint"]; ok {
		t.Errorf("after clearing: fingerprint = %v, want absent", ai["fingerprint"])
	}
	requireError(t, tp.as("POST", tp.v5("/devices/"+wantID+"/reset-fingerprint"), map[string]any{"fingerprint": "abc"}),
		http.StatusBadRequest, iotda.CodeInvalidInput, "")
	requireError(t, tp.as("POST", tp.v5("/devices/"+wantID+"/reset-fingerprint"), map[string]any{"fingerprint_type": "TERTIARY"}),
		http.StatusBadRequest, iotda.CodeInvalidInput, "fingerprint_type")

	// A login (recorded by the broker through the registry) shows in the API. [DEV-STATUS]
	loginAt := time.Date(2026, 11, 26, 8, 30, 15, 123e6, time.UTC)
	if err := tp.reg.SetOnline(t.Context(), wantID, true, loginAt); err != nil {
		t.Fatalf("SetOnline: %v", err)
	}
	online := requireJSON(t, tp.as("GET", tp.v5("/devices/"+wantID), nil), http.StatusOK)
	if online["status"] != iotda.StatusOnline || online["active_time"] != "2026-11-26T08:30:15.123Z" ||
		online["connection_status_update_time"] != "2026-11-26T08:30:15.123Z" {
		t.Errorf("after login: status %v active_time %v connection_status_update_time %v",
			online["status"], online["active_time"], online["connection_status_update_time"])
	}
	if err := tp.reg.SetOnline(t.Context(), wantID, false, loginAt.Add(time.Minute)); err != nil {
		t.Fatalf("SetOnline: %v", err)
	}

	// Freeze and unfreeze. [DEV-FREEZE]
	requireEmpty(t, tp.as("POST", tp.v5("/devices/"+wantID+"/freeze"), nil), http.StatusOK)
	if st := requireJSON(t, tp.as("GET", tp.v5("/devices/"+wantID), nil), http.StatusOK)["status"]; st != iotda.StatusFrozen {
		t.Errorf("after freeze: status = %v, want FROZEN", st)
	}
	requireEmpty(t, tp.as("POST", tp.v5("/devices/"+wantID+"/unfreeze"), nil), http.StatusOK)
	if st := requireJSON(t, tp.as("GET", tp.v5("/devices/"+wantID), nil), http.StatusOK)["status"]; st != iotda.StatusOffline {
		t.Errorf("after unfreeze: status = %v, want OFFLINE (the registry's status)", st)
	}

	// Delete.
	requireEmpty(t, tp.as("DELETE", tp.v5("/devices/"+wantID), nil), http.StatusNoContent)
	for _, p := range []string{"", "/shadow"} {
		requireError(t, tp.as("GET", tp.v5("/devices/"+wantID+p), nil), http.StatusNotFound, iotda.CodeNotFound, "")
	}
	requireError(t, tp.as("POST", tp.v5("/devices/"+wantID+"/freeze"), nil), http.StatusNotFound, iotda.CodeNotFound, "")
}

// TestCertificatesDeviceNeedsMQTTProduct: CERTIFICATES under CoAP is refused,
// SECRET under CoAP is fine. [PROTO-MQTT-ONLY]
func TestCertificatesDeviceNeedsMQTTProduct(t *testing.T) {
	tp := newTestPlatform(t)
	tp.createProduct("nb", "CoAP")
	r := tp.as("POST", tp.v5("/devices"), map[string]any{
		"node_id": "863000000000001", "product_id": "nb",
		"auth_info": map[string]any{"auth_type": "CERTIFICATES", "fingerprint": strings.Repeat("ab", 32)}})
	requireError(t, r, http.StatusBadRequest, iotda.CodeNotMQTTProduct, "Only MQTT devices")
	r = tp.as("POST", tp.v5("/devices"), map[string]any{"node_id": "863000000000001", "product_id": "nb",
		"auth_info": map[string]any{"auth_type": "SECRET"}})
	requireStatus(t, r, http.StatusCreated)
	if _, _, _, _, devices := tp.reg.Counts(); devices != 1 {
		t.Fatalf("registry holds %d devices, want 1", devices)
	}
}

// TestMessagesAndShadow: downstream messages reach the broker with the right
// topic and payload; offline devices are 409 IOTDA.014016. [ACL-OWN-TOPICS]
func TestMessagesAndShadow(t *testing.T) {
	tp := newTestPlatform(t)
	tp.createProduct("meter", "MQTT")
	requireJSON(t, tp.as("POST", tp.v5("/devices"), map[string]any{"device_id": "dev-1", "node_id": "n1", "product_id": "meter"}), http.StatusCreated)
	msgPath := tp.v5("/devices/dev-1/messages")

	requireError(t, tp.as("POST", msgPath, map[string]any{"message": "hi"}), http.StatusConflict, iotda.CodeDeviceNotOnline, "not online")

	tp.devices.mu.Lock()
	tp.devices.online["dev-1"] = true
	tp.devices.mu.Unlock()
	tests := []struct {
		name        string
		body        string
		wantTopic   string
		wantPayload string
	}{
		{"string sent as its value", `{"message":"hello \"world\""}`, "$oc/devices/dev-1/sys/messages/down", `hello "world"`},
		{"object sent as JSON", `{"message": {"a": 1, "b": [true, null]}}`, "$oc/devices/dev-1/sys/messages/down", `{"a":1,"b":[true,null]}`},
		{"number sent as JSON", `{"message": 42}`, "$oc/devices/dev-1/sys/messages/down", `42`},
		{"custom topic", `{"message":"x","topic":"$oc/devices/dev-1/user/cmd"}`, "$oc/devices/dev-1/user/cmd", `x`},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tp := tp.in(t)
			m := requireJSON(t, tp.as("POST", msgPath, tt.body), http.StatusCreated)
			requireFields(t, m, "message_id", "result")
			res := m["result"].(map[string]any)
			if id, _ := m["message_id"].(string); id == "" || res["status"] != "DELIVERED" {
				t.Errorf("response = %v", m)
			}
			requireTime(t, "created_time", res["created_time"], iotda.CompactTime)
			tp.devices.mu.Lock()
			defer tp.devices.mu.Unlock()
			if len(tp.devices.sent) != i+1 {
				t.Fatalf("broker got %d messages, want %d", len(tp.devices.sent), i+1)
			}
			got := tp.devices.sent[i]
			if got.deviceID != "dev-1" || got.topic != tt.wantTopic || string(got.payload) != tt.wantPayload || !got.hasDeadline {
				t.Errorf("sent %+v (payload %s), want topic %s payload %s with a deadline", got, got.payload, tt.wantTopic, tt.wantPayload)
			}
		})
	}
	m := requireJSON(t, tp.as("POST", msgPath, `{"message_id":"my-id","message":"x"}`), http.StatusCreated)
	if m["message_id"] != "my-id" {
		t.Errorf("message_id = %v, want my-id", m["message_id"])
	}
	for name, body := range map[string]string{
		"other device's topic": `{"message":"x","topic":"$oc/devices/dev-2/sys/messages/down"}`,
		"wildcard topic":       `{"message":"x","topic":"$oc/devices/dev-1/#"}`,
		"no message":           `{"topic":"$oc/devices/dev-1/user/x"}`,
		"null message":         `{"message":null}`,
	} {
		t.Run(name, func(t *testing.T) {
			tp := tp.in(t)
			requireError(t, tp.as("POST", msgPath, body), http.StatusBadRequest, iotda.CodeInvalidInput, "")
		})
	}
	requireError(t, tp.as("POST", tp.v5("/devices/nope/messages"), `{"message":"x"}`), http.StatusNotFound, iotda.CodeNotFound, "")

	// Shadow.
	sh := requireJSON(t, tp.as("GET", tp.v5("/devices/dev-1/shadow"), nil), http.StatusOK)
	if sh["device_id"] != "dev-1" || len(sh["shadow"].([]any)) != 0 {
		t.Errorf("empty shadow = %v", sh)
	}
	tp.devices.mu.Lock()
	tp.devices.shadows["dev-1"] = []iotda.DeviceShadowData{{ServiceID: "temp", Version: 3,
		Reported: &iotda.DeviceShadowProperties{Properties: map[string]any{"t": 21.5}, EventTime: "20260101T000000Z"}}}
	tp.devices.mu.Unlock()
	var got iotda.ShowDeviceShadowResponse
	r := tp.as("GET", tp.v5("/devices/dev-1/shadow"), nil)
	requireStatus(t, r, http.StatusOK)
	if err := json.Unmarshal(r.body, &got); err != nil {
		t.Fatal(err)
	}
	if len(got.Shadow) != 1 || got.Shadow[0].ServiceID != "temp" || got.Shadow[0].Reported.Properties["t"] != 21.5 {
		t.Errorf("shadow = %+v", got)
	}
}

// TestNoBroker: with Devices nil, messages are refused as offline, shadows
// and login attempts are empty.
func TestNoBroker(t *testing.T) {
	tp := newTestPlatform(t, func(c *api.Config) { c.Devices = nil })
	tp.createProduct("meter", "MQTT")
	requireJSON(t, tp.as("POST", tp.v5("/devices"), map[string]any{"device_id": "dev-1", "node_id": "n1", "product_id": "meter"}), http.StatusCreated)
	requireError(t, tp.as("POST", tp.v5("/devices/dev-1/messages"), `{"message":"x"}`), http.StatusConflict, iotda.CodeDeviceNotOnline, "no MQTT broker")
	if sh := requireJSON(t, tp.as("GET", tp.v5("/devices/dev-1/shadow"), nil), http.StatusOK); len(sh["shadow"].([]any)) != 0 {
		t.Errorf("shadow = %v", sh)
	}
	la := requireJSON(t, tp.as("GET", "/certlab/v1/login-attempts", nil), http.StatusOK)
	if la["count"] != float64(0) || len(la["attempts"].([]any)) != 0 {
		t.Errorf("login attempts = %v", la)
	}
}

// TestBadInput: each kind of bad input gets its IoTDA code and nothing is stored.
func TestBadInput(t *testing.T) {
	tp := newTestPlatform(t)
	tp.createProduct("meter", "MQTT")
	big := fmt.Sprintf(`{"node_id":"n1","product_id":"meter","description":"%s"}`, strings.Repeat("x", 2<<20))
	tests := []struct {
		name, method, path string
		body               any
		status             int
		code, msg          string
	}{
		{"malformed JSON", "POST", "/devices", `{"node_id": "n1",`, 400, iotda.CodeBadRequestFormat, "syntax error at offset"},
		{"wrong field type", "POST", "/devices", `{"node_id": 12, "product_id": "meter"}`, 400, iotda.CodeBadRequestFormat, `field "node_id" must be a string`},
		{"empty body", "POST", "/devices", nil, 400, iotda.CodeBadRequestFormat, "empty"},
		{"2 MiB body", "POST", "/devices", big, 413, iotda.CodePayloadTooLarge, "too large"},
		{"missing node_id", "POST", "/devices", `{"product_id":"meter"}`, 400, iotda.CodeInvalidInput, "node_id"},
		{"bad node_id", "POST", "/devices", `{"node_id":"has space","product_id":"meter"}`, 400, iotda.CodeInvalidInput, ""},
		{"bad fingerprint", "POST", "/devices", `{"node_id":"n2","product_id":"meter","auth_info":{"auth_type":"CERTIFICATES","fingerprint":"xyz"}}`, 400, iotda.CodeInvalidInput, ""},
		{"unknown product", "POST", "/devices", `{"node_id":"n3","product_id":"nope"}`, 404, iotda.CodeNotFound, ""},
		{"limit=0", "GET", "/devices?limit=0", nil, 400, iotda.CodeLimitOutOfRange, "limit"},
		{"limit=51", "GET", "/devices?limit=51", nil, 400, iotda.CodeLimitOutOfRange, "limit"},
		{"limit=abc", "GET", "/certificates?limit=abc", nil, 400, iotda.CodeLimitOutOfRange, "limit"},
		{"offset=501", "GET", "/products?offset=501", nil, 400, iotda.CodeMarkerOutOfRange, "offset"},
		{"unreadable marker", "GET", "/devices?marker=zzz", nil, 400, iotda.CodeMarkerOutOfRange, "marker"},
		{"unknown device", "GET", "/devices/no-such-device", nil, 404, iotda.CodeNotFound, "not found"},
		{"unknown CA", "DELETE", "/certificates/0123456789abcdef01234567", nil, 404, iotda.CodeNotFound, "not found"},
		{"text/plain body", "POST", "/products", "name=x", 400, iotda.CodeBadRequestFormat, "Content-Type"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tp := tp.in(t)
			var body any
			if tt.body != nil {
				body = []byte(tt.body.(string))
			}
			auth := signed(creds(tp.proj))
			if tt.name == "text/plain body" {
				auth = func(t *testing.T, r *http.Request, b []byte) {
					r.Header.Set("Content-Type", "text/plain")
					signed(creds(tp.proj))(t, r, b)
				}
			}
			requireError(t, tp.do(tt.method, tp.v5(tt.path), body, auth), tt.status, tt.code, tt.msg)
		})
	}
	if _, _, _, products, devices := tp.reg.Counts(); devices != 0 || products != 1 {
		t.Fatalf("after bad input: %d products, %d devices; want 1 and 0", products, devices)
	}
}

// TestChunkedBodyTooLarge: a body without Content-Length is cut at
// MaxBodyBytes while it is read, and answered 413.
func TestChunkedBodyTooLarge(t *testing.T) {
	tp := newTestPlatform(t, func(c *api.Config) { c.MaxBodyBytes = 64 << 10 })
	body := []byte(fmt.Sprintf(`{"node_id":"n1","product_id":"p","description":"%s"}`, strings.Repeat("x", 128<<10)))
	auth := func(t *testing.T, r *http.Request, b []byte) {
		r.Body = io.NopCloser(bytes.NewReader(body)) // hides the length: sent chunked
		r.ContentLength = -1
		signed(creds(tp.proj))(t, r, body)
	}
	requireError(t, tp.do("POST", tp.v5("/devices"), nil, auth), http.StatusRequestEntityTooLarge, iotda.CodePayloadTooLarge, "65536")
	// Just under the limit is read in full (the unknown field is ignored) and judged on its content.
	small := fmt.Sprintf(`{"node_id":"n1","product_id":"p","x_padding":"%s"}`, strings.Repeat("x", 60<<10))
	requireError(t, tp.as("POST", tp.v5("/devices"), small), http.StatusNotFound, iotda.CodeNotFound, "product")
}

// TestHandlerPanic: a panic below a handler is 500 IOTDA.000500 with a
// generic message, and the server keeps serving.
func TestHandlerPanic(t *testing.T) {
	tp := newTestPlatform(t)
	tp.createProduct("meter", "MQTT")
	requireJSON(t, tp.as("POST", tp.v5("/devices"), map[string]any{"device_id": panicDevice, "node_id": "n1", "product_id": "meter"}), http.StatusCreated)
	requireError(t, tp.as("GET", tp.v5("/devices/"+panicDevice+"/shadow"), nil), http.StatusInternalServerError, iotda.CodeInternal, "Internal server error")
	requireJSON(t, tp.do("GET", "/certlab/v1/healthz", nil, noAuth), http.StatusOK)
}
