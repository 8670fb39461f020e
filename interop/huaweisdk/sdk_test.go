package huaweisdk

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/huaweicloud/huaweicloud-sdk-go-v3/core/auth"
	"github.com/huaweicloud/huaweicloud-sdk-go-v3/core/auth/basic"
	"github.com/huaweicloud/huaweicloud-sdk-go-v3/core/config"
	"github.com/huaweicloud/huaweicloud-sdk-go-v3/core/httphandler"
	"github.com/huaweicloud/huaweicloud-sdk-go-v3/core/region"
	"github.com/huaweicloud/huaweicloud-sdk-go-v3/core/sdkerr"
	iotdav5 "github.com/huaweicloud/huaweicloud-sdk-go-v3/services/iotda/v5"
	"github.com/huaweicloud/huaweicloud-sdk-go-v3/services/iotda/v5/model"

	"github.com/certlab/certlab/iotda"
	"github.com/certlab/certlab/platform/platformtest"
	"github.com/certlab/certlab/sim/device"
	"github.com/certlab/certlab/sim/pki"
)

// Deadlines: the SDK has no context, so every API call is bounded by the HTTP
// client timeout; MQTT logins and status polls take their own.
const (
	apiTimeout   = 10 * time.Second
	loginTimeout = 10 * time.Second
	pollTimeout  = 5 * time.Second
)

// Signing schemes as they appear first in the Authorization header.
const (
	schemeSDK = "SDK-HMAC-SHA256"
	schemeV11 = "V11-HMAC-SHA256"
)

// env is one running reference platform.
type env struct {
	target *iotda.Target
	roots  *x509.CertPool // the platform's server CA (server-ca.pem)
}

// startPlatform starts the real reference platform on loopback ports and
// stops it when the test ends.
func startPlatform(t *testing.T) *env {
	t.Helper()
	target := platformtest.Start(t).Target()
	roots, err := target.RootCAs() // server-ca.pem
	if err != nil || roots == nil {
		t.Fatalf("server CA of the target: %v", err)
	}
	return &env{target: target, roots: roots}
}

// wire records what the SDK sent and received, through the SDK's own
// request/response hooks (config.HttpConfig.HttpHandler).
type wire struct {
	mu       sync.Mutex
	requests []recordedRequest
	lastResp recordedResponse
}

type recordedRequest struct {
	method, path  string
	authorization string
	projectHeader string
	sdkDate       string
}

type recordedResponse struct {
	status    int
	requestID string
	body      []byte
}

func (w *wire) handler() *httphandler.HttpHandler {
	return httphandler.NewHttpHandler().
		AddRequestHandler(func(r http.Request) {
			w.mu.Lock()
			defer w.mu.Unlock()
			w.requests = append(w.requests, recordedRequest{
				method:        r.Method,
				path:          r.URL.Path,
				authorization: r.Header.Get("Authorization"),
				projectHeader: r.Header.Get("X-Project-Id"),
				sdkDate:       r.Header.Get("X-Sdk-Date"),
			})
		}).
		AddResponseHandler(func(r http.Response) {
			var body []byte
			if r.Body != nil {
				body, _ = io.ReadAll(r.Body) // an in-memory copy made by the SDK
			}
			w.mu.Lock()
			defer w.mu.Unlock()
			w.lastResp = recordedResponse{status: r.StatusCode, requestID: r.Header.Get("X-Request-Id"), body: body}
		})
}

func (w *wire) snapshot() ([]recordedRequest, recordedResponse) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]recordedRequest(nil), w.requests...), w.lastResp
}

// newClient builds an official IoTDA client for the platform: basic AK/SK
// credentials with the target's project, region "local" at the API endpoint,
// and an HTTP transport that trusts only the platform's server CA (no
// IgnoreSSLVerification). derived adds the SDK's default derived predicate,
// which selects V11-HMAC-SHA256 for any non-Huawei-Cloud host.
func newClient(t *testing.T, e *env, sk string, derived bool) (*iotdav5.IoTDAClient, *wire) {
	t.Helper()
	credsBuilder := basic.NewCredentialsBuilder().
		WithAk(e.target.AccessKey).
		WithSk(sk).
		WithProjectId(e.target.ProjectID)
	if derived {
		credsBuilder = credsBuilder.WithDerivedPredicate(auth.GetDefaultDerivedPredicate())
	}
	creds, err := credsBuilder.SafeBuild()
	if err != nil {
		t.Fatalf("build credentials: %v", err)
	}
	transport := &http.Transport{
		TLSClientConfig:     &tls.Config{RootCAs: e.roots, MinVersion: tls.VersionTLS12},
		TLSHandshakeTimeout: apiTimeout,
	}
	t.Cleanup(transport.CloseIdleConnections)
	w := &wire{}
	httpConfig := config.DefaultHttpConfig().
		WithHttpTransport(transport).
		WithTimeout(apiTimeout).
		WithHttpHandler(w.handler())
	hc, err := iotdav5.IoTDAClientBuilder().
		WithRegion(region.NewRegion(e.target.Region, e.target.APIEndpoint)).
		WithCredential(creds).
		WithHttpConfig(httpConfig).
		SafeBuild()
	if err != nil {
		t.Fatalf("build IoTDA client: %v", err)
	}
	return iotdav5.NewIoTDAClient(hc), w
}

