package features

// pretty.go: the "pretty" output, written for people reading a CI log. godog's
// own pretty formatter prints a Scenario Outline as one table whose rows come
// from whichever examples finish next, so with concurrent scenarios rows of
// different outlines interleave; it marks results only with colours (off
// without a TTY) and prints Go source locations. This one prints every
// scenario whole, grouped under its feature in file order (a feature is
// printed once all its selected scenarios have run), with a PASS/FAIL word
// on each scenario and a mark on each step, and step locations only when
// verbose.

import (
	"fmt"
	"io"
	"reflect"
	"runtime"
	"slices"
	"strings"
	"sync"

	"github.com/cucumber/godog"
	"github.com/cucumber/godog/formatters"
	messages "github.com/cucumber/messages/go/v34"
)

// prettyFormat is the godog format name of the formatter.
const prettyFormat = "certlab-pretty"

func init() {
	godog.Format(prettyFormat, "certlab's CI-readable pretty output", newPrettyFormatter)
}

// prettyPlan is what the next pretty formatter must know about the run: godog
// builds formatters from a name, so Run (serialised by runMu) sets this first.
var prettyPlan struct {
	selected map[string]int // feature URI -> scenarios selected to run
	verbose  bool
}

// Step marks, one character wide so that the step texts line up.
const (
	markPassed    = "✓"
	markFailed    = "✗"
	markSkipped   = "-"
	markUndefined = "?"
)

type prettyFormatter struct {
	mu       sync.Mutex // godog flushes concurrent scenarios from their own goroutines
	w        io.Writer
	verbose  bool
	selected map[string]int

	order    []string // feature URIs in the order godog announced them
	features map[string]*prettyFeature
	running  map[string]*prettyScenario // pickle ID -> scenario not yet finished
	printed  int                        // features of order already printed
}

type prettyFeature struct {
	doc      *messages.GherkinDocument
	rows     map[string]exampleRow // AST node ID of an examples row -> the row
	lines    map[string]int64      // AST node ID of a scenario or row -> its line
	keywords map[string]string     // AST node ID of a step -> "Given ", "And "...
	done     []*prettyScenario
}

type exampleRow struct {
	header, cells []string
}

type prettyScenario struct {
	pickle *messages.Pickle
	uri    string
	line   int64
	steps  []prettyStep
}

type prettyStep struct {
	step   *messages.PickleStep
	mark   string
	status string // after the step text: "(skipped)", "(undefined ...)"
	err    string // the step's error, printed below it
	def    *formatters.StepDefinition
}

func newPrettyFormatter(_ string, w io.Writer) formatters.Formatter {
	return &prettyFormatter{
		w: w, verbose: prettyPlan.verbose, selected: prettyPlan.selected,
		features: map[string]*prettyFeature{}, running: map[string]*prettyScenario{},
	}
}

func (f *prettyFormatter) TestRunStarted() {}

// Feature indexes the document's scenario and examples-row lines.
func (f *prettyFormatter) Feature(doc *messages.GherkinDocument, uri string, _ []byte) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, dup := f.features[uri]; dup {
		return
	}
	pf := &prettyFeature{doc: doc, rows: map[string]exampleRow{}, lines: map[string]int64{}, keywords: map[string]string{}}
	if doc.Feature != nil {
		for _, child := range doc.Feature.Children {
			for _, st := range stepsOf(child) {
				pf.keywords[st.Id] = st.Keyword
			}
			for _, sc := range scenariosOf(child) {
				pf.lines[sc.Id] = sc.Location.Line
				for _, ex := range sc.Examples {
					var header []string
					if ex.TableHeader != nil {
						header = cellValues(ex.TableHeader.Cells)
					}
					for _, row := range ex.TableBody {
						pf.lines[row.Id] = row.Location.Line
						pf.rows[row.Id] = exampleRow{header: header, cells: cellValues(row.Cells)}
					}
				}
			}
		}
	}
	f.features[uri] = pf
	f.order = append(f.order, uri)
}

