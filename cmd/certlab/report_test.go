package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/certlab/certlab/sim/fleet"
)

// cucumberReport is a cucumber JSON report as godog writes it: one passed
// scenario tagged @CA-UPLOAD, one failed tagged @CA-QUOTA.
const cucumberReport = `[{"uri":"features/ca/ca.feature","id":"ca","keyword":"Feature","name":"Device CAs","elements":[
 {"id":"ca;upload","keyword":"Scenario","name":"Upload a CA","line":5,"type":"scenario","tags":[{"name":"@CA-UPLOAD"}],
  "steps":[{"keyword":"Given ","name":"a CA","line":6,"result":{"status":"passed","duration":1000}}]},
 {"id":"ca;quota","keyword":"Scenario","name":"The 101st CA is refused","line":9,"type":"scenario","tags":[{"name":"@CA-QUOTA"}],
  "steps":[{"keyword":"Then ","name":"the upload is refused","line":10,"result":{"status":"failed","error_message":"got HTTP 201"}}]}]}]`

func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestReportWholeRun renders one page of a whole session: the suite per
// requirement, the fleet with its refusal reasons named, and the load.
func TestReportWholeRun(t *testing.T) {
	dir := t.TempDir()
	results := filepath.Join("..", "..", "reports", "testdata", "summary.golden.json")
	cucumber := writeFile(t, dir, "bdd-cucumber.json", cucumberReport)
	var sim strings.Builder
	err := fleet.Summary{MQTT: fleet.MQTTMix, Devices: 4, Connected: 3, PeakOnline: 3, LoginAttempts: 5, LoginSucceeded: 3,
		LoginRefused: 2, RefusedByReason: map[string]int{"connack:0x86": 2}, MessagesSent: 17,
		ConnectLatency: fleet.Latency{Count: 3, P50: 2 * time.Millisecond, P99: 4 * time.Millisecond}, Elapsed: 8 * time.Second}.WriteJSON(&sim)
	if err != nil {
		t.Fatal(err)
	}
	simJSON := writeFile(t, dir, "sim.json", sim.String())
	html := filepath.Join(dir, "report.html")
	mustRunCLI(t, "report", results, "--bdd", cucumber, "--fleet", simJSON, "--html", html)
	page, err := os.ReadFile(html)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"certlab run report",
		"2 scenarios: 1 passed, 1 failed, 0 skipped",
		`data-requirement="CA-QUOTA"`, `<span class="st st-fail">FAIL</span>`, "got HTTP 201",
		`data-requirement="DEV-FREEZE"`, "NOT RUN", // the catalogue's other IDs, not run
		"Device fleet", "3 / 4", "connack:0x86", "bad user name or password; certlab: device_not_found or username_mismatch",
		// The golden summary has no HDR histograms (they are stripped from
		// it), yet latency over time is drawn: it comes from the summary.
		`data-chart="latency-time"`,
	} {
		if !strings.Contains(string(page), want) {
			t.Errorf("the page lacks %q", want)
		}
	}

	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"bdd without html", []string{"--bdd", cucumber}, "give --html FILE too"},
		{"fleet summary as bdd", []string{"--bdd", simJSON, "--html", html}, "not the cucumber JSON"},
		{"empty cucumber report", []string{"--bdd", writeFile(t, dir, "empty.json", "[]"), "--html", html}, "holds no scenario"},
		{"cucumber report as fleet", []string{"--fleet", cucumber, "--html", html}, "not a fleet summary"},
		{"load summary as fleet", []string{"--fleet", results, "--html", html}, "not a fleet summary"},
		{"fleet directory", []string{"--fleet", dir, "--html", html}, "not the fleet directory"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := runCLI(t, append([]string{"report", results}, tc.args...)...)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one saying %q", err, tc.want)
			}
		})
	}
}

// TestReportCompareOverlays: --compare draws both runs over time.
func TestReportCompareOverlays(t *testing.T) {
	results := filepath.Join("..", "..", "reports", "testdata", "summary.golden.json")
	html := filepath.Join(t.TempDir(), "report.html")
	mustRunCLI(t, "report", results, "--compare", results, "--html", html)
	page, err := os.ReadFile(html)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`data-chart="compare-rate"`, `data-chart="compare-latency"`, "old: success", "new: p99"} {
		if !strings.Contains(string(page), want) {
			t.Errorf("the page lacks %q", want)
		}
	}
}
