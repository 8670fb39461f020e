package features

import (
	"strings"
	"testing"

	"github.com/certlab/certlab/iotda"
)

// cucumberFixture has one scenario of each outcome, in godog's cucumber JSON shape.
const cucumberFixture = `[
 {"uri": "ca/x.feature", "name": "X", "tags": [{"name": "@ca"}], "elements": [
  {"name": "passes", "line": 3, "type": "scenario", "tags": [{"name": "@ca"}, {"name": "@CA-UPLOAD"}],
   "steps": [{"keyword": "Given ", "name": "a", "result": {"status": "passed"}}]},
  {"name": "fails", "line": 7, "type": "scenario", "tags": [{"name": "@ca"}, {"name": "@CA-UPLOAD"}, {"name": "@CA-QUOTA"}],
   "steps": [{"keyword": "Given ", "name": "a", "result": {"status": "passed"}},
             {"keyword": "Then ", "name": "b", "result": {"status": "failed", "error_message": "boom"}},
             {"keyword": "And ", "name": "c", "result": {"status": "skipped"}}]},
  {"name": "undefined", "line": 9, "type": "scenario", "tags": [{"name": "@CA-LIST"}],
   "steps": [{"keyword": "Given ", "name": "x", "result": {"status": "undefined"}}]},
  {"name": "skipped", "line": 11, "type": "scenario", "tags": [{"name": "@CA-VERIFY"}, {"name": "@NOT-AN-ID"}],
   "steps": [{"keyword": "Given ", "name": "x", "result": {"status": "skipped"}}]}
 ]}]`

func TestSummarize(t *testing.T) {
	s, err := Summarize([]byte(cucumberFixture))
	if err != nil {
		t.Fatal(err)
	}
	if s.Scenarios != 4 || s.Passed != 1 || s.Failed != 2 || s.Skipped != 1 {
		t.Errorf("counts: %d scenarios, %d passed, %d failed, %d skipped; want 4, 1, 2, 1", s.Scenarios, s.Passed, s.Failed, s.Skipped)
	}
	tests := []struct {
		id                      string
		passed, failed, skipped int
		status                  string
	}{
		{"CA-UPLOAD", 1, 1, 0, StatusFail},
		{"CA-QUOTA", 0, 1, 0, StatusFail},
		{"CA-LIST", 0, 1, 0, StatusFail}, // undefined counts as failed: the suite runs strict
		{"CA-VERIFY", 0, 0, 1, StatusSkip},
		{"CA-DELETE", 0, 0, 0, StatusNotRun},
		{"NOT-AN-ID", 0, 0, 1, StatusSkip}, // unknown IDs are reported, not dropped
	}
	for _, tc := range tests {
		t.Run(tc.id, func(t *testing.T) {
			r, ok := s.Requirement(tc.id)
			if !ok {
				t.Fatalf("no result for %s", tc.id)
			}
			if r.Passed != tc.passed || r.Failed != tc.failed || r.Skipped != tc.skipped || r.Status() != tc.status {
				t.Errorf("got %+v status %s, want %d/%d/%d %s", r, r.Status(), tc.passed, tc.failed, tc.skipped, tc.status)
			}
		})
	}
	if len(s.Failures) != 2 || s.Failures[0].Step != "Then b" || s.Failures[0].Error != "boom" {
		t.Errorf("failures: %+v", s.Failures)
	}
	var b strings.Builder
	if err := s.WriteTable(&b); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"CA-UPLOAD", "FAIL", "NOT RUN", "Failed scenarios (2)", "4 scenarios: 1 passed, 2 failed, 1 skipped"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, b.String())
		}
	}
}

func TestSummarizeRejectsGarbage(t *testing.T) {
	if _, err := Summarize([]byte("<xml/>")); err == nil {
		t.Error("Summarize accepted a non-JSON report")
	}
}

func TestRunRejectsBadOptions(t *testing.T) {
	tests := []struct {
		name string
		opts Options
	}{
		{"no target", Options{}},
		{"unknown format", Options{Target: &iotda.Target{}, Format: "html"}},
		{"comma in a report path", Options{Target: &iotda.Target{}, JUnitPath: "a,b.xml"}},
		{"bad tag expression", Options{Target: &iotda.Target{}, Tags: "@a && "}},
		{"tag expression selecting nothing", Options{Target: &iotda.Target{}, Tags: "@NOPE"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := Run(t.Context(), tc.opts); err == nil {
				t.Errorf("Run accepted %+v", tc.opts)
			}
		})
	}
}
