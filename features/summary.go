package features

import (
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
)

// Summary is the outcome of a run: scenario counts and pass/fail per
// requirement ID, computed from godog's cucumber JSON report.
type Summary struct {
	Seed     int64         // scenario order seed (rerun with Options.Seed)
	Tags     string        // tag expression actually applied
	Duration time.Duration // wall time of the suite

	Scenarios int // scenarios run (after tag filtering)
	Passed    int
	Failed    int // a step failed, or was undefined, pending or ambiguous
	Skipped   int // no step passed or failed

	// Requirements has one entry per ID of the catalogue (Requirements), in
	// its order, plus any unknown requirement-like tag found in the report.
	Requirements []RequirementResult
	Failures     []ScenarioFailure // one per failed scenario, in report order

	// CleanupWarnings lists resources the suite could not delete after its
	// scenarios (they never change a scenario's result).
	CleanupWarnings []string
}

// RequirementResult counts the scenarios tagged with one requirement ID.
type RequirementResult struct {
	ID        string
	Behaviour string
	Passed    int
	Failed    int
	Skipped   int
}

// Requirement status values.
const (
	StatusPass   = "PASS"
	StatusFail   = "FAIL"
	StatusSkip   = "SKIP"    // scenarios ran but none passed or failed
	StatusNotRun = "NOT RUN" // no scenario with this tag was selected
)

// Status is FAIL if any of its scenarios failed, PASS if at least one passed
// and none failed, SKIP if its scenarios were all skipped, NOT RUN if none ran.
func (r RequirementResult) Status() string {
	switch {
	case r.Failed > 0:
		return StatusFail
	case r.Passed > 0:
		return StatusPass
	case r.Skipped > 0:
		return StatusSkip
	default:
		return StatusNotRun
	}
}

// ScenarioFailure describes one failed scenario.
type ScenarioFailure struct {
	Feature  string   // feature file URI
	Scenario string   // scenario (pickle) name
	Line     int      // line of the scenario or examples row
	Tags     []string // requirement IDs and other tags, without "@"
	Step     string   // the failing step
	Error    string   // its error
}

// OK reports whether the run had no failed scenario.
func (s Summary) OK() bool { return s.Failed == 0 }

// Requirement returns the result for one requirement ID.
func (s Summary) Requirement(id string) (RequirementResult, bool) {
	for _, r := range s.Requirements {
		if r.ID == id {
			return r, true
		}
	}
	return RequirementResult{}, false
}

// cucumber JSON as godog writes it (internal/formatters/fmt_cucumber.go).
type cukeFeature struct {
	URI      string        `json:"uri"`
	Name     string        `json:"name"`
	Elements []cukeElement `json:"elements"`
}

type cukeElement struct {
	Name  string     `json:"name"`
	Line  int        `json:"line"`
	Type  string     `json:"type"`
	Tags  []cukeTag  `json:"tags"`
	Steps []cukeStep `json:"steps"`
}

type cukeTag struct {
	Name string `json:"name"`
}

type cukeStep struct {
	Keyword string `json:"keyword"`
	Name    string `json:"name"`
	Result  struct {
		Status string `json:"status"`
		Error  string `json:"error_message"`
	} `json:"result"`
}

