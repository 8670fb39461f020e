package console_test

// browser_test.go drives the console in a real headless Chromium (Debian's
// chromium, through chromedp) against the real platform: sign in, upload a
// CA, verify it with a certificate minted from the verify_code read off the
// page, create a product, register a device from its certificate file (the
// browser computes the fingerprint), log the device in over MQTTS and watch
// the login (and refusals, with their remedies) appear in the live view.

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/certlab/certlab/iotda"
	"github.com/certlab/certlab/platform/console"
	"github.com/certlab/certlab/platform/platformtest"
	"github.com/certlab/certlab/sim/device"
	"github.com/certlab/certlab/sim/pki"
)

// consoleOrigin returns the origin that serves both the console and the API:
// the platform's own HTTPS listener when it mounts /console/, else a TLS
// test server that mounts console.Handler beside a reverse proxy to the API
// (same origin, as the console requires).
func consoleOrigin(t *testing.T, tg *iotda.Target) string {
	t.Helper()
	roots, err := tg.RootCAs()
	if err != nil {
		t.Fatal(err)
	}
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}}
	t.Cleanup(tr.CloseIdleConnections)
	hc := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	resp, err := hc.Get(tg.APIEndpoint + console.DefaultPrefix)
	if err != nil {
		t.Fatalf("probe the platform's console: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode == http.StatusOK && strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
		t.Logf("the platform serves the console at %s%s", tg.APIEndpoint, console.DefaultPrefix)
		return tg.APIEndpoint
	}
	t.Logf("the platform does not mount %s (HTTP %d): serving console.Handler beside a proxy to its API", console.DefaultPrefix, resp.StatusCode)
	api, err := url.Parse(tg.APIEndpoint)
	if err != nil {
		t.Fatal(err)
	}
	proxy := httputil.NewSingleHostReverseProxy(api)
	proxy.Transport = tr
	mux := http.NewServeMux()
	mux.Handle(console.DefaultPrefix, console.Handler(console.Config{PollInterval: 500 * time.Millisecond}))
	mux.Handle("/", proxy)
	srv := httptest.NewTLSServer(mux)
	t.Cleanup(srv.Close)
	return srv.URL
}

// newBrowser starts headless Chromium with a fresh profile; it ends with the test.
func newBrowser(t *testing.T, ctx context.Context, chromium string) (context.Context, *pageErrors) {
	t.Helper()
	profile, err := os.MkdirTemp("", "certlab-chromium-*")
	if err != nil {
		t.Fatal(err)
	}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromium),
		chromedp.UserDataDir(profile), // a fresh profile
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.IgnoreCertErrors, // the platform's server CA is self-signed
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("disable-extensions", true),
		chromedp.WindowSize(1400, 1800),
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	bctx, cancelBrowser := chromedp.NewContext(actx, chromedp.WithLogf(t.Logf))
	stop := func() {
		cancelBrowser()
		cancelAlloc() // waits for the browser process to exit
		for range 50 {
			if os.RemoveAll(profile) == nil {
				return
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	if err := chromedp.Do(bctx); err != nil { // starts the browser and opens a tab
		stop()
		t.Fatalf("start chromium: %v", err)
	}
	t.Cleanup(stop)
	errs := &pageErrors{}
	err = chromedp.Listen(bctx, func(ev any) {
		switch e := ev.(type) {
		case *runtime.EventExceptionThrown:
			msg := e.ExceptionDetails.Text
			if e.ExceptionDetails.Exception != nil {
				msg += " " + e.ExceptionDetails.Exception.Description
			}
			errs.add(msg)
		case *runtime.EventConsoleAPICalled:
			if e.Type == runtime.ConsoleAPICalledTypeError {
				var parts []string
				for _, a := range e.Args {
					parts = append(parts, string(a.Value)+a.Description)
				}
				errs.add("console.error: " + strings.Join(parts, " "))
			}
		}
	})
	if err != nil {
		t.Fatalf("listen to the page: %v", err)
	}
	return bctx, errs
}

// pageErrors collects uncaught JavaScript exceptions and console errors.
type pageErrors struct {
	mu   sync.Mutex
	list []string
}

func (p *pageErrors) add(s string) {
	p.mu.Lock()
	p.list = append(p.list, s)
	p.mu.Unlock()
}

func (p *pageErrors) get() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.list...)
}

