package main

// reportparts.go: the Gherkin suite and device fleet parts of
// `certlab report --bdd FILE --fleet FILE`. They are read here, through the
// packages that own their formats (features for the cucumber report,
// sim/fleet for the fleet summary), and handed to reports as plain views,
// so that package reports imports neither the suite nor the simulator.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"

	"github.com/certlab/certlab/features"
	"github.com/certlab/certlab/reports"
	"github.com/certlab/certlab/sim/fleet"
)

// readBDD reads the cucumber JSON report that `certlab bdd --cucumber`
// writes and counts its scenarios per requirement ID of the catalogue.
func readBDD(path string) (*reports.BDD, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("--bdd: %w", err)
	}
	sum, err := features.Summarize(data)
	if err != nil {
		return nil, fmt.Errorf("--bdd %s: not the cucumber JSON of certlab bdd --cucumber: %w", path, err)
	}
	if sum.Scenarios == 0 {
		return nil, fmt.Errorf("--bdd %s: the cucumber report holds no scenario", path)
	}
	b := &reports.BDD{Source: path, Scenarios: sum.Scenarios, Passed: sum.Passed, Failed: sum.Failed, Skipped: sum.Skipped}
	for _, r := range sum.Requirements {
		b.Requirements = append(b.Requirements, reports.BDDRequirement{ID: r.ID, Behaviour: r.Behaviour, Status: r.Status(),
			Passed: r.Passed, Failed: r.Failed, Skipped: r.Skipped})
	}
	for _, f := range sum.Failures {
		b.Failures = append(b.Failures, reports.BDDFailure{Feature: f.Feature, Line: f.Line, Scenario: f.Scenario,
			Tags: f.Tags, Step: f.Step, Error: f.Error})
	}
	return b, nil
}

// readFleet reads the fleet summary that `certlab sim --json` writes.
func readFleet(path string) (*reports.Fleet, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("--fleet: %w (want the file of certlab sim --json, not the fleet directory)", err)
	}
	// A fleet summary is an object with these fields; anything else (a
	// loadgen summary, a cucumber report) is refused rather than shown as zeros.
	var probe map[string]json.RawMessage
	if err := json.Unmarshal(data, &probe); err != nil || probe["login_attempts"] == nil || probe["devices"] == nil {
		return nil, fmt.Errorf("--fleet %s: not a fleet summary (the JSON of certlab sim --json)", path)
	}
	var s fleet.Summary
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&s); err != nil {
		return nil, fmt.Errorf("--fleet %s: %w", path, err)
	}
	fl := &reports.Fleet{Source: path, MQTT: string(s.MQTT),
		Devices: s.Devices, Connected: s.Connected, PeakOnline: s.PeakOnline, OnlineAtEnd: s.OnlineAtEnd,
		LoginAttempts: s.LoginAttempts, LoginSucceeded: s.LoginSucceeded, LoginRefused: s.LoginRefused, LoginFailed: s.LoginFailed,
		RefusedByReason: s.RefusedByReason, FailedByReason: s.FailedByReason,
		Drops: s.Drops, Reconnects: s.Reconnects, Churns: s.Churns, GaveUp: s.GaveUp, DropsByCause: s.DropsByCause,
		MessagesSent: s.MessagesSent, PublishesDenied: s.PublishesDenied, PublishErrors: s.PublishErrors,
		MessagesReceived: s.MessagesReceived, SubscribesRefused: s.SubscribesRefused,
		BehaviourErrors: s.BehaviourErrors, BehaviourErrorSample: s.BehaviourErrorSample,
		Connect: reports.FleetLatency{Count: s.ConnectLatency.Count, P50: s.ConnectLatency.P50, P90: s.ConnectLatency.P90,
			P99: s.ConnectLatency.P99, Max: s.ConnectLatency.Max},
		Elapsed: s.Elapsed}
	if e := s.Enrol; e != nil {
		fl.Enrolled, fl.EnrolDevices, fl.VerifiedCAs, fl.CAs, fl.EnrolElapsed = e.Enrolled(), e.Devices, e.VerifiedCAs(), len(e.CAs), e.Elapsed
	}
	return fl, nil
}