// TestCertificateProcedure runs the documented X.509 certificate procedure
// end to end through the official SDK, once per signing scheme.
func TestCertificateProcedure(t *testing.T) {
	e := startPlatform(t)
	cases := []struct {
		name       string
		derived    bool
		wantScheme string
	}{
		{name: "standard signing", derived: false, wantScheme: schemeSDK},
		{name: "derived signing", derived: true, wantScheme: schemeV11},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			client, w := newClient(t, e, e.target.SecretKey, tc.derived)
			runProcedure(t, e, client, w, strings.ReplaceAll(tc.name, " ", "-"))

			requests, _ := w.snapshot()
			if len(requests) < 15 {
				t.Fatalf("the SDK hooks saw %d requests, want the whole procedure", len(requests))
			}
			checkSigning(t, e, requests, tc.wantScheme)
		})
	}
}

// checkSigning proves which signer the SDK used for every request.
func checkSigning(t *testing.T, e *env, requests []recordedRequest, wantScheme string) {
	t.Helper()
	for _, r := range requests {
		scheme, params, _ := strings.Cut(r.authorization, " ")
		if scheme != wantScheme {
			t.Errorf("%s %s: Authorization scheme %q, want %q (header %q)", r.method, r.path, scheme, wantScheme, r.authorization)
			continue
		}
		if r.projectHeader != e.target.ProjectID {
			t.Errorf("%s %s: X-Project-Id %q, want %q", r.method, r.path, r.projectHeader, e.target.ProjectID)
		}
		var want string
		switch wantScheme {
		case schemeSDK:
			want = "Access=" + e.target.AccessKey + ", "
		case schemeV11:
			// Credential={AK}/{YYYYMMDD}/{region}/iotdm, the date from X-Sdk-Date.
			want = fmt.Sprintf("Credential=%s/%s/%s/iotdm, ", e.target.AccessKey, prefix(r.sdkDate, 8), e.target.Region)
		}
		if !strings.HasPrefix(params, want) || !strings.Contains(params, ", SignedHeaders=") || !strings.Contains(params, ", Signature=") {
			t.Errorf("%s %s: Authorization %q, want parameters starting %q", r.method, r.path, r.authorization, want)
		}
	}
}

func prefix(s string, n int) string { return s[:min(n, len(s))] }

