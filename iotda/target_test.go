package iotda

import (
	"crypto/tls"
	"encoding/pem"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func validTarget() Target {
	return Target{Name: "t", APIEndpoint: "https://127.0.0.1:8943", MQTTEndpoint: "127.0.0.1:8883", Region: "local",
		ProjectID: "p", AccessKey: "ak", SecretKey: "sk", CAFile: "server-ca.pem"}
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestTargetValidate(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*Target)
		want   string // "" = valid
	}{
		{"valid", func(*Target) {}, ""},
		{"token only", func(t *Target) { t.AccessKey, t.SecretKey, t.Token = "", "", "tok" }, ""},
		{"mqtts scheme", func(t *Target) { t.MQTTEndpoint = "ssl://x.st1.iotda-device.cn-north-4.myhuaweicloud.com:8883" }, ""},
		{"no api endpoint: an MQTT broker", func(t *Target) { t.APIEndpoint = "" }, ""},
		{"broker without project or credentials", func(t *Target) {
			t.APIEndpoint, t.ProjectID, t.AccessKey, t.SecretKey = "", "", "", ""
		}, ""},
		{"login templates", func(t *Target) { t.ClientIDTemplate, t.UsernameTemplate = "{node_id}_{YYYYMMDDHH}", "{cn}" }, ""},
		{"unknown client id placeholder", func(t *Target) { t.ClientIDTemplate = "{serial}" }, "client_id_template"},
		{"unbalanced username template", func(t *Target) { t.UsernameTemplate = "{cn" }, "username_template"},
		{"api endpoint without scheme", func(t *Target) { t.APIEndpoint = "127.0.0.1:8943" }, "api_endpoint"},
		{"no mqtt endpoint", func(t *Target) { t.MQTTEndpoint = "" }, "mqtt_endpoint is required"},
		{"mqtt endpoint without port", func(t *Target) { t.MQTTEndpoint = "127.0.0.1" }, "mqtt_endpoint"},
		{"api without project", func(t *Target) { t.ProjectID = "" }, "project_id is required"},
		{"api without credentials", func(t *Target) { t.AccessKey, t.SecretKey = "", "" }, "credentials are required"},
		{"access key without secret", func(t *Target) { t.SecretKey = "" }, "secret_key is empty"},
		{"secret without access key", func(t *Target) { t.AccessKey = "" }, "access_key is empty"},
		{"unknown signing", func(t *Target) { t.Signing = "v4" }, "signing"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tg := validTarget()
			tc.mutate(&tg)
			err := tg.Validate()
			if tc.want == "" {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			if !errors.Is(err, ErrInvalidTarget) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Validate error = %v, want ErrInvalidTarget mentioning %q", err, tc.want)
			}
		})
	}
}

func TestLoadTargetErrors(t *testing.T) {
	dir := t.TempDir()
	tests := []struct{ name, content, want string }{
		{"not json", "{", "invalid target"},
		{"unknown field (typo)", `{"acess_key":"x"}`, "unknown field"},
		{"missing field", `{"api_endpoint":"https://h:1","mqtt_endpoint":"h:2","access_key":"a","secret_key":"s"}`, "project_id is required"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "_")+".json")
			writeFile(t, path, tc.content)
			if _, err := LoadTarget(path); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("LoadTarget error = %v, want it to mention %q", err, tc.want)
			}
		})
	}
	if _, err := LoadTarget(filepath.Join(dir, "absent.json")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("LoadTarget(absent) error = %v, want not-exist", err)
	}
}

