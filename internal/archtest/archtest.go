// Package archtest states certlab's one architecture rule — dependencies
// point one way, cmd -> {features, sim, loadgen, reports, check, platform}
// -> iotda — and checks the module against it with `go list`. Its test runs
// in `make test` (go test ./...), so an import that breaks the rule fails CI
// instead of holding by care alone.
//
// The harness (features, sim, loadgen, reports, check, preflight) reaches a platform
// only through a target (REST + MQTTS), so that the same code tests a real
// deployment; the embedded platform is wired in cmd/ and in tests. The
// platform imports none of the harness. iotda, the wire contract, imports
// nothing else of the module. Only non-test code counts: tests may start an
// embedded platform (platform/platformtest).
package archtest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"slices"
	"strings"
)

// Module is certlab's module path.
const Module = "github.com/certlab/certlab"

// harness are the parts that test a platform from outside.
var harness = []string{"features", "sim", "loadgen", "reports", "check", "preflight"}

// Rule forbids the non-test code of the packages under From to depend,
// directly or not, on any package under To. Paths are relative to Module; a
// path covers its subpackages.
type Rule struct {
	From []string
	To   []string
	Why  string
}

// Rules is the architecture of docs/design.md, "Layout".
var Rules = []Rule{
	{
		From: append(slices.Clone(harness), "iotda"),
		To:   []string{"platform"},
		Why:  "the harness reaches a platform only through a target, so the same code tests a real deployment",
	},
	{
		From: []string{"platform"},
		To:   harness,
		Why:  "the platform imports none of the harness",
	},
	{
		From: []string{"iotda"},
		To:   []string{"cmd", "platform", "features", "sim", "loadgen", "reports", "check", "preflight", "compat", "internal"},
		Why:  "iotda is the wire contract every other part builds on",
	},
}

// Package is one package as `go list` describes it.
type Package struct {
	ImportPath string
	Imports    []string // direct imports of its non-test code
	Deps       []string // every package its non-test code depends on, directly or not
}

// Violations returns one sentence per package and rule it breaks, naming
// the forbidden dependencies (and whether they are direct imports).
func Violations(pkgs []Package, rules []Rule) []string {
	var out []string
	for _, p := range pkgs {
		for _, r := range rules {
			if !under(p.ImportPath, r.From) {
				continue
			}
			var bad []string
			for _, d := range p.Deps {
				if !under(d, r.To) {
					continue
				}
				how := "depends on"
				if slices.Contains(p.Imports, d) {
					how = "imports"
				}
				bad = append(bad, how+" "+rel(d))
			}
			if len(bad) > 0 {
				out = append(out, fmt.Sprintf("%s %s: %s", rel(p.ImportPath), strings.Join(bad, ", "), r.Why))
			}
		}
	}
	return out
}

// under reports whether an import path is one of the module-relative paths
// or below one.
func under(importPath string, paths []string) bool {
	r, ok := strings.CutPrefix(importPath, Module+"/")
	if !ok {
		return false
	}
	for _, p := range paths {
		if r == p || strings.HasPrefix(r, p+"/") {
			return true
		}
	}
	return false
}

func rel(importPath string) string { return strings.TrimPrefix(importPath, Module+"/") }

// List describes every package of the module rooted at or above dir, with
// `go list` (the go command on PATH). env is added to the go command's
// environment.
func List(ctx context.Context, dir string, env ...string) ([]Package, error) {
	cmd := exec.CommandContext(ctx, "go", "list", "-e", "-json=ImportPath,Imports,Deps,Error", Module+"/...")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("go list: %w: %s", err, stderr.Bytes())
	}
	var pkgs []Package
	dec := json.NewDecoder(bytes.NewReader(out))
	for {
		var p struct {
			Package
			Error *struct{ Err string }
		}
		if err := dec.Decode(&p); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			return nil, fmt.Errorf("go list: decode: %w", err)
		}
		if p.Error != nil {
			return nil, fmt.Errorf("go list: %s: %s", p.ImportPath, p.Error.Err)
		}
		pkgs = append(pkgs, p.Package)
	}
	if len(pkgs) == 0 {
		return nil, errors.New("go list: no packages")
	}
	return pkgs, nil
}
