package reports

// runparts.go: the other parts of a run that a report can show beside the
// login load — the Gherkin suite (certlab bdd) and the device fleet (certlab
// sim). They are plain views filled by the caller (cmd/certlab reads the
// cucumber JSON through the features package and the fleet summary JSON
// through sim/fleet), so that this package imports neither the suite nor the
// simulator and still renders anywhere.

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/certlab/certlab/loadgen/result"
)

// BDD is a Gherkin run as the report shows it: scenario counts and the
// result per requirement ID.
type BDD struct {
	Source    string // the file it was read from
	Scenarios int
	Passed    int
	Failed    int
	Skipped   int
	// Requirements: one row per requirement ID, in catalogue order.
	Requirements []BDDRequirement
	Failures     []BDDFailure
}

// BDDRequirement counts the scenarios tagged with one requirement ID.
type BDDRequirement struct {
	ID        string
	Behaviour string
	Status    string // "PASS", "FAIL", "SKIP" or "NOT RUN"
	Passed    int
	Failed    int
	Skipped   int
}

// BDDFailure is one failed scenario.
type BDDFailure struct {
	Feature  string // feature file
	Line     int
	Scenario string
	Tags     []string
	Step     string // the failing step
	Error    string
}

// StatusCounts counts the requirements by status, in the order PASS, FAIL,
// SKIP, NOT RUN (statuses with no requirement left out): "22 PASS, 3 NOT RUN".
func (b *BDD) StatusCounts() string {
	n := map[string]int{}
	for _, r := range b.Requirements {
		n[r.Status]++
	}
	var parts []string
	for _, st := range []string{"PASS", "FAIL", "SKIP", "NOT RUN"} {
		if n[st] > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", n[st], st))
		}
	}
	return strings.Join(parts, ", ")
}

// Fleet is a device fleet run (certlab sim) as the report shows it.
type Fleet struct {
	Source string // the file it was read from
	MQTT   string // "3.1.1", "5" or "mix"
	// Enrolment, when the run registered its devices.
	Enrolled, EnrolDevices int
	VerifiedCAs, CAs       int
	EnrolElapsed           time.Duration

	Devices, Connected, PeakOnline, OnlineAtEnd int

	LoginAttempts, LoginSucceeded, LoginRefused, LoginFailed int
	RefusedByReason, FailedByReason                          map[string]int

	Drops, Reconnects, Churns, GaveUp int
	DropsByCause                      map[string]int

	MessagesSent, PublishesDenied, PublishErrors, MessagesReceived, SubscribesRefused int
	BehaviourErrors                                                                   int
	BehaviourErrorSample                                                              string

	// Connect is the login latency of successful logins (TCP + TLS + CONNECT -> CONNACK).
	Connect FleetLatency
	Elapsed time.Duration
}

// FleetLatency are percentiles of the fleet's successful logins.
type FleetLatency struct {
	Count              int64
	P50, P90, P99, Max time.Duration
}

// reasonCount is one row of a reason table.
type reasonCount struct {
	Kind    string // "refused", "failed", "dropped"
	Reason  string
	Meaning string
	Count   int
}

// Reasons are the fleet's refusals, failures and session drops by reason,
// each by descending count, with what each reason means.
func (fl *Fleet) reasons() []reasonCount {
	var out []reasonCount
	add := func(kind string, m map[string]int) {
		keys := slices.Sorted(maps.Keys(m))
		slices.SortStableFunc(keys, func(a, b string) int { return m[b] - m[a] })
		for _, k := range keys {
			out = append(out, reasonCount{Kind: kind, Reason: k, Meaning: reasonMeaning(k), Count: m[k]})
		}
	}
	add("refused", fl.RefusedByReason)
	add("failed", fl.FailedByReason)
	add("dropped", fl.DropsByCause)
	return out
}

// glances are the cards at the top of a run report: one per part of the run.
func glances(s *result.Summary, bdd *BDD, fl *Fleet) []glance {
	var out []glance
	if bdd != nil {
		g := glance{Part: "Gherkin suite", Value: fmt.Sprintf("%d / %d scenarios passed", bdd.Passed, bdd.Scenarios),
			Detail: fmt.Sprintf("%d failed, %d skipped; requirements: %s", bdd.Failed, bdd.Skipped, bdd.StatusCounts()),
			Bad:    bdd.Failed > 0 || bdd.Scenarios == 0}
		out = append(out, g)
	}
	if fl != nil {
		g := glance{Part: "device fleet", Value: fmt.Sprintf("%d / %d devices connected", fl.Connected, fl.Devices),
			Detail: fmt.Sprintf("%d logins: %d succeeded, %d refused, %d failed; %d messages sent",
				fl.LoginAttempts, fl.LoginSucceeded, fl.LoginRefused, fl.LoginFailed, fl.MessagesSent),
			Bad: fl.Connected < fl.Devices || fl.LoginFailed > 0 || fl.BehaviourErrors > 0}
		out = append(out, g)
	}
	if p := Primary(s); p != nil {
		g := glance{Part: "login load: " + p.Server, Value: fmt.Sprintf("%.1f logins/s", p.SuccessRate),
			Detail: fmt.Sprintf("p99 %.2f ms; %d attempts, %d unexpected outcomes", ms(p.Latency[result.MetricTotal].P99), p.Attempts, p.Unexpected),
			Bad:    p.Success == 0 || p.Unexpected > 0}
		out = append(out, g)
	}
	return out
}