// stepTimeout bounds each browser step.
const stepTimeout = 15 * time.Second

// step runs browser actions under a deadline, failing the test with the step's name.
func step(t *testing.T, ctx context.Context, name string, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	sctx, cancel := context.WithTimeout(ctx, stepTimeout)
	defer cancel()
	if err := chromedp.Do(sctx, actions...); err != nil {
		t.Fatalf("%s: %v (page error banner: %q)", name, err, banner(ctx))
	}
}

// value runs one browser action that returns a value, under a deadline.
func value[T any](t *testing.T, ctx context.Context, name string, action chromedp.Action[T]) T {
	t.Helper()
	sctx, cancel := context.WithTimeout(ctx, stepTimeout)
	defer cancel()
	v, err := chromedp.Run(sctx, action)
	if err != nil {
		t.Fatalf("%s: %v (page error banner: %q)", name, err, banner(ctx))
	}
	return v
}

// banner reads the page's error banner, for failure messages.
func banner(ctx context.Context) string {
	sctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	s, _ := chromedp.Run(sctx, chromedp.Evaluate[string](`(document.getElementById("error")||{}).textContent||""`))
	return s
}

// css builds a CSS selector.
func css(format string, args ...any) chromedp.CSS { return chromedp.CSS(fmt.Sprintf(format, args...)) }

// pollJS waits until a JavaScript expression is true.
func pollJS(format string, args ...any) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := chromedp.Poll[bool](fmt.Sprintf(format, args...), chromedp.WithPollingTimeout(10*time.Second))(ctx, tg)
		return err
	})
}

