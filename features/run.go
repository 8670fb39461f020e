package features

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/cucumber/godog"

	"github.com/certlab/certlab/iotda"
)

// Files holds the feature files, by capability directory.
//
//go:embed ca devices login acl mqtt
var Files embed.FS

// Paths are the directories of Files the suite runs.
var Paths = []string{"ca", "devices", "login", "acl", "mqtt"}

// Output formats for Options.Format.
const (
	FormatPretty   = "pretty"
	FormatProgress = "progress"
)

// DefaultConcurrency is the number of scenarios run at once when
// Options.Concurrency is 0.
const DefaultConcurrency = 4

// Options configure Run.
type Options struct {
	Target *iotda.Target // required: where the platform under test is
	// Tags is a Cucumber tag expression ("@login and not (@slow or @CA-QUOTA)";
	// godog's "~", "&&" and "," also work); "" runs everything. Unless
	// @reference is enabled, @reference scenarios are left out. An
	// expression that selects no scenario is an error.
	Tags    string
	Format  string    // FormatPretty or FormatProgress (default) on Output
	Output  io.Writer // default os.Stdout
	Verbose bool      // pretty: print the Go step definition of each step

	JUnitPath    string // JUnit XML report; "" = none
	CucumberPath string // cucumber JSON report; "" = a temporary file, removed

	Concurrency int   // scenarios at once; default DefaultConcurrency
	Seed        int64 // scenario order; 0 = random (printed and returned in Summary.Seed)

	// Reference says the target is certlab's reference platform: it enables
	// the @reference scenarios and the login-attempt log checks. Default:
	// enabled when the target has an admin token.
	Reference bool
}

// runMu serialises Run: godog keeps its seed in process environment
// variables (GODOG_SEED), so two suites cannot run at once in one process.
var runMu sync.Mutex

// Run runs the suite against opts.Target and summarises the result. A
// failing scenario is a result (Summary.Failed > 0), not an error; the
// error is for faults of the harness itself (bad options, unreadable
// reports).
func Run(ctx context.Context, opts Options) (Summary, error) {
	if opts.Target == nil {
		return Summary{}, errors.New("run features: a target is required")
	}
	if opts.Format == "" {
		opts.Format = FormatProgress
	}
	if opts.Format != FormatPretty && opts.Format != FormatProgress {
		return Summary{}, fmt.Errorf("run features: format %q is not %q or %q", opts.Format, FormatPretty, FormatProgress)
	}
	if opts.Output == nil {
		opts.Output = os.Stdout
	}
	if opts.Concurrency <= 0 {
		opts.Concurrency = DefaultConcurrency
	}
	for _, p := range []string{opts.JUnitPath, opts.CucumberPath} {
		if strings.Contains(p, ",") {
			return Summary{}, fmt.Errorf("run features: report path %q must not contain a comma", p)
		}
	}
	reference := opts.Reference || opts.Target.AdminToken != ""
	sel, err := selectScenarios(opts.Tags, reference)
	if err != nil {
		return Summary{}, fmt.Errorf("run features: %w", err)
	}
	tags := sel.Filter
	seed := opts.Seed
	if seed == 0 {
		seed = rand.Int64N(1<<53) + 1
	}

	env, err := newEnv(opts.Target, reference)
	if err != nil {
		return Summary{}, fmt.Errorf("run features: %w", err)
	}

	cucumberPath := opts.CucumberPath
	if cucumberPath == "" {
		f, err := os.CreateTemp("", "certlab-cucumber-*.json")
		if err != nil {
			return Summary{}, fmt.Errorf("run features: %w", err)
		}
		cucumberPath = f.Name()
		_ = f.Close()
		defer os.Remove(cucumberPath)
	}
	format := opts.Format
	if format == FormatPretty {
		format = prettyFormat
	}
	format += ",cucumber:" + cucumberPath
	if opts.JUnitPath != "" {
		format += ",junit:" + opts.JUnitPath
	}

	fmt.Fprintf(opts.Output, "certlab bdd: target %s (%s), %d scenarios selected (tags %q), concurrency %d, reference checks %v\n",
		opts.Target.Name, opts.Target.APIEndpoint, sel.Total, opts.Tags, opts.Concurrency, reference)
	for _, u := range sel.Unknown {
		fmt.Fprintf(opts.Output, "warning: %s is not a tag of any scenario\n", u)
	}
	fmt.Fprintf(opts.Output, "Randomized with seed: %d (rerun in the same order with --seed %d)\n", seed, seed)

	runMu.Lock()
	defer runMu.Unlock()
	prettyPlan.selected, prettyPlan.verbose = sel.PerURI, opts.Verbose
	start := time.Now()
	status := godog.TestSuite{
		Name:                "certlab",
		ScenarioInitializer: env.initScenario,
		Options: &godog.Options{
			FS:             Files,
			Paths:          Paths,
			Tags:           tags,
			Format:         format,
			Output:         opts.Output,
			Strict:         true, // undefined or pending steps fail the suite
			Concurrency:    opts.Concurrency,
			Randomize:      seed,
			NoColors:       true,
			DefaultContext: ctx,
		},
	}.Run()
	elapsed := time.Since(start)
	if status != 0 && status != 1 {
		return Summary{}, fmt.Errorf("run features: godog option error (exit status %d); see the output above", status)
	}
	data, err := os.ReadFile(cucumberPath)
	if err != nil {
		return Summary{}, fmt.Errorf("run features: read cucumber report: %w", err)
	}
	sum, err := Summarize(data)
	if err != nil {
		return Summary{}, fmt.Errorf("run features: %w", err)
	}
	sum.Seed, sum.Duration, sum.Tags = seed, elapsed, tags
	sum.CleanupWarnings = env.cleanupWarnings()
	if status == 1 && sum.Failed == 0 {
		// godog failed the run without a failed scenario in its report
		// (e.g. a scenario without steps): never report that as a pass.
		sum.Failed++
		sum.Failures = append(sum.Failures, ScenarioFailure{Scenario: "(suite)", Error: "godog reported a failure outside any scenario"})
	}
	return sum, nil
}
