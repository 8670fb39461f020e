package features

// select.go: which scenarios a --tags expression selects, worked out from the
// embedded feature files before anything runs, so that a typo in a tag is an
// error naming the tag rather than a green run of nothing.

import (
	"fmt"
	"io/fs"
	"slices"
	"strconv"
	"strings"
	"sync"

	gherkin "github.com/cucumber/gherkin/go/v42"
)

// suiteScenario is one runnable scenario of the suite: a Scenario, or one
// Examples row of a Scenario Outline (a Gherkin "pickle").
type suiteScenario struct {
	URI  string   // feature file, e.g. "ca/quota.feature"
	Name string   // scenario name
	Tags []string // feature, scenario and examples tags, without "@"
}

// suiteScenarios parses the embedded feature files once.
var suiteScenarios = sync.OnceValues(func() ([]suiteScenario, error) {
	var out []suiteScenario
	n := 0
	newID := func() string { n++; return strconv.Itoa(n) }
	for _, dir := range Paths {
		err := fs.WalkDir(Files, dir, func(path string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() || !strings.HasSuffix(path, ".feature") {
				return err
			}
			f, err := Files.Open(path)
			if err != nil {
				return err
			}
			defer f.Close()
			doc, err := gherkin.ParseGherkinDocument(f, newID)
			if err != nil {
				return fmt.Errorf("parse %s: %w", path, err)
			}
			for _, p := range gherkin.Pickles(*doc, path, newID) {
				sc := suiteScenario{URI: path, Name: p.Name}
				for _, t := range p.Tags {
					sc.Tags = append(sc.Tags, strings.TrimPrefix(t.Name, "@"))
				}
				out = append(out, sc)
			}
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("read feature files: %w", err)
		}
	}
	return out, nil
})

// selection is the outcome of applying a --tags expression to the suite.
type selection struct {
	Filter   string         // the expression in godog's syntax
	PerURI   map[string]int // feature URI -> scenarios selected
	Total    int            // scenarios selected
	Unknown  []string       // tags of the expression no scenario carries, with "@"
	Excluded int            // scenarios left out only because they are @reference
}

// selectScenarios parses expr (a Cucumber tag expression; "" selects every
// scenario) and applies it, with @reference scenarios left out unless
// reference. It is an error when nothing is selected.
func selectScenarios(expr string, reference bool) (selection, error) {
	sel := tagSelection{reference: reference}
	if strings.TrimSpace(expr) != "" {
		e, err := parseTagExpr(expr)
		if err != nil {
			return selection{}, fmt.Errorf("tag expression %q: %w", expr, err)
		}
		sel.expr = e
	}
	filter, err := sel.godogFilter()
	if err != nil {
		return selection{}, fmt.Errorf("tag expression %q: %w", expr, err)
	}
	scenarios, err := suiteScenarios()
	if err != nil {
		return selection{}, err
	}
	out := selection{Filter: filter, PerURI: map[string]int{}}
	var known []string
	for _, sc := range scenarios {
		for _, t := range sc.Tags {
			if !slices.Contains(known, t) {
				known = append(known, t)
			}
		}
		switch {
		case sel.selects(sc.Tags):
			out.PerURI[sc.URI]++
			out.Total++
		case tagSelection{expr: sel.expr, reference: true}.selects(sc.Tags):
			out.Excluded++
		}
	}
	var hints []string
	if sel.expr != nil {
		for _, name := range tagNamesOf(sel.expr) {
			if slices.Contains(known, name) {
				continue
			}
			out.Unknown = append(out.Unknown, "@"+name)
			hint := fmt.Sprintf("@%s is not a tag of any scenario", name)
			if near, ok := closestTag(name, known); ok {
				hint += fmt.Sprintf(" (did you mean @%s?)", near)
			}
			hints = append(hints, hint)
		}
	}
	if out.Total == 0 {
		msg := fmt.Sprintf("tag expression %q selects no scenario", expr)
		if len(hints) > 0 {
			msg += ": " + strings.Join(hints, "; ")
		}
		if out.Excluded > 0 {
			msg += fmt.Sprintf(" (%d @reference scenarios match but run only against certlab's own platform: a target with admin_token)", out.Excluded)
		}
		return out, fmt.Errorf("%s", msg)
	}
	return out, nil
}

// CheckTags reports how many scenarios a --tags expression selects, or why
// it is wrong (a syntax error, or no scenario selected, naming unknown tags
// and likely typos). Run applies the same check; commands call this first
// to fail before starting a platform. reference: @reference scenarios may run.
func CheckTags(expr string, reference bool) (int, error) {
	sel, err := selectScenarios(expr, reference)
	return sel.Total, err
}
