package archtest

import (
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// docCitation matches a citation of a project document, with the section
// it names if any: "docs/iotda.md §8.5", "docs/libraries.md A1.4",
// "requirements.md". The path before the name is checked separately.
var docCitation = regexp.MustCompile(`([\w./-]*?)\b(design|requirements|iotda|libraries|performance|style)\.md(?: (§\d+(?:\.\d+)?|[AB]\d+(?:\.\d+)?))?`)

// Every citation of a document in the code, the feature files, the scripts
// and the README resolves inside the repository: the file is in docs/ and the
// section it names is one of its headings.
func TestDocCitationsResolve(t *testing.T) {
	root := filepath.Join("..", "..")
	headings := map[string]string{} // docs file -> its text
	cited := 0
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		if d.IsDir() {
			if strings.HasPrefix(d.Name(), ".") && rel != "." || rel == "docs" || d.Name() == "testdata" || d.Name() == "bin" || d.Name() == "out" {
				return filepath.SkipDir
			}
			return nil
		}
		switch filepath.Ext(path) {
		case ".go", ".feature", ".sh", ".yaml", ".md":
		default:
			if d.Name() != "Makefile" {
				return nil
			}
		}
		if rel == filepath.Join("internal", "archtest", "docs_test.go") { // its comments show citations
			return nil
		}
		src, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for _, line := range strings.Split(string(src), "\n") {
			for _, m := range docCitation.FindAllStringSubmatch(line, -1) {
				prefix, name, section := m[1], m[2], m[3]
				cited++
				if !strings.HasSuffix(prefix, "docs/") { // "docs/x.md", or "../docs/x.md" in a test that reads it
					t.Errorf("%s: %q cites %s.md outside docs/ (want docs/%s.md)", rel, m[0], name, name)
					continue
				}
				doc, ok := headings[name]
				if !ok {
					b, err := os.ReadFile(filepath.Join(root, "docs", name+".md"))
					if err != nil {
						t.Errorf("%s: %q: %v", rel, m[0], err)
						continue
					}
					doc = string(b)
					headings[name] = doc
				}
				if section != "" && !hasHeading(doc, strings.TrimPrefix(section, "§")) {
					t.Errorf("%s: %q: docs/%s.md has no section %s", rel, m[0], name, section)
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if cited == 0 {
		t.Fatal("no citation found: the walk read nothing")
	}
}

// hasHeading reports whether a Markdown document has a heading numbered id
// ("8.5", "A1.4", "B1").
func hasHeading(doc, id string) bool {
	return regexp.MustCompile(`(?m)^#+ ` + regexp.QuoteMeta(id) + `[. ]`).MatchString(doc)
}