// runProcedure is the certificate-authentication procedure, SDK calls only.
func runProcedure(t *testing.T, e *env, client *iotdav5.IoTDAClient, w *wire, tag string) {
	ca, err := pki.NewRootCA("certlab interop CA " + tag)
	if err != nil {
		t.Fatal(err)
	}

	// [CA-UPLOAD] AddCertificate → 201, unverified, with a verify_code.
	added, err := client.AddCertificate(&model.AddCertificateRequest{
		Body: &model.CreateCertificateDto{Content: string(pki.CertPEM(ca.Cert))},
	})
	if err != nil {
		t.Fatalf("AddCertificate: %v", err)
	}
	wantStatus(t, "AddCertificate", added.HttpStatusCode, http.StatusCreated)
	certID := str(added.CertificateId)
	switch {
	case certID == "":
		t.Fatalf("AddCertificate: no certificate_id in %v", added)
	case str(added.CnName) != ca.Cert.Subject.CommonName:
		t.Errorf("AddCertificate: cn_name %q, want %q", str(added.CnName), ca.Cert.Subject.CommonName)
	case str(added.VerifyCode) == "":
		t.Fatalf("AddCertificate: no verify_code in %v", added)
	case added.Status == nil || *added.Status:
		t.Errorf("AddCertificate: status %v, want false (unverified)", ptrString(added.Status))
	}
	for name, v := range map[string]*string{"create_date": added.CreateDate, "effective_date": added.EffectiveDate, "expiry_date": added.ExpiryDate} {
		if _, err := time.Parse("20060102T150405Z", str(v)); err != nil {
			t.Errorf("AddCertificate: %s %q is not yyyyMMddTHHmmssZ", name, str(v))
		}
	}

	// [CA-VERIFY] a verification certificate with the wrong CN is refused.
	wrong, err := ca.NewVerificationCert("not-the-verify-code")
	if err != nil {
		t.Fatal(err)
	}
	_, err = client.CheckCertificate(&model.CheckCertificateRequest{
		CertificateId: certID, ActionId: "verify",
		Body: &model.VerifyCertificateDto{VerifyContent: string(wrong.CertPEM())},
	})
	wantServiceError(t, w, "CheckCertificate(wrong CN)", err, http.StatusBadRequest, "IOTDA.014307")

	// [CA-VERIFY] CheckCertificate with CN = verify_code → 200, empty body.
	proof, err := ca.NewVerificationCert(str(added.VerifyCode))
	if err != nil {
		t.Fatal(err)
	}
	checked, err := client.CheckCertificate(&model.CheckCertificateRequest{
		CertificateId: certID, ActionId: "verify",
		Body: &model.VerifyCertificateDto{VerifyContent: string(proof.CertPEM())},
	})
	if err != nil {
		t.Fatalf("CheckCertificate: %v", err)
	}
	wantStatus(t, "CheckCertificate", checked.HttpStatusCode, http.StatusOK)

	// ListCertificates: ours, now verified; page.count matches.
	list, err := client.ListCertificates(&model.ListCertificatesRequest{Limit: ptr(int32(50))})
	if err != nil {
		t.Fatalf("ListCertificates: %v", err)
	}
	wantStatus(t, "ListCertificates", list.HttpStatusCode, http.StatusOK)
	if list.Certificates == nil || list.Page == nil || list.Page.Count == nil {
		t.Fatalf("ListCertificates: certificates or page.count missing: %v", list)
	}
	certs := *list.Certificates
	if *list.Page.Count != int64(len(certs)) {
		t.Errorf("ListCertificates: page.count %d, %d certificates listed (all fit in one page)", *list.Page.Count, len(certs))
	}
	found := false
	for _, c := range certs {
		if str(c.CertificateId) == certID {
			found = true
			if c.Status == nil || !*c.Status {
				t.Errorf("ListCertificates: %s status %s, want true after CheckCertificate", certID, ptrString(c.Status))
			}
		}
	}
	if !found {
		t.Errorf("ListCertificates: %s not in %v", certID, list)
	}
	if len(certs) > 0 && str(list.Page.Marker) != str(certs[len(certs)-1].CertificateId) {
		t.Errorf("ListCertificates: page.marker %q, want the last record's id %q", str(list.Page.Marker), str(certs[len(certs)-1].CertificateId))
	}

	// ShowCertificate: verified, same verify_code, content round-trips.
	shown, err := client.ShowCertificate(&model.ShowCertificateRequest{CertificateId: certID})
	if err != nil {
		t.Fatalf("ShowCertificate: %v", err)
	}
	wantStatus(t, "ShowCertificate", shown.HttpStatusCode, http.StatusOK)
	if shown.Status == nil || !*shown.Status || str(shown.VerifyCode) != str(added.VerifyCode) || str(shown.CnName) != ca.Cert.Subject.CommonName {
		t.Errorf("ShowCertificate: %v, want status true, verify_code %q, cn_name %q", shown, str(added.VerifyCode), ca.Cert.Subject.CommonName)
	}
	if got, err := pki.ParseCertsPEM([]byte(str(shown.Content))); err != nil || len(got) != 1 || !got[0].Equal(ca.Cert) {
		t.Errorf("ShowCertificate: content is not the uploaded CA (err %v)", err)
	}

	// CreateProduct: an MQTT product and a CoAP one.
	mqttProduct := createProduct(t, client, "interop-mqtt-"+tag, "MQTT")
	coapProduct := createProduct(t, client, "interop-coap-"+tag, "CoAP")

	// [DEV-FINGERPRINT] AddDevice CERTIFICATES with the SHA-256 fingerprint.
	leaf, err := ca.NewDeviceCert("interop-device-" + tag)
	if err != nil {
		t.Fatal(err)
	}
	nodeID := "node-" + tag
	addedDev, err := client.AddDevice(&model.AddDeviceRequest{Body: &model.AddDevice{
		NodeId:    nodeID,
		ProductId: mqttProduct,
		AuthInfo: &model.AuthInfo{
			AuthType:    ptr("CERTIFICATES"),
			Fingerprint: ptr(leaf.FingerprintSHA256()),
		},
	}})
	if err != nil {
		t.Fatalf("AddDevice: %v", err)
	}
	wantStatus(t, "AddDevice", addedDev.HttpStatusCode, http.StatusCreated)
	deviceID := str(addedDev.DeviceId)
	// [DEV-ID] device_id defaults to product_id + "_" + node_id.
	if want := mqttProduct + "_" + nodeID; deviceID != want {
		t.Fatalf("AddDevice: device_id %q, want %q", deviceID, want)
	}
	if str(addedDev.Status) != "INACTIVE" || addedDev.AuthInfo == nil ||
		str(addedDev.AuthInfo.AuthType) != "CERTIFICATES" || str(addedDev.AuthInfo.Fingerprint) != leaf.FingerprintSHA256() {
		t.Errorf("AddDevice: %v, want status INACTIVE, CERTIFICATES, fingerprint %s", addedDev, leaf.FingerprintSHA256())
	}

	// [PROTO-MQTT-ONLY] CERTIFICATES under a CoAP product → 400.
	_, err = client.AddDevice(&model.AddDeviceRequest{Body: &model.AddDevice{
		NodeId:    "coap-" + nodeID,
		ProductId: coapProduct,
		AuthInfo:  &model.AuthInfo{AuthType: ptr("CERTIFICATES"), Fingerprint: ptr(leaf.FingerprintSHA256())},
	}})
	wantServiceError(t, w, "AddDevice(CoAP product)", err, http.StatusBadRequest, iotda.CodeNotMQTTProduct)

	// ShowDevice.
	dev := showDevice(t, client, deviceID)
	if str(dev.Status) != "INACTIVE" || str(dev.ProductId) != mqttProduct || str(dev.NodeId) != nodeID {
		t.Errorf("ShowDevice: %v, want INACTIVE device %s of %s", dev, nodeID, mqttProduct)
	}

	// [DEV-FINGERPRINT-SECONDARY] ResetFingerprint SECONDARY to a second cert.
	leaf2, err := ca.NewDeviceCert("interop-device-2-" + tag)
	if err != nil {
		t.Fatal(err)
	}
	reset, err := client.ResetFingerprint(&model.ResetFingerprintRequest{
		DeviceId: deviceID,
		Body:     &model.ResetFingerprint{Fingerprint: ptr(leaf2.FingerprintSHA256()), FingerprintType: ptr("SECONDARY")},
	})
	if err != nil {
		t.Fatalf("ResetFingerprint: %v", err)
	}
	wantStatus(t, "ResetFingerprint", reset.HttpStatusCode, http.StatusOK)
	if str(reset.DeviceId) != deviceID || str(reset.Fingerprint) != leaf2.FingerprintSHA256() || str(reset.FingerprintType) != "SECONDARY" {
		t.Errorf("ResetFingerprint: %v, want %s SECONDARY %s", reset, deviceID, leaf2.FingerprintSHA256())
	}
	dev = showDevice(t, client, deviceID)
	if dev.AuthInfo == nil || str(dev.AuthInfo.Fingerprint) != leaf.FingerprintSHA256() || str(dev.AuthInfo.SecondaryFingerprint) != leaf2.FingerprintSHA256() {
		t.Errorf("ShowDevice after ResetFingerprint: auth_info %v, want primary %s and secondary %s", dev.AuthInfo, leaf.FingerprintSHA256(), leaf2.FingerprintSHA256())
	}

	// [DEV-FREEZE] FreezeDevice → FROZEN, and the device cannot log in.
	frozen, err := client.FreezeDevice(&model.FreezeDeviceRequest{DeviceId: deviceID})
	if err != nil {
		t.Fatalf("FreezeDevice: %v", err)
	}
	wantStatus(t, "FreezeDevice", frozen.HttpStatusCode, http.StatusOK)
	if st := str(showDevice(t, client, deviceID).Status); st != "FROZEN" {
		t.Errorf("ShowDevice after FreezeDevice: status %q, want FROZEN", st)
	}
	if s, res := login(t, e, deviceID, leaf); res.Outcome != iotda.OutcomeRefused {
		if s != nil {
			_ = s.Close()
		}
		t.Errorf("login while frozen: %+v, want refused", res)
	}
	unfrozen, err := client.UnfreezeDevice(&model.UnfreezeDeviceRequest{DeviceId: deviceID})
	if err != nil {
		t.Fatalf("UnfreezeDevice: %v", err)
	}
	wantStatus(t, "UnfreezeDevice", unfrozen.HttpStatusCode, http.StatusOK)

	// The secondary fingerprint logs in too ...
	if s, res := login(t, e, deviceID, leaf2); res.Outcome != iotda.OutcomeSuccess {
		t.Errorf("login with the secondary certificate: %+v, want success", res)
	} else if err := s.Close(); err != nil {
		t.Errorf("close secondary session: %v", err)
	}
	// ... and with the primary the device stays ONLINE while connected.
	s, res := login(t, e, deviceID, leaf)
	if res.Outcome != iotda.OutcomeSuccess {
		t.Fatalf("login with the primary certificate: %+v, want success", res)
	}
	dev = waitStatus(t, client, deviceID, "ONLINE")
	if str(dev.ActiveTime) == "" {
		t.Errorf("ShowDevice ONLINE: no active_time in %v", dev)
	}
	if err := s.Close(); err != nil {
		t.Errorf("close session: %v", err)
	}

	// Deletions: 204 with an empty body, which the SDK must accept.
	deleted, err := client.DeleteDevice(&model.DeleteDeviceRequest{DeviceId: deviceID})
	if err != nil {
		t.Fatalf("DeleteDevice: %v", err)
	}
	wantStatus(t, "DeleteDevice", deleted.HttpStatusCode, http.StatusNoContent)
	_, err = client.ShowDevice(&model.ShowDeviceRequest{DeviceId: deviceID})
	wantServiceError(t, w, "ShowDevice(deleted)", err, http.StatusNotFound, "IOTDA.014000")

	delCA, err := client.DeleteCertificate(&model.DeleteCertificateRequest{CertificateId: certID})
	if err != nil {
		t.Fatalf("DeleteCertificate: %v", err)
	}
	wantStatus(t, "DeleteCertificate", delCA.HttpStatusCode, http.StatusNoContent)
	_, err = client.ShowCertificate(&model.ShowCertificateRequest{CertificateId: certID})
	wantServiceError(t, w, "ShowCertificate(deleted)", err, http.StatusNotFound, "IOTDA.014000")

	for _, id := range []string{mqttProduct, coapProduct} {
		resp, err := client.DeleteProduct(&model.DeleteProductRequest{ProductId: id})
		if err != nil {
			t.Fatalf("DeleteProduct %s: %v", id, err)
		}
		wantStatus(t, "DeleteProduct", resp.HttpStatusCode, http.StatusNoContent)
	}
}

