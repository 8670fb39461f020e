package features

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/xml"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/certlab/certlab/platform"
	"github.com/certlab/certlab/platform/platformtest"
)

// runSuite runs the suite and logs its output and summary table; it returns
// the summary and the output.
func runSuite(t *testing.T, opts Options) (Summary, string) {
	t.Helper()
	var out bytes.Buffer
	opts.Output = &out
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
	defer cancel()
	sum, err := Run(ctx, opts)
	if err != nil {
		t.Logf("suite output:\n%s", out.String())
		t.Fatalf("run: %v", err)
	}
	var table bytes.Buffer
	if err := sum.WriteTable(&table); err != nil {
		t.Fatal(err)
	}
	if !sum.OK() || testing.Verbose() {
		t.Logf("suite output:\n%s", out.String())
	}
	t.Logf("summary:\n%s", table.String())
	return sum, out.String()
}

// junitReport is the part of godog's JUnit XML the test checks.
type junitReport struct {
	XMLName xml.Name `xml:"testsuites"`
	Tests   int      `xml:"tests,attr"`
	Suites  []struct {
		Name  string `xml:"name,attr"`
		Cases []struct {
			Name   string `xml:"name,attr"`
			Status string `xml:"status,attr"`
		} `xml:"testcase"`
	} `xml:"testsuite"`
}

// TestFeatures runs the whole suite, @reference included, against an
// embedded reference platform: every scenario must pass and every
// requirement ID must be exercised.
func TestFeatures(t *testing.T) {
	p := platformtest.Start(t)
	dir := t.TempDir()
	junitPath, cucumberPath := filepath.Join(dir, "junit.xml"), filepath.Join(dir, "cucumber.json")
	sum, _ := runSuite(t, Options{
		Target: p.Target(), Format: FormatProgress, Concurrency: 4, Reference: true,
		JUnitPath: junitPath, CucumberPath: cucumberPath,
	})
	if !sum.OK() {
		t.Errorf("%d of %d scenarios failed", sum.Failed, sum.Scenarios)
	}
	if sum.Scenarios == 0 || sum.Passed+sum.Failed+sum.Skipped != sum.Scenarios {
		t.Errorf("inconsistent counts: %+v", sum)
	}
	for _, r := range sum.Requirements {
		if r.Status() != StatusPass {
			t.Errorf("requirement %s: %s (passed %d, failed %d, skipped %d)", r.ID, r.Status(), r.Passed, r.Failed, r.Skipped)
		}
	}

	// The reports: JUnit parses as XML with one testcase per scenario; the
	// cucumber JSON parses and agrees with the summary.
	data, err := os.ReadFile(junitPath)
	if err != nil {
		t.Fatalf("junit report: %v", err)
	}
	var ju junitReport
	if err := xml.Unmarshal(data, &ju); err != nil {
		t.Fatalf("junit report does not parse: %v", err)
	}
	cases := 0
	for _, s := range ju.Suites {
		cases += len(s.Cases)
	}
	if cases != sum.Scenarios || ju.Tests != sum.Scenarios {
		t.Errorf("junit report has %d testcases (tests=%d), want %d", cases, ju.Tests, sum.Scenarios)
	}
	data, err = os.ReadFile(cucumberPath)
	if err != nil {
		t.Fatalf("cucumber report: %v", err)
	}
	if !json.Valid(data) {
		t.Fatal("cucumber report is not JSON")
	}
	again, err := Summarize(data)
	if err != nil || again.Scenarios != sum.Scenarios || again.Failed != sum.Failed {
		t.Errorf("cucumber report summarises to %+v (%v), run said %d scenarios, %d failed", again, err, sum.Scenarios, sum.Failed)
	}
}