// A target written by the platform (relative ca_file, in-memory first) is
// loadable from anywhere, and its client trusts the platform's real TLS server.
func TestTargetSaveLoadClient(t *testing.T) {
	f := newFakeIoTDA(t)
	dir := filepath.Join(t.TempDir(), "data")
	writeFile(t, filepath.Join(dir, "server-ca.pem"), string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: f.srv.Certificate().Raw})))

	tg := validTarget()
	tg.APIEndpoint, tg.AccessKey, tg.SecretKey, tg.ProjectID, tg.AdminToken = f.srv.URL, testAK, testSK, testProject, "adm"
	path := filepath.Join(dir, "target.json")
	if err := tg.Save(path); err != nil {
		t.Fatalf("Save: %v", err)
	}
	if _, err := tg.RootCAs(); err != nil {
		t.Errorf("RootCAs after Save (relative ca_file resolved against the file): %v", err)
	}
	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if info.Mode().Perm() != 0o600 {
		t.Errorf("target file mode = %v, want 0600", info.Mode().Perm())
	}
	raw, _ := os.ReadFile(path)
	for _, want := range []string{`"ca_file": "server-ca.pem"`, `"admin_token": "adm"`, `"api_endpoint": "` + f.srv.URL + `"`} {
		if !strings.Contains(string(raw), want) {
			t.Errorf("saved file lacks %s:\n%s", want, raw)
		}
	}
	if strings.Contains(string(raw), `"token"`) {
		t.Errorf("empty token should be omitted:\n%s", raw)
	}

	loaded, err := LoadTarget(path)
	if err != nil {
		t.Fatalf("LoadTarget: %v", err)
	}
	f.answer(reply{status: 200, body: `{"device_id":"d1"}`})
	c, err := loaded.Client()
	if err != nil {
		t.Fatalf("Client: %v", err)
	}
	if _, err := c.ShowDevice(testContext(t), "d1"); err != nil {
		t.Fatalf("ShowDevice through the target's client: %v", err)
	}
	if got := f.lastRequest().header.Get(HeaderAuthorization); !strings.HasPrefix(got, AlgorithmSDK+" Access="+testAK) {
		t.Errorf("Authorization = %q, want SDK signature by %s", got, testAK)
	}

	// Saving elsewhere keeps pointing at the same CA file.
	other := filepath.Join(t.TempDir(), "copy.json")
	if err := loaded.Save(other); err != nil {
		t.Fatalf("Save copy: %v", err)
	}
	copied, err := LoadTarget(other)
	if err != nil {
		t.Fatalf("LoadTarget copy: %v", err)
	}
	if !filepath.IsAbs(copied.CAFile) {
		t.Errorf("copied ca_file = %q, want an absolute path to the original", copied.CAFile)
	}
	if _, err := copied.RootCAs(); err != nil {
		t.Errorf("RootCAs of copy: %v", err)
	}
}

func TestTargetRootCAs(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "junk.pem"), "not a certificate")
	tests := []struct {
		name    string
		caFile  string
		wantNil bool
		wantErr string
	}{
		{name: "empty means system roots", caFile: "", wantNil: true},
		{name: "missing file", caFile: "absent.pem", wantErr: "no such file"},
		{name: "no PEM", caFile: "junk.pem", wantErr: "no PEM certificate"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tg := validTarget()
			tg.CAFile = tc.caFile
			tg.dir = dir
			pool, err := tg.RootCAs()
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Errorf("RootCAs error = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil || (pool == nil) != tc.wantNil {
				t.Errorf("RootCAs = %v, %v", pool, err)
			}
		})
	}
}

func TestTargetServerNameAndAddress(t *testing.T) {
	tests := []struct{ endpoint, wantName, wantAddr string }{
		{"127.0.0.1:8883", "127.0.0.1", "127.0.0.1:8883"},
		{"ssl://abc.st1.iotda-device.cn-north-4.myhuaweicloud.com:8883", "abc.st1.iotda-device.cn-north-4.myhuaweicloud.com", "abc.st1.iotda-device.cn-north-4.myhuaweicloud.com:8883"},
		{"mqtts://[::1]:8883", "::1", "[::1]:8883"},
	}
	for _, tc := range tests {
		t.Run(tc.endpoint, func(t *testing.T) {
			tg := validTarget()
			tg.MQTTEndpoint = tc.endpoint
			if got := tg.ServerName(""); got != tc.wantName {
				t.Errorf("ServerName = %q, want %q", got, tc.wantName)
			}
			if got := tg.MQTTAddress(); got != tc.wantAddr {
				t.Errorf("MQTTAddress = %q, want %q", got, tc.wantAddr)
			}
		})
	}
	tg := validTarget()
	if got := tg.ServerName("https://api.example:8943/x"); got != "api.example" {
		t.Errorf("ServerName(api URL) = %q", got)
	}
}

func TestTargetCredentialsSigning(t *testing.T) {
	tests := []struct {
		name, endpoint, signing string
		wantDerived             bool
	}{
		{"embedded platform", "https://127.0.0.1:8943", SigningAuto, false},
		{"regional endpoint", "https://iotda.cn-north-4.myhuaweicloud.com", SigningAuto, false},
		{"instance endpoint", "https://a1b2c3.st1.iotda-app.cn-north-4.myhuaweicloud.com", SigningAuto, true},
		{"forced v11", "https://127.0.0.1:8943", SigningV11, true},
		{"forced sdk", "https://a1b2c3.st1.iotda-app.cn-north-4.myhuaweicloud.com", SigningSDK, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tg := validTarget()
			tg.APIEndpoint, tg.Signing = tc.endpoint, tc.signing
			c := tg.Credentials()
			if c.Derived != tc.wantDerived {
				t.Errorf("Derived = %v, want %v", c.Derived, tc.wantDerived)
			}
			if c.AccessKey != "ak" || c.SecretKey != "sk" || c.ProjectID != "p" || c.Region != "local" {
				t.Errorf("Credentials = %+v", c)
			}
		})
	}
}