// TestWrongSecretKey: a request signed with the wrong SK is a 401
// IOTDA.000002 ServiceResponseError under either signing scheme.
func TestWrongSecretKey(t *testing.T) {
	e := startPlatform(t)
	cases := []struct {
		name       string
		derived    bool
		wantScheme string
	}{
		{name: "standard signing", derived: false, wantScheme: schemeSDK},
		{name: "derived signing", derived: true, wantScheme: schemeV11},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			client, w := newClient(t, e, e.target.SecretKey+"x", tc.derived)
			_, err := client.ListCertificates(&model.ListCertificatesRequest{})
			wantServiceError(t, w, "ListCertificates(wrong SK)", err, http.StatusUnauthorized, "IOTDA.000002")
			requests, _ := w.snapshot()
			checkSigning(t, e, requests, tc.wantScheme)
		})
	}
}

func createProduct(t *testing.T, client *iotdav5.IoTDAClient, name, protocol string) string {
	t.Helper()
	resp, err := client.CreateProduct(&model.CreateProductRequest{Body: &model.AddProduct{
		Name:         name,
		DeviceType:   "Sensor",
		ProtocolType: protocol,
		DataFormat:   "json",
		ServiceCapabilities: []model.ServiceCapability{{
			ServiceId:   "Temperature",
			ServiceType: "Temperature",
			Properties: &[]model.ServiceProperty{{
				PropertyName: "value", DataType: "decimal", Required: ptr(true), Method: "RW",
			}},
		}},
	}})
	if err != nil {
		t.Fatalf("CreateProduct %s: %v", protocol, err)
	}
	wantStatus(t, "CreateProduct", resp.HttpStatusCode, http.StatusCreated)
	if str(resp.ProductId) == "" || str(resp.ProtocolType) != protocol || str(resp.Name) != name {
		t.Fatalf("CreateProduct: %v, want product %q with protocol_type %s", resp, name, protocol)
	}
	if resp.ServiceCapabilities == nil || len(*resp.ServiceCapabilities) != 1 || (*resp.ServiceCapabilities)[0].ServiceId != "Temperature" {
		t.Errorf("CreateProduct: service_capabilities %v did not round-trip", resp.ServiceCapabilities)
	}
	return str(resp.ProductId)
}

