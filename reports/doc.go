// Package reports renders load-generator summaries for people and for CI:
// a self-contained HTML page (inline CSS, SVG charts drawn here, no external
// assets), Markdown for pull-request comments, JUnit XML with one test case
// per threshold, JSON, and plain text; and it compares two runs.
//
// Reports are rendered from saved results, never from a live run: Load reads
// results files (JSONL from `certlab loadgen`, any number of shards) and
// summary JSON files, and merges them exactly (HDR histograms) into one
// result.Summary. Every renderer is a Reporter, func(io.Writer) error, in
// the manner of vegeta's reporters (docs/libraries.md B1).
//
// It imports only the result schema (package loadgen/result), nothing that
// dials a socket: `go list -deps ./reports` holds no MQTT client, broker,
// simulator or golang.org/x/sys code, so reports render anywhere.
package reports