// scenariosOf returns the scenarios of a feature child, inside rules too.
func scenariosOf(child *messages.FeatureChild) []*messages.Scenario {
	if child.Scenario != nil {
		return []*messages.Scenario{child.Scenario}
	}
	var out []*messages.Scenario
	if child.Rule != nil {
		for _, rc := range child.Rule.Children {
			if rc.Scenario != nil {
				out = append(out, rc.Scenario)
			}
		}
	}
	return out
}

// stepsOf returns the steps of a feature child: a background, a scenario or a rule's.
func stepsOf(child *messages.FeatureChild) []*messages.Step {
	var out []*messages.Step
	if child.Background != nil {
		out = append(out, child.Background.Steps...)
	}
	for _, sc := range scenariosOf(child) {
		out = append(out, sc.Steps...)
	}
	if child.Rule != nil {
		for _, rc := range child.Rule.Children {
			if rc.Background != nil {
				out = append(out, rc.Background.Steps...)
			}
		}
	}
	return out
}

func cellValues(cells []*messages.TableCell) []string {
	out := make([]string, len(cells))
	for i, c := range cells {
		out[i] = c.Value
	}
	return out
}

func (f *prettyFormatter) Pickle(p *messages.Pickle) {
	f.mu.Lock()
	defer f.mu.Unlock()
	sc := &prettyScenario{pickle: p, uri: p.Uri}
	if pf := f.features[p.Uri]; pf != nil {
		sc.line = pf.lines[p.AstNodeIds[len(p.AstNodeIds)-1]]
	}
	f.running[p.Id] = sc
	if len(p.Steps) == 0 { // godog fails a scenario without steps
		f.finish(sc)
	}
}

func (f *prettyFormatter) Defined(*messages.Pickle, *messages.PickleStep, *formatters.StepDefinition) {
}

func (f *prettyFormatter) Passed(p *messages.Pickle, s *messages.PickleStep, d *formatters.StepDefinition) {
	f.step(p, prettyStep{step: s, mark: markPassed, def: d})
}

func (f *prettyFormatter) Failed(p *messages.Pickle, s *messages.PickleStep, d *formatters.StepDefinition, err error) {
	f.step(p, prettyStep{step: s, mark: markFailed, err: fmt.Sprint(err), def: d})
}

func (f *prettyFormatter) Skipped(p *messages.Pickle, s *messages.PickleStep, d *formatters.StepDefinition) {
	f.step(p, prettyStep{step: s, mark: markSkipped, status: "(skipped)", def: d})
}

func (f *prettyFormatter) Undefined(p *messages.Pickle, s *messages.PickleStep, d *formatters.StepDefinition) {
	f.step(p, prettyStep{step: s, mark: markUndefined, status: "(undefined: no step definition matches)", def: d})
}

func (f *prettyFormatter) Pending(p *messages.Pickle, s *messages.PickleStep, d *formatters.StepDefinition) {
	f.step(p, prettyStep{step: s, mark: markUndefined, status: "(pending)", def: d})
}

func (f *prettyFormatter) Ambiguous(p *messages.Pickle, s *messages.PickleStep, d *formatters.StepDefinition, err error) {
	f.step(p, prettyStep{step: s, mark: markFailed, status: "(ambiguous)", err: fmt.Sprint(err), def: d})
}

// step records one step's result; the last step finishes the scenario.
func (f *prettyFormatter) step(p *messages.Pickle, s prettyStep) {
	f.mu.Lock()
	defer f.mu.Unlock()
	sc := f.running[p.Id]
	if sc == nil {
		return
	}
	sc.steps = append(sc.steps, s)
	if len(sc.steps) >= len(p.Steps) {
		f.finish(sc)
	}
}

// finish files a finished scenario under its feature and prints every
// feature that is complete and whose predecessors are printed.
func (f *prettyFormatter) finish(sc *prettyScenario) {
	delete(f.running, sc.pickle.Id)
	if pf := f.features[sc.uri]; pf != nil {
		pf.done = append(pf.done, sc)
	}
	for f.printed < len(f.order) {
		uri := f.order[f.printed]
		if len(f.features[uri].done) < f.selected[uri] {
			return
		}
		f.printFeature(uri)
		f.printed++
	}
}