func showDevice(t *testing.T, client *iotdav5.IoTDAClient, deviceID string) *model.ShowDeviceResponse {
	t.Helper()
	dev, err := client.ShowDevice(&model.ShowDeviceRequest{DeviceId: deviceID})
	if err != nil {
		t.Fatalf("ShowDevice %s: %v", deviceID, err)
	}
	wantStatus(t, "ShowDevice", dev.HttpStatusCode, http.StatusOK)
	return dev
}

// waitStatus polls ShowDevice until the device reports status (bounded by pollTimeout).
func waitStatus(t *testing.T, client *iotdav5.IoTDAClient, deviceID, status string) *model.ShowDeviceResponse {
	t.Helper()
	deadline := time.Now().Add(pollTimeout)
	for {
		dev := showDevice(t, client, deviceID)
		if str(dev.Status) == status {
			return dev
		}
		if time.Now().After(deadline) {
			t.Fatalf("ShowDevice %s: status %q after %v, want %s", deviceID, str(dev.Status), pollTimeout, status)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// login logs deviceID in over MQTTS 3.1.1 with leaf, trusting the platform's server CA.
func login(t *testing.T, e *env, deviceID string, leaf *pki.Leaf) (*device.Session, device.Result) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), loginTimeout)
	defer cancel()
	return device.Login(ctx, device.Config{
		Addr: e.target.MQTTEndpoint,
		TLS: &tls.Config{
			RootCAs:      e.roots,
			ServerName:   "localhost",
			Certificates: []tls.Certificate{leaf.TLSCertificate()},
		},
		MQTTVersion:    4,
		ClientID:       iotda.ClientIDFor(deviceID, time.Now()),
		Username:       deviceID,
		Keepalive:      120,
		ConnectTimeout: loginTimeout,
	})
}