// TestSuiteCanFail proves the suite is not vacuous: against a platform that
// breaks the CA quota (101 CAs) and lets certificate devices register under
// any protocol, the matching scenarios must fail.
func TestSuiteCanFail(t *testing.T) {
	p := platformtest.Start(t, func(c *platform.Config) {
		c.MaxCAsPerProject, c.AllowCertificatesOnAnyProtocol = 101, true
	})
	// Cucumber's tag syntax, and the pretty output, which must stay readable
	// with concurrent scenarios (checked below).
	sum, out := runSuite(t, Options{
		Target: p.Target(), Tags: "@CA-QUOTA or @PROTO-MQTT-ONLY", Format: FormatPretty, Concurrency: 4, Reference: true,
	})
	checkPrettyOutput(t, out, sum)
	quota, _ := sum.Requirement("CA-QUOTA")
	if quota.Failed != 3 || quota.Passed != 0 {
		t.Errorf("CA-QUOTA on a 101-CA platform: %d failed, %d passed; want all 3 quota scenarios to fail", quota.Failed, quota.Passed)
	}
	proto, _ := sum.Requirement("PROTO-MQTT-ONLY")
	// 10 non-MQTT protocol rows must fail; the MQTT scenario still passes.
	if proto.Failed != 10 || proto.Passed != 1 {
		t.Errorf("PROTO-MQTT-ONLY on a permissive platform: %d failed, %d passed; want 10 failed, 1 passed", proto.Failed, proto.Passed)
	}
	for _, f := range sum.Failures {
		if !strings.Contains(f.Error, "IOTDA.014302") && !strings.Contains(f.Error, "IOTDA.014309") {
			t.Errorf("scenario %q failed for an unexpected reason: %s: %s", f.Scenario, f.Step, f.Error)
		}
	}
	if sum.OK() {
		t.Error("the suite passed against a platform that breaks CA-QUOTA and PROTO-MQTT-ONLY")
	}
}

// checkPrettyOutput checks the pretty output of a run: one verdict line per
// scenario (as many FAILs as failed scenarios), each followed by its own
// steps; scenarios grouped under their feature in line order; no Go source
// locations.
func checkPrettyOutput(t *testing.T, out string, sum Summary) {
	t.Helper()
	if strings.Contains(out, ".go:") {
		t.Errorf("pretty output shows Go source locations without Verbose")
	}
	verdicts := map[string]int{}
	features := map[string]bool{}
	feature, lastLine, inScenario := "", 0, false
	for _, line := range strings.Split(out, "\n") {
		switch {
		case strings.HasPrefix(line, "Feature: "):
			uri := line[strings.LastIndex(line, "(")+1 : len(line)-1]
			if features[uri] {
				t.Errorf("feature %s printed twice", uri)
			}
			features[uri], feature, lastLine, inScenario = true, uri, 0, false
		case strings.HasPrefix(line, "  PASS  "), strings.HasPrefix(line, "  FAIL  "), strings.HasPrefix(line, "  SKIP  "):
			verdicts[line[2:6]]++
			loc := line[strings.LastIndex(line, "("+feature+":"):]
			n, err := strconv.Atoi(loc[len(feature)+2 : strings.Index(loc, ")")])
			if err != nil || n < lastLine {
				t.Errorf("scenario out of order or without its feature's location: %q after line %d", line, lastLine)
			}
			lastLine, inScenario = n, true
		case strings.HasPrefix(line, "      "):
			if !inScenario {
				t.Errorf("step outside a scenario: %q", line)
			}
			step := strings.TrimLeft(line, " ")
			if !strings.HasPrefix(line, "          ") && !strings.HasPrefix(step, "✓ ") && !strings.HasPrefix(step, "✗ ") &&
				!strings.HasPrefix(step, "- ") && !strings.HasPrefix(step, "? ") {
				t.Errorf("step without a mark: %q", line)
			}
		case line == "":
			inScenario = false
		}
	}
	if got := verdicts["PASS"] + verdicts["FAIL"] + verdicts["SKIP"]; got != sum.Scenarios || verdicts["FAIL"] != sum.Failed {
		t.Errorf("pretty output has %v verdicts; the run had %d scenarios, %d failed", verdicts, sum.Scenarios, sum.Failed)
	}
}
