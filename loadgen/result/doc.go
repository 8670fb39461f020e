// Package result is the schema of certlab's load results and what is
// computed from them: the flat Result record of one login attempt, the run
// header (RunInfo) and measured windows (Window) of a results file, the JSONL
// Writer (with a hand-written encoder for attempt lines) and Reader, the
// Aggregator that turns a stream of records into a Summary, and the exact
// merge of several shards' results or summaries (HDR histograms).
//
// It is the only part of the load generator that package reports imports, so
// it dials nothing and depends on no MQTT, TLS client or host-control code:
// a report can be rendered, merged or compared on any machine from saved
// files. The vocabulary the records use (Mode, Shard, BadKind, Outcome and the
// phase and server names) is defined here too.
//
// Format: one JSON object a line. Attempt lines carry no "type" and stay flat;
// the header is {"type":"run","run":{...}} and each measured window
// {"type":"window","window":{...}} carrying the CPU counters read at its edges.
// A Writer is a Sink, as is an Aggregator; the attack engine (package loadgen)
// feeds both through Tee.
package result