// wantServiceError checks that err is the SDK's ServiceResponseError for an
// error response of ours: status, error_code and error_msg from our JSON body,
// RequestId from our X-Request-Id header (as the SDK's response hook saw them).
func wantServiceError(t *testing.T, w *wire, op string, err error, status int, code string) {
	t.Helper()
	sre, ok := errors.AsType[*sdkerr.ServiceResponseError](err)
	if !ok {
		t.Errorf("%s: error %v (%T), want *sdkerr.ServiceResponseError", op, err, err)
		return
	}
	_, resp := w.snapshot()
	var body struct {
		ErrorCode string `json:"error_code"`
		ErrorMsg  string `json:"error_msg"`
	}
	if err := json.Unmarshal(resp.body, &body); err != nil {
		t.Errorf("%s: error body %q is not JSON: %v", op, resp.body, err)
	}
	switch {
	case sre.StatusCode != status || sre.ErrorCode != code:
		t.Errorf("%s: %d %s (%s), want %d %s", op, sre.StatusCode, sre.ErrorCode, sre.ErrorMessage, status, code)
	case sre.ErrorCode != body.ErrorCode || sre.ErrorMessage != body.ErrorMsg || sre.ErrorMessage == "":
		t.Errorf("%s: SDK error %q/%q, body error_code/error_msg %q/%q", op, sre.ErrorCode, sre.ErrorMessage, body.ErrorCode, body.ErrorMsg)
	case sre.RequestId == "" || sre.RequestId != resp.requestID:
		t.Errorf("%s: SDK RequestId %q, X-Request-Id header %q", op, sre.RequestId, resp.requestID)
	}
}

func wantStatus(t *testing.T, op string, got, want int) {
	t.Helper()
	if got != want {
		t.Errorf("%s: HTTP %d, want %d", op, got, want)
	}
}

func ptr[T any](v T) *T { return &v }

func str(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

func ptrString[T any](p *T) string {
	if p == nil {
		return "<absent>"
	}
	return fmt.Sprint(*p)
}
