// Package loadgen is certlab's login load generator: thousands of mutual-TLS
// device logins against a target, each confirmed by the server (CONNACK 0x00,
// or the echoed byte of the baseline server), with the CPU each side spent per
// login.
//
// The shape follows vegeta (docs/libraries.md B1): an engine emits
// a stream of flat Result records; an Aggregator turns the stream into a
// Summary; package reports renders summaries. Nothing the reports need lives
// only in memory: results are written as JSONL (one Result per attempt, plus a
// "run" header and a "window" record per measured window carrying the CPU
// counters), so a run can be re-rendered, merged with other shards or compared
// later.
//
// Lifecycle of a run (Run):
//
//	BuildIdentities (parse the fleet once, one tls.Config per device, bad identities minted)
//	  -> Attack(platform)  warm-up, then the measured window: CPU read before and after
//	  -> [Attack(baseline) against a bare crypto/tls server in a child process, same identities]
//	  -> Window records + Summary
//
// Pacing: a closed loop runs Workers attempts back to back; an open loop
// schedules attempts with a Pacer and measures every latency from the
// scheduled time, so queueing behind a slow server is not hidden (coordinated
// omission). The scheduler never blocks on worker capacity: an attempt that
// finds the backlog full is recorded as Outcome "dropped".
//
// Modes: churn (login, CONNACK, disconnect), hold (open the logins and keep
// them for the duration), tls-only (handshake plus a one-byte echo; only the
// baseline server speaks it).
//
// Bad identities (Config.BadShare) replace a deterministic, evenly spread share
// of the fleet's devices with a certificate the platform must refuse: a fresh
// certificate from the right CA whose fingerprint is not the registered one
// [LOGIN-SUCCESS, DEV-FINGERPRINT], a device that was never registered, or a
// certificate from a CA nobody uploaded [LOGIN-TLS]. Each attempt carries its
// expected outcome, so unexpected outcomes are counted apart.
//
// The generator's own cost: after each attack the window records the
// client-side crypto floor measured on this machine with the same key types
// (floor.go), and the summary states the generator's CPU per login as a
// multiple of it. The process that runs the attacks is tuned for that figure
// (runtime.go: sysmon kept out of deep sleep by a re-execution, GOGC sized by
// headroom, half the CPUs next to a local server) and can pin itself and its
// server children to separate CPUs (pin.go).
//
// Sharding: Shard{Index, Count} keeps the devices whose index % Count ==
// Index; results of several shards merge exactly (HDR histograms) in the
// Aggregator. deploy/ holds a Kubernetes Indexed Job that runs one shard per pod.
package loadgen
