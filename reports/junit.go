package reports

import (
	"encoding/xml"
	"fmt"
	"io"
)

type junitSuites struct {
	XMLName  xml.Name     `xml:"testsuites"`
	Name     string       `xml:"name,attr"`
	Tests    int          `xml:"tests,attr"`
	Failures int          `xml:"failures,attr"`
	Suites   []junitSuite `xml:"testsuite"`
}

type junitSuite struct {
	Name     string      `xml:"name,attr"`
	Tests    int         `xml:"tests,attr"`
	Failures int         `xml:"failures,attr"`
	Cases    []junitCase `xml:"testcase"`
}

type junitCase struct {
	Name      string        `xml:"name,attr"`
	Classname string        `xml:"classname,attr"`
	Failure   *junitFailure `xml:"failure,omitempty"`
	Output    string        `xml:"system-out,omitempty"`
}

type junitFailure struct {
	Message string `xml:"message,attr"`
	Type    string `xml:"type,attr"`
	Text    string `xml:",chardata"`
}

// JUnit writes one test case per threshold check (a failure when violated)
// and, with a comparison, one per compared metric.
func JUnit(checks []Check, cmp *Comparison) Reporter {
	return func(w io.Writer) error {
		out := junitSuites{Name: "certlab loadgen"}
		th := junitSuite{Name: "thresholds"}
		for _, c := range checks {
			tc := junitCase{Name: fmt.Sprintf("%s (%s)", c.Name, c.Server), Classname: "certlab.loadgen.thresholds", Output: c.Message}
			if !c.Pass {
				tc.Failure = &junitFailure{Message: c.Message, Type: "threshold", Text: c.Message}
				th.Failures++
			}
			th.Cases = append(th.Cases, tc)
		}
		th.Tests = len(th.Cases)
		out.Suites = append(out.Suites, th)
		if cmp != nil {
			cs := junitSuite{Name: "comparison"}
			for _, r := range cmp.Rows {
				msg := fmt.Sprintf("%s %s: %s -> %s (%+.1f%%)", r.Server, r.Metric, num(r.Old, r.Unit), num(r.New, r.Unit), r.Change*100)
				tc := junitCase{Name: fmt.Sprintf("%s (%s)", r.Metric, r.Server), Classname: "certlab.loadgen.comparison", Output: msg}
				if r.Regressed {
					m := fmt.Sprintf("%s; regression beyond %.0f%%", msg, cmp.MaxRegression*100)
					tc.Failure = &junitFailure{Message: m, Type: "regression", Text: m}
					cs.Failures++
				}
				cs.Cases = append(cs.Cases, tc)
			}
			cs.Tests = len(cs.Cases)
			out.Suites = append(out.Suites, cs)
		}
		for _, s := range out.Suites {
			out.Tests += s.Tests
			out.Failures += s.Failures
		}
		if _, err := io.WriteString(w, xml.Header); err != nil {
			return err
		}
		enc := xml.NewEncoder(w)
		enc.Indent("", "  ")
		if err := enc.Encode(out); err != nil {
			return fmt.Errorf("junit: %w", err)
		}
		_, err := io.WriteString(w, "\n")
		return err
	}
}
