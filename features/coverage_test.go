package features

import (
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	gherkin "github.com/cucumber/gherkin/go/v42"
	messages "github.com/cucumber/messages/go/v34"
)

// scenarioInfo is one scenario (or outline) of the embedded feature files.
type scenarioInfo struct {
	file, name string
	line       int64
	outline    bool
	tags       []string // feature, scenario and examples tags, without "@"
}

// parseFeatures parses every embedded .feature file with the Gherkin parser.
func parseFeatures(t *testing.T) (docs map[string]*messages.GherkinDocument, scenarios []scenarioInfo) {
	t.Helper()
	docs = map[string]*messages.GherkinDocument{}
	n := 0
	newID := func() string { n++; return strconv.Itoa(n) }
	err := fs.WalkDir(Files, ".", func(path string, d fs.DirEntry, err error) error {
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
			t.Errorf("%s: %v", path, err)
			return nil
		}
		docs[path] = doc
		if doc.Feature == nil {
			t.Errorf("%s: no Feature", path)
			return nil
		}
		featTags := tagNames(doc.Feature.Tags)
		for _, child := range doc.Feature.Children {
			sc := child.Scenario
			if sc == nil {
				continue
			}
			info := scenarioInfo{file: path, name: sc.Name, line: sc.Location.Line, outline: len(sc.Examples) > 0,
				tags: append(slices.Clone(featTags), tagNames(sc.Tags)...)}
			for _, ex := range sc.Examples {
				info.tags = append(info.tags, tagNames(ex.Tags)...)
			}
			scenarios = append(scenarios, info)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(docs) == 0 {
		t.Fatal("no feature files embedded")
	}
	return docs, scenarios
}

func tagNames(tags []*messages.Tag) []string {
	var out []string
	for _, tg := range tags {
		out = append(out, strings.TrimPrefix(tg.Name, "@"))
	}
	return out
}

// TestEveryRequirementIsCovered fails when an ID of docs/requirements.md
// (the Requirements catalogue) has no scenario, or a scenario carries a
// requirement-like tag that is not in the catalogue (a typo would otherwise
// silently cover nothing).
func TestEveryRequirementIsCovered(t *testing.T) {
	_, scenarios := parseFeatures(t)
	covered := map[string]int{}
	known := map[string]bool{}
	for _, r := range Requirements {
		known[r.ID] = true
	}
	for _, s := range scenarios {
		ids := 0
		for _, tag := range s.tags {
			if !isRequirementTag(tag) {
				continue
			}
			ids++
			covered[tag]++
			if !known[tag] {
				t.Errorf("%s:%d %q: tag @%s is not a requirement ID of the catalogue", s.file, s.line, s.name, tag)
			}
		}
		if ids == 0 {
			t.Errorf("%s:%d %q carries no requirement ID tag", s.file, s.line, s.name)
		}
	}
	for _, r := range Requirements {
		if covered[r.ID] == 0 {
			t.Errorf("requirement %s (%s) is covered by no scenario", r.ID, r.Behaviour)
		}
	}
	t.Logf("%d scenarios cover %d requirement IDs", len(scenarios), len(covered))
}

// TestRequirementCatalogueIsWellFormed guards the copy of the ID list: the
// IDs of docs/requirements.md, in its order, each once.
func TestRequirementCatalogueIsWellFormed(t *testing.T) {
	doc, err := os.ReadFile("../docs/requirements.md")
	if err != nil {
		t.Fatal(err)
	}
	var want, got []string
	for _, m := range regexp.MustCompile(`(?m)^\| ([A-Z][A-Z0-9]*(?:-[A-Z0-9]+)+) \|`).FindAllSubmatch(doc, -1) {
		want = append(want, string(m[1]))
	}
	for _, r := range Requirements {
		got = append(got, r.ID)
	}
	if len(want) == 0 || !slices.Equal(got, want) {
		t.Errorf("the catalogue has the IDs\n  %v\ndocs/requirements.md has\n  %v\nupdate both together", got, want)
	}
	seen := map[string]bool{}
	for _, r := range Requirements {
		if !isRequirementTag(r.ID) || r.Behaviour == "" {
			t.Errorf("malformed catalogue entry %+v", r)
		}
		if seen[r.ID] {
			t.Errorf("duplicate ID %s", r.ID)
		}
		seen[r.ID] = true
	}
}

var sourceURL = regexp.MustCompile(`https://\S+|docs/iotda\.md`)

// citedDoc finds repository documents cited in a feature description.
var citedDoc = regexp.MustCompile(`\b(docs/[A-Za-z0-9_.-]+\.md)\b`)

// TestFeaturesCiteTheirSources: every feature's description names the IoTDA
// documentation it checks, and every outline has a <placeholder> in its title
// (godog names subtests and report rows after the title alone).
func TestFeaturesCiteTheirSources(t *testing.T) {
	docs, scenarios := parseFeatures(t)
	for path, doc := range docs {
		desc := doc.Feature.Description
		if !strings.Contains(desc, "Sources:") || !sourceURL.MatchString(desc) {
			t.Errorf("%s: the feature description must cite its sources (\"Sources:\" and a doc URL or docs/iotda.md section)", path)
		}
		for _, m := range citedDoc.FindAllStringSubmatch(desc, -1) {
			if _, err := os.Stat(filepath.Join("..", m[1])); err != nil {
				t.Errorf("%s cites %s, which is not in the repository: %v", path, m[1], err)
			}
		}
	}
	for _, s := range scenarios {
		if s.outline && !strings.Contains(s.name, "<") {
			t.Errorf("%s:%d outline %q has no <placeholder> in its title", s.file, s.line, s.name)
		}
	}
}