// TLSConfig must let a client complete a real handshake with the platform's
// server certificate (as sim and loadgen do for MQTTS).
func TestTargetTLSConfigHandshake(t *testing.T) {
	f := newFakeIoTDA(t)
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "ca.pem"), string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: f.srv.Certificate().Raw})))
	tg := validTarget()
	tg.MQTTEndpoint = strings.TrimPrefix(f.srv.URL, "https://")
	tg.CAFile = filepath.Join(dir, "ca.pem")
	cfg, err := tg.TLSConfig()
	if err != nil {
		t.Fatalf("TLSConfig: %v", err)
	}
	if cfg.ServerName != "127.0.0.1" || cfg.MinVersion != tls.VersionTLS12 {
		t.Errorf("TLSConfig = ServerName %q MinVersion %x", cfg.ServerName, cfg.MinVersion)
	}
	d := tls.Dialer{Config: cfg, NetDialer: &net.Dialer{Timeout: 5 * time.Second}}
	conn, err := d.DialContext(testContext(t), "tcp", tg.MQTTAddress())
	if err != nil {
		t.Fatalf("TLS handshake with the target's config: %v", err)
	}
	_ = conn.Close()

	tg.CAFile = ""
	cfg, err = tg.TLSConfig()
	if err != nil || cfg.RootCAs != nil {
		t.Fatalf("TLSConfig without ca_file = %v, %v; want system roots", cfg, err)
	}
	d.Config = cfg
	if _, err := d.DialContext(testContext(t), "tcp", tg.MQTTAddress()); err == nil {
		t.Error("handshake succeeded without the CA, want an unknown-authority error")
	}
}

// TestTargetWithoutAPI: a broker target loads from a file that names only
// its MQTT endpoint and conventions, and every API use is one clear error.
func TestTargetWithoutAPI(t *testing.T) {
	path := filepath.Join(t.TempDir(), "mosquitto.json")
	writeFile(t, path, `{"name":"mosquitto","mqtt_endpoint":"127.0.0.1:8883","ca_file":"server-ca.pem",`+
		`"client_id_template":"{cn}","username_template":"{cn}"}`)
	tg, err := LoadTarget(path)
	if err != nil {
		t.Fatalf("LoadTarget: %v", err)
	}
	if tg.HasAPI() {
		t.Error("HasAPI = true for a target without api_endpoint")
	}
	if _, err := tg.Client(); !errors.Is(err, ErrNoAPI) || !strings.Contains(err.Error(), "mosquitto has no api_endpoint") {
		t.Errorf("Client error = %v, want ErrNoAPI naming the target", err)
	}
	if err := tg.RequireAPI("certlab bdd"); !errors.Is(err, ErrNoAPI) || !strings.Contains(err.Error(), "certlab bdd needs") {
		t.Errorf("RequireAPI error = %v", err)
	}
	cid, user, err := tg.LoginTemplates()
	if err != nil || cid.String() != "{cn}" || user.String() != "{cn}" {
		t.Errorf("LoginTemplates = %q, %q, %v", cid, user, err)
	}
	full := validTarget()
	if err := full.RequireAPI("x"); err != nil {
		t.Errorf("RequireAPI of a target with an API: %v", err)
	}
}

func TestLoginTemplate(t *testing.T) {
	at := time.Date(2026, 3, 4, 5, 59, 0, 0, time.FixedZone("CET", 3600))
	v := LoginVars{DeviceID: "prod_node-7", NodeID: "node-7", ProductID: "prod", CN: "node-7.example", Time: at}
	for _, tc := range []struct{ tmpl, want string }{
		{"{cn}", "node-7.example"},
		{"{node_id}", "node-7"},
		{"{device_id}_0_0_{YYYYMMDDHH}", "prod_node-7_0_0_2026030404"}, // the hour in UTC
		{"dev/{product_id}/{node_id}", "dev/prod/node-7"},
		{"fixed", "fixed"},
	} {
		lt, err := ParseLoginTemplate(tc.tmpl)
		if err != nil {
			t.Fatalf("ParseLoginTemplate(%q): %v", tc.tmpl, err)
		}
		if got := lt.Expand(v); got != tc.want {
			t.Errorf("%q expands to %q, want %q", tc.tmpl, got, tc.want)
		}
	}
	for _, bad := range []string{"{CN}", "{cn", "cn}", "{node_id}{", "{}"} {
		if _, err := ParseLoginTemplate(bad); err == nil {
			t.Errorf("ParseLoginTemplate(%q) accepted", bad)
		}
	}
	if z, err := ParseLoginTemplate(""); err != nil || !z.IsZero() {
		t.Errorf(`ParseLoginTemplate("") = %v, %v; want the zero template`, z, err)
	}
	if lt, _ := ParseLoginTemplate("{node_id}_{YYYYMMDDHH}"); !lt.Uses(PlaceholderHour) || lt.Uses(PlaceholderCN) {
		t.Error("Uses is wrong")
	}
}