func writePEM(t *testing.T, dir, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// loginDevice logs a device in over MQTTS like a real one and returns the result.
func loginDevice(t *testing.T, ctx context.Context, tg *iotda.Target, leaf *pki.Leaf, deviceID string) device.Result {
	t.Helper()
	tlsCfg, err := tg.TLSConfig()
	if err != nil {
		t.Fatal(err)
	}
	tlsCfg.Certificates = []tls.Certificate{leaf.TLSCertificate()}
	s, res := device.Login(ctx, device.Config{
		Addr:           tg.MQTTAddress(),
		TLS:            tlsCfg,
		ClientID:       iotda.ClientIDFor(deviceID, time.Now()),
		Username:       deviceID,
		ConnectTimeout: 10 * time.Second,
	})
	if s != nil {
		_ = s.Close()
	}
	return res
}

func TestConsoleInBrowser(t *testing.T) {
	// Debian's chromium (CERTLAB_CHROMIUM overrides); skipped when missing,
	// failed under CI=true (scripts/install-tools.sh installs it).
	chromium := platformtest.RequireTool(t, "chromium", os.Getenv("CERTLAB_CHROMIUM"), "/usr/bin/chromium", "chromium", "chromium-browser")
	if testing.Short() {
		t.Skip("browser test: skipped with -short")
	}
	start := time.Now()
	ctx, cancel := context.WithTimeout(t.Context(), 90*time.Second)
	defer cancel()

	p := platformtest.Start(t)
	tg := p.Target()
	origin := consoleOrigin(t, tg)
	bctx, pageErrs := newBrowser(t, ctx, chromium)
	t.Logf("platform and browser up in %s", time.Since(start).Round(time.Millisecond))
	dir := t.TempDir()

	step(t, bctx, "open the console",
		chromedp.Navigate(origin+console.DefaultPrefix),
		chromedp.WaitVisible(chromedp.CSS(`body[data-ready="true"]`)),
	)

	t.Run("browser signer matches the published vectors and iotda.SignRequest", func(t *testing.T) {
		const ak, sk, pid = "AKEXAMPLEAKEXAMPLE12", "SKEXAMPLEskexampleSKEXAMPLEskexample1234", "0123456789abcdef0123456789abcdef"
		body := `{"app_id":"app1","content":"-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"}` + "\n"
		// A request with an escaped path segment and repeated, unsorted query keys, signed by Go.
		goReq, _ := http.NewRequest(http.MethodPost, "https://h/v5/iot/"+pid+"/devices/dev%20one/messages?b=2&a=z&a=y%20x", strings.NewReader(body))
		goReq.Header.Set("Content-Type", "application/json")
		date := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
		if err := iotda.SignRequest(goReq, []byte(body), iotda.Credentials{AccessKey: ak, SecretKey: sk, ProjectID: pid}, date); err != nil {
			t.Fatal(err)
		}
		tests := []struct {
			name string
			js   string
			want string
		}{
			{
				name: "vector a: POST certificates with SDK headers",
				js: fmt.Sprintf(`window.certlab.signRequest({method: "POST", url: "/v5/iot/%s/certificates",
					headers: {"User-Agent": "huaweicloud-usdk-go/3.0", "X-Project-Id": %q, "Content-Type": "application/json"},
					body: %q, accessKey: %q, secretKey: %q, date: "20240101T000000Z"}).then(h => h.Authorization)`, pid, pid, body, ak, sk),
				want: "SDK-HMAC-SHA256 Access=AKEXAMPLEAKEXAMPLE12, SignedHeaders=user-agent;x-project-id;x-sdk-date, " +
					"Signature=ee42eaafb0daac6f4bb8d820ae8e6c148069f8b259125436b7a8db7ea9ca298d",
			},
			{
				name: "vector b: GET certificates, unsorted query with a space, only x-sdk-date signed",
				js: fmt.Sprintf(`window.certlab.signRequest({method: "GET", url: "/v5/iot/%s/certificates?limit=10&app_id=app%%201",
					headers: {}, body: "", accessKey: %q, secretKey: %q, date: "20240101T000000Z"}).then(h => h.Authorization)`, pid, ak, sk),
				want: "SDK-HMAC-SHA256 Access=AKEXAMPLEAKEXAMPLE12, SignedHeaders=x-sdk-date, " +
					"Signature=af78b09f7a72ee18e0d8e2e5360de86ac07e7b7acb4e1e553ab23606d0d40da1",
			},
			{
				name: "same as iotda.SignRequest: escaped segment, repeated keys",
				js: fmt.Sprintf(`window.certlab.signRequest({method: "POST", url: "/v5/iot/%s/devices/dev%%20one/messages?b=2&a=z&a=y%%20x",
					headers: {"X-Project-Id": %q, "Content-Type": "application/json"}, body: %q, accessKey: %q, secretKey: %q,
					date: "20240101T000000Z"}).then(h => h.Authorization)`, pid, pid, body, ak, sk),
				want: goReq.Header.Get("Authorization"),
			},
		}
		for _, tc := range tests {
			got := value(t, bctx, tc.name, chromedp.Evaluate[string](tc.js, chromedp.EvalAwaitPromise))
			if got != tc.want {
				t.Errorf("%s:\n got %s\nwant %s", tc.name, got, tc.want)
			}
		}
	})

	step(t, bctx, "a wrong secret key is refused as the API states it",
		chromedp.SetValue(chromedp.ID("signin-project"), tg.ProjectID),
		chromedp.SetValue(chromedp.ID("signin-ak"), tg.AccessKey),
		chromedp.SetValue(chromedp.ID("signin-sk"), "not-the-secret"),
		chromedp.Click(chromedp.ID("signin-submit")),
		chromedp.WaitVisible(chromedp.CSS(`#error[data-code="IOTDA.000002"]`)),
	)
	if msg := value(t, bctx, "read the error", chromedp.Text(chromedp.ID("error"))); !strings.Contains(msg, "IOTDA.000002") ||
		!strings.Contains(msg, "HTTP 401") || !strings.Contains(msg, "signature") {
		t.Errorf("error banner %q: want the API's error_code, status and error_msg", msg)
	}

	step(t, bctx, "sign in with AK/SK",
		chromedp.SetValue(chromedp.ID("signin-sk"), tg.SecretKey),
		chromedp.Click(chromedp.ID("signin-submit")),
		chromedp.WaitVisible(chromedp.CSS(`body[data-signed-in="true"]`)),
		chromedp.WaitVisible(chromedp.ID("app")),
	)

	// Upload a device CA from a file; the page shows its verify_code.
	ca, err := pki.NewRootCA("console test CA", pki.WithOrganization("certlab console test"))
	if err != nil {
		t.Fatal(err)
	}
	step(t, bctx, "upload the CA from a file",
		chromedp.SetUploadFiles(chromedp.ID("ca-file"), []string{writePEM(t, dir, "ca.pem", pki.CertPEM(ca.Cert))}),
		chromedp.Click(chromedp.ID("ca-upload")),
		chromedp.WaitVisible(chromedp.CSS(`#ca-list tr[data-status="unverified"]`)),
		chromedp.WaitVisible(chromedp.ID("verify-panel")),
	)
	verifyCode := value(t, bctx, "read the verify_code", chromedp.Text(chromedp.ID("verify-code")))
	caID := value(t, bctx, "read the CA id", chromedp.AttributeValue(chromedp.ID("verify-panel"), "data-ca-id")).Value
	if verifyCode == "" || caID == "" {
		t.Fatalf("verify_code %q, CA id %q: the page must show both after the upload", verifyCode, caID)
	}
	if rowCode := value(t, bctx, "the CA list shows the verify_code", chromedp.Text(css(`#ca-list tr[data-id=%q] .verify-code`, caID))); rowCode != verifyCode {
		t.Errorf("CA row verify_code %q, panel shows %q", rowCode, verifyCode)
	}

	// A verification certificate with the wrong CN is refused with the API's words.
	wrong, err := ca.NewVerificationCert("not-the-verify-code")
	if err != nil {
		t.Fatal(err)
	}
	step(t, bctx, "a wrong verification certificate is refused",
		chromedp.SetValue(chromedp.ID("verify-pem"), string(pki.CertPEM(wrong.Cert))),
		chromedp.Click(chromedp.ID("verify-submit")),
		chromedp.WaitVisible(css(`#error[data-code=%q]`, iotda.CodeVerifyFailed)),
	)
	verification, err := ca.NewVerificationCert(verifyCode)
	if err != nil {
		t.Fatal(err)
	}
	step(t, bctx, "verify the CA with a pasted verification certificate",
		chromedp.SetValue(chromedp.ID("verify-pem"), string(pki.CertPEM(verification.Cert))),
		chromedp.Click(chromedp.ID("verify-submit")),
		chromedp.WaitVisible(css(`#ca-list tr[data-id=%q][data-status="verified"]`, caID)),
		chromedp.WaitNotVisible(chromedp.ID("verify-panel")),
	)

	const productID = "console-product"
	step(t, bctx, "create an MQTT product",
		chromedp.SetValue(chromedp.ID("product-id"), productID),
		chromedp.SetValue(chromedp.ID("product-name"), "Console thermostat"),
		chromedp.SetValue(chromedp.ID("product-protocol"), iotda.ProtocolMQTT),
		chromedp.Click(chromedp.ID("product-create")),
		chromedp.WaitVisible(css(`#product-list tr[data-id=%q]`, productID)),
		pollJS(`document.getElementById("device-product").value === %q`, productID),
	)

	// Register a device from its certificate file: the browser computes the fingerprint.
	const nodeID = "AA-BB-CC-00-11-22"
	deviceID := productID + "_" + nodeID
	leaf, err := ca.NewDeviceCert(deviceID)
	if err != nil {
		t.Fatal(err)
	}
	step(t, bctx, "drop the device certificate: the browser computes its SHA-256 fingerprint",
		chromedp.SetValue(chromedp.ID("device-node"), nodeID),
		chromedp.SetUploadFiles(chromedp.ID("device-cert-file"), []string{writePEM(t, dir, "device.pem", leaf.CertPEM())}),
		pollJS(`document.getElementById("device-fingerprint").value === %q`, leaf.FingerprintSHA256()),
		chromedp.Click(chromedp.ID("device-register")),
		chromedp.WaitVisible(css(`#device-list tr[data-id=%q][data-status="INACTIVE"]`, deviceID)),
	)
	c, err := tg.Client()
	if err != nil {
		t.Fatal(err)
	}
	d, err := c.ShowDevice(ctx, deviceID)
	if err != nil {
		t.Fatalf("show the device the console registered: %v", err)
	}
	if d.AuthInfo.AuthType != iotda.AuthCertificates || d.AuthInfo.Fingerprint != leaf.FingerprintSHA256() {
		t.Fatalf("device registered with auth %s fingerprint %q, want CERTIFICATES %s", d.AuthInfo.AuthType, d.AuthInfo.Fingerprint, leaf.FingerprintSHA256())
	}
	step(t, bctx, "registering the same node again shows the API's error",
		chromedp.SetValue(chromedp.ID("device-node"), nodeID),
		chromedp.Click(chromedp.ID("device-register")),
		chromedp.WaitVisible(css(`#error[data-code=%q]`, iotda.CodeDeviceExists)),
	)

	// A real device login shows up in the live view.
	if res := loginDevice(t, ctx, tg, leaf, deviceID); !res.OK() {
		t.Fatalf("device login: %s %s %s: %v", res.Outcome, res.Phase, res.Reason, res.Err)
	}
	step(t, bctx, "the login appears in the live view",
		chromedp.WaitVisible(css(`#attempt-list tr[data-device=%q][data-outcome="success"]`, deviceID)))

	// Freeze from the console: the next login is refused, with the reason and remedy shown.
	step(t, bctx, "freeze the device",
		chromedp.Click(css(`#device-list tr[data-id=%q] button.freeze`, deviceID)),
		chromedp.WaitVisible(css(`#device-list tr[data-id=%q][data-status="FROZEN"]`, deviceID)),
	)
	if res := loginDevice(t, ctx, tg, leaf, deviceID); res.Outcome != iotda.OutcomeRefused {
		t.Fatalf("frozen device login: %s %s, want refused", res.Outcome, res.Reason)
	}
	frozenRow := fmt.Sprintf(`#attempt-list tr[data-device=%q][data-reason="device_frozen"]`, deviceID)
	step(t, bctx, "the refusal appears in the live view", chromedp.WaitVisible(chromedp.CSS(frozenRow)))
	frozenRemedy := value(t, bctx, "read the remedy", chromedp.Text(chromedp.CSS(frozenRow+" .remedy-text")))
	frozenDetail := value(t, bctx, "read the platform's detail", chromedp.Text(chromedp.CSS(frozenRow+" .detail")))
	if !strings.Contains(frozenRemedy, "Unfreeze") || !strings.Contains(frozenDetail, "frozen") {
		t.Errorf("device_frozen row: remedy %q, detail %q", frozenRemedy, frozenDetail)
	}
	step(t, bctx, "unfreeze the device",
		chromedp.Click(css(`#device-list tr[data-id=%q] button.unfreeze`, deviceID)),
		chromedp.WaitVisible(css(`#device-list tr[data-id=%q] button.freeze`, deviceID)),
	)

	// Set the secondary fingerprint from a second certificate; that certificate logs in.
	leaf2, err := ca.NewDeviceCert(deviceID + " replacement")
	if err != nil {
		t.Fatal(err)
	}
	step(t, bctx, "reset the secondary fingerprint from a certificate file",
		chromedp.Click(css(`#device-list tr[data-id=%q] button.details`, deviceID)),
		chromedp.WaitVisible(css(`#device-panel[data-device-id=%q]`, deviceID)),
		chromedp.SetUploadFiles(chromedp.ID("reset-cert-file"), []string{writePEM(t, dir, "device2.pem", leaf2.CertPEM())}),
		pollJS(`document.getElementById("reset-fingerprint").value === %q`, leaf2.FingerprintSHA256()),
		chromedp.SetValue(chromedp.ID("reset-type"), iotda.FingerprintSecondary),
		chromedp.Click(chromedp.ID("reset-submit")),
		pollJS(`document.querySelector('#detail-fields dd[data-field="secondary_fingerprint"]').textContent === %q`, leaf2.FingerprintSHA256()),
	)
	if res := loginDevice(t, ctx, tg, leaf2, deviceID); !res.OK() {
		t.Errorf("login with the secondary fingerprint's certificate: %s %s", res.Outcome, res.Reason)
	}

	// A certificate from a CA nobody uploaded: refused in TLS, shown with its remedy.
	stranger, err := pki.NewRootCA("stranger CA")
	if err != nil {
		t.Fatal(err)
	}
	strangeLeaf, err := stranger.NewDeviceCert(deviceID)
	if err != nil {
		t.Fatal(err)
	}
	if res := loginDevice(t, ctx, tg, strangeLeaf, deviceID); res.Outcome != iotda.OutcomeRefused {
		t.Fatalf("unknown-CA login: %s %s, want refused", res.Outcome, res.Reason)
	}
	step(t, bctx, "the unknown-CA refusal appears", chromedp.WaitVisible(chromedp.CSS(`#attempt-list tr[data-reason="unknown_ca"]`)))
	if rem := value(t, bctx, "read its remedy", chromedp.Text(chromedp.CSS(`#attempt-list tr[data-reason="unknown_ca"] .remedy-text`))); !strings.Contains(rem, "Upload the CA") {
		t.Errorf("unknown_ca remedy %q", rem)
	}

	// A second CA pasted as text, then deleted.
	ca2, err := pki.NewRootCA("console CA to delete")
	if err != nil {
		t.Fatal(err)
	}
	step(t, bctx, "upload a pasted CA",
		chromedp.SetValue(chromedp.ID("ca-pem"), string(pki.CertPEM(ca2.Cert))),
		chromedp.Click(chromedp.ID("ca-upload")),
		chromedp.WaitVisible(chromedp.CSS(`#ca-list tr[data-status="unverified"]`)),
	)
	ca2ID := value(t, bctx, "read its id", chromedp.AttributeValue(chromedp.CSS(`#ca-list tr[data-status="unverified"]`), "data-id")).Value
	del := fmt.Sprintf(`#ca-list tr[data-id=%q] button.delete`, ca2ID)
	step(t, bctx, "delete it (two clicks)",
		chromedp.Click(chromedp.CSS(del)),
		chromedp.WaitVisible(chromedp.CSS(del+".armed")),
		chromedp.Click(chromedp.CSS(del)),
		chromedp.WaitNotPresent(css(`#ca-list tr[data-id=%q]`, ca2ID)),
	)
	if _, err := c.ShowCertificate(ctx, ca2ID); iotda.StatusCode(err) != http.StatusNotFound {
		t.Errorf("show the deleted CA: %v, want HTTP 404", err)
	}

	// Sign out, then in again with the project's X-Auth-Token instead of AK/SK.
	var token string
	for _, pr := range p.Registry().Projects() {
		if pr.ID == tg.ProjectID {
			token = pr.Token
		}
	}
	if token == "" {
		t.Fatalf("project %s has no token", tg.ProjectID)
	}
	step(t, bctx, "sign out and in again with the X-Auth-Token",
		chromedp.Click(chromedp.ID("signout")),
		chromedp.WaitVisible(chromedp.ID("signin")),
		chromedp.Click(chromedp.ID("signin-mode-token")),
		chromedp.WaitVisible(chromedp.ID("signin-token")),
		chromedp.SetValue(chromedp.ID("signin-project"), tg.ProjectID),
		chromedp.SetValue(chromedp.ID("signin-token"), token),
		chromedp.Click(chromedp.ID("signin-submit")),
		chromedp.WaitVisible(css(`#ca-list tr[data-id=%q][data-status="verified"]`, caID)),
		chromedp.WaitVisible(css(`#device-list tr[data-id=%q]`, deviceID)),
	)
	if mode := value(t, bctx, "read the sign-in mode", chromedp.Text(chromedp.ID("whoami-mode"))); mode != "(X-Auth-Token)" {
		t.Errorf("signed in as %q, want the token mode", mode)
	}

	if path := os.Getenv("CERTLAB_CONSOLE_SCREENSHOT"); path != "" {
		png := value(t, bctx, "screenshot", chromedp.FullScreenshot(100))
		if err := os.WriteFile(path, png, 0o644); err != nil {
			t.Error(err)
		}
	}
	if errs := pageErrs.get(); len(errs) > 0 {
		t.Errorf("JavaScript errors in the page: %s", strings.Join(errs, "; "))
	}
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		t.Errorf("the browser test ran out of time")
	}
	t.Logf("browser procedure done in %s", time.Since(start).Round(time.Millisecond))
}