// Summarize computes a Summary (without Seed, Tags and Duration) from a
// cucumber JSON report.
func Summarize(cucumberJSON []byte) (Summary, error) {
	var feats []cukeFeature
	if err := json.Unmarshal(cucumberJSON, &feats); err != nil {
		return Summary{}, fmt.Errorf("parse cucumber report: %w", err)
	}
	var s Summary
	byID := map[string]*RequirementResult{}
	for _, r := range Requirements {
		s.Requirements = append(s.Requirements, RequirementResult{ID: r.ID, Behaviour: r.Behaviour})
	}
	for i := range s.Requirements {
		byID[s.Requirements[i].ID] = &s.Requirements[i]
	}
	for _, f := range feats {
		for _, el := range f.Elements {
			if el.Type != "" && el.Type != "scenario" {
				continue
			}
			s.Scenarios++
			status, failed := scenarioStatus(el.Steps)
			switch status {
			case StatusPass:
				s.Passed++
			case StatusFail:
				s.Failed++
			default:
				s.Skipped++
			}
			var tags []string
			for _, t := range el.Tags {
				name := strings.TrimPrefix(t.Name, "@")
				if slices.Contains(tags, name) {
					continue // feature and scenario may carry the same tag
				}
				tags = append(tags, name)
				if !isRequirementTag(name) {
					continue
				}
				r := byID[name]
				if r == nil { // a tag that looks like an ID but is not in the catalogue
					s.Requirements = append(s.Requirements, RequirementResult{ID: name, Behaviour: "(not in the requirement catalogue)"})
					r = &s.Requirements[len(s.Requirements)-1]
					byID = reindex(s.Requirements)
				}
				switch status {
				case StatusPass:
					r.Passed++
				case StatusFail:
					r.Failed++
				default:
					r.Skipped++
				}
			}
			if status == StatusFail {
				s.Failures = append(s.Failures, ScenarioFailure{
					Feature: f.URI, Scenario: el.Name, Line: el.Line, Tags: tags,
					Step: strings.TrimSpace(failed.Keyword) + " " + failed.Name, Error: failed.Result.Error,
				})
			}
		}
	}
	return s, nil
}

func reindex(rs []RequirementResult) map[string]*RequirementResult {
	m := make(map[string]*RequirementResult, len(rs))
	for i := range rs {
		m[rs[i].ID] = &rs[i]
	}
	return m
}

// scenarioStatus is FAIL when a step failed (or is undefined, pending or
// ambiguous: the suite runs strict), PASS when some step passed and none
// failed, SKIP otherwise. It returns the first failing step.
func scenarioStatus(steps []cukeStep) (string, cukeStep) {
	passed := false
	for _, st := range steps {
		switch st.Result.Status {
		case "failed", "undefined", "pending", "ambiguous":
			return StatusFail, st
		case "passed":
			passed = true
		}
	}
	if passed {
		return StatusPass, cukeStep{}
	}
	return StatusSkip, cukeStep{}
}

// isRequirementTag reports whether a tag (without "@") has the shape of a
// requirement ID: upper-case words joined by dashes, e.g. CA-QUOTA.
func isRequirementTag(tag string) bool {
	if !strings.Contains(tag, "-") {
		return false
	}
	for _, r := range tag {
		if (r < 'A' || r > 'Z') && (r < '0' || r > '9') && r != '-' {
			return false
		}
	}
	return true
}

// WriteTable writes the pass/fail table per requirement ID, then the
// failed scenarios and the totals.
func (s Summary) WriteTable(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "REQUIREMENT\tSTATUS\tPASSED\tFAILED\tSKIPPED\tBEHAVIOUR")
	for _, r := range s.Requirements {
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%d\t%s\n", r.ID, r.Status(), r.Passed, r.Failed, r.Skipped, r.Behaviour)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(s.Failures) > 0 {
		fmt.Fprintf(w, "\nFailed scenarios (%d):\n", len(s.Failures))
		for _, f := range s.Failures {
			fmt.Fprintf(w, "  %s:%d %s [%s]\n      %s\n      %s\n", f.Feature, f.Line, f.Scenario,
				strings.Join(f.Tags, " "), f.Step, oneLine(f.Error))
		}
	}
	for _, c := range s.CleanupWarnings {
		fmt.Fprintf(w, "cleanup warning: %s\n", c)
	}
	_, err := fmt.Fprintf(w, "\n%d scenarios: %d passed, %d failed, %d skipped in %s (seed %d)\n",
		s.Scenarios, s.Passed, s.Failed, s.Skipped, s.Duration.Round(time.Millisecond), s.Seed)
	return err
}

func oneLine(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > 400 {
		s = s[:400] + "…"
	}
	return s
}