// Summary prints what is left: features cut short (a scenario that never
// reported all its steps) are printed as they are.
func (f *prettyFormatter) Summary() {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, sc := range f.running {
		if pf := f.features[sc.uri]; pf != nil {
			pf.done = append(pf.done, sc)
		}
	}
	clear(f.running)
	for ; f.printed < len(f.order); f.printed++ {
		f.printFeature(f.order[f.printed])
	}
}

func (f *prettyFormatter) printFeature(uri string) {
	pf := f.features[uri]
	if len(pf.done) == 0 {
		return
	}
	name := uri
	if pf.doc.Feature != nil {
		name = pf.doc.Feature.Name
	}
	fmt.Fprintf(f.w, "\nFeature: %s  (%s)\n", name, uri)
	slices.SortStableFunc(pf.done, func(a, b *prettyScenario) int { return int(a.line - b.line) })
	for _, sc := range pf.done {
		f.printScenario(pf, sc)
	}
}

func (f *prettyFormatter) printScenario(pf *prettyFeature, sc *prettyScenario) {
	var b strings.Builder
	fmt.Fprintf(&b, "\n  %s  %s", scenarioVerdict(sc), sc.pickle.Name)
	if ids := sc.pickle.AstNodeIds; len(ids) > 1 {
		if row, ok := pf.rows[ids[len(ids)-1]]; ok {
			fmt.Fprintf(&b, "  [%s]", row.String())
		}
	}
	fmt.Fprintf(&b, "  (%s:%d)", sc.uri, sc.line)
	if tags := pickleTags(sc.pickle); len(tags) > 0 {
		fmt.Fprintf(&b, "  %s", strings.Join(tags, " "))
	}
	b.WriteByte('\n')
	for _, st := range sc.steps {
		fmt.Fprintf(&b, "      %s %s%s", st.mark, pf.keywords[st.step.AstNodeIds[0]], st.step.Text)
		if st.status != "" {
			fmt.Fprintf(&b, " %s", st.status)
		}
		if f.verbose && st.def != nil {
			fmt.Fprintf(&b, "   # %s", stepLocation(st.def))
		}
		b.WriteByte('\n')
		if st.err != "" {
			for _, line := range strings.Split(strings.TrimRight(st.err, "\n"), "\n") {
				fmt.Fprintf(&b, "          %s\n", line)
			}
		}
	}
	_, _ = io.WriteString(f.w, b.String())
}

// scenarioVerdict is PASS, FAIL or SKIP (no step passed or failed), as in
// the requirement table.
func scenarioVerdict(sc *prettyScenario) string {
	passed := false
	for _, st := range sc.steps {
		switch st.mark {
		case markFailed, markUndefined:
			return StatusFail
		case markPassed:
			passed = true
		}
	}
	if len(sc.pickle.Steps) == 0 || len(sc.steps) < len(sc.pickle.Steps) {
		return StatusFail // no steps, or cut short
	}
	if passed {
		return StatusPass
	}
	return StatusSkip
}

func (r exampleRow) String() string {
	parts := make([]string, len(r.cells))
	for i, c := range r.cells {
		if i < len(r.header) {
			parts[i] = r.header[i] + "=" + c
		} else {
			parts[i] = c
		}
	}
	return strings.Join(parts, ", ")
}

func pickleTags(p *messages.Pickle) []string {
	out := make([]string, 0, len(p.Tags))
	for _, t := range p.Tags {
		out = append(out, t.Name)
	}
	return out
}

// stepLocation is the Go function (file:line) that implements a step.
func stepLocation(d *formatters.StepDefinition) string {
	v := reflect.ValueOf(d.Handler)
	if v.Kind() != reflect.Func {
		return d.Expr.String()
	}
	fn := runtime.FuncForPC(v.Pointer())
	if fn == nil {
		return d.Expr.String()
	}
	file, line := fn.FileLine(v.Pointer())
	return fmt.Sprintf("%s:%d", file, line)
}
