// Package reports renders load-generator summaries for people and for CI:
// a self-contained HTML page (inline CSS, SVG charts drawn here, no external
// assets), Markdown for pull-request comments, JUnit XML with one test case
// per threshold, JSON, and plain text; and it compares two runs.
//
// The HTML page shows time: outcomes per second (the partial first and last
// seconds scaled and marked, not drawn as a drop), login latency percentiles
// and phase latencies per second, and a latency histogram, per server; with
// a comparison, both runs' rate and latency over time overlaid. Refusal
// reasons carry their names ("connack:0x86": bad user name or password;
// certlab: device_not_found or username_mismatch). Given the other parts of
// a session (BDD: the Gherkin suite per requirement ID; Fleet: a certlab sim
// run) it becomes the one page of a whole run, as `make run` renders it.
//
// Reports are rendered from saved results, never from a live run: Load reads
// results files (JSONL from `certlab loadgen`, any number of shards) and
// summary JSON files, and merges them exactly (HDR histograms) into one
// result.Summary. Every renderer is a Reporter, func(io.Writer) error, in
// the manner of vegeta's reporters (docs/libraries.md B1).
//
// It imports only the result schema (package loadgen/result) and, for the
// refusal table, the wire contract (package iotda, standard library only):
// `go list -deps ./reports` holds no MQTT client, broker, simulator, Gherkin
// suite or golang.org/x/sys module code, so reports render anywhere. The
// caller fills BDD and Fleet (cmd/certlab reads them through features and
// sim/fleet).
package reports
