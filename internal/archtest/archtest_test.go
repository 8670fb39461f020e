package archtest

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// The module keeps the rule.
func TestImportRule(t *testing.T) {
	pkgs, err := List(t.Context(), ".")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"iotda", "platform/broker", "sim/device", "loadgen", "reports", "features", "check"} {
		if !slices.ContainsFunc(pkgs, func(p Package) bool { return p.ImportPath == Module+"/"+want }) {
			t.Fatalf("go list did not describe %s: the rule would check nothing", want)
		}
	}
	for _, v := range Violations(pkgs, Rules) {
		t.Error(v)
	}
}

// The checker finds violations, direct and indirect, in each direction, and
// ignores test code: a synthetic module with exactly those imports, listed by
// the real go command.
func TestImportRuleCatchesViolations(t *testing.T) {
	dir := t.TempDir()
	files := map[string]string{
		"go.mod":                      "module " + Module + "\n\ngo 1.26\n",
		"platform/registry/r.go":      "package registry\n",
		"platform/api/a.go":           "package api\n\nimport _ \"" + Module + "/sim/fleet\"\n",
		"sim/fleet/f.go":              "package fleet\n\nimport _ \"" + Module + "/platform/registry\"\n",
		"reports/r.go":                "package reports\n\nimport _ \"" + Module + "/sim/fleet\"\n", // only indirectly
		"loadgen/l.go":                "package loadgen\n",
		"loadgen/l_test.go":           "package loadgen\n\nimport _ \"" + Module + "/platform/registry\"\n", // tests may
		"iotda/i.go":                  "package iotda\n\nimport _ \"" + Module + "/loadgen\"\n",
		"cmd/certlab/main.go":         "package main\n\nimport _ \"" + Module + "/platform/api\"\n\nfunc main() {}\n", // cmd may
		"features/f.go":               "package features\n\nimport _ \"" + Module + "/iotda\"\n",
		"platform/platformtest/pt.go": "package platformtest\n\nimport _ \"" + Module + "/platform/api\"\n",
	}
	for name, src := range files {
		path := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	pkgs, err := List(t.Context(), dir, "GOWORK=off", "GOFLAGS=-mod=mod", "GOTOOLCHAIN=local")
	if err != nil {
		t.Fatal(err)
	}
	got := Violations(pkgs, Rules)
	want := []string{
		"platform/api imports sim/fleet: " + Rules[1].Why,
		"platform/platformtest depends on sim/fleet: " + Rules[1].Why,
		"sim/fleet imports platform/registry: " + Rules[0].Why,
		"reports depends on platform/registry: " + Rules[0].Why,
		"iotda imports loadgen: " + Rules[2].Why,
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("violations\n  %q\nwant\n  %q", got, want)
	}
}
