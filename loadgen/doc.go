// Package loadgen is certlab's login load generator: thousands of mutual-TLS
// device logins against a target, each confirmed by the server (CONNACK 0x00,
// or the echoed byte of the baseline server), with the CPU each side spent per
// login.
//
// The shape follows vegeta (docs/libraries.md B1): a library
// with a thin main. An engine emits a stream of flat result.Result records; a
// result.Aggregator turns the stream into a result.Summary; package reports
// renders summaries. The load generator is split by what each part is:
//
//   - this package: the attack engine (identities, pacing, attempts, Run:
//     the attack on a platform and on the baseline) and Execute, a whole
//     `certlab loadgen` run described by a Plan;
//   - loadgen/result: the result schema, writer, reader and aggregator, all
//     that reports imports (it dials nothing);
//   - loadgen/host: the processes on this machine (CPU accounting and
//     pinning, runtime tuning, the crypto floor, the baseline server, and the
//     platform under test: a target file, an in-process platform or a child
//     platform process).
//
// Nothing the reports need lives only in memory: results are written as
// JSONL (one Result per attempt, plus a "run" header and a "window" record
// per measured window carrying the CPU counters), so a run can be
// re-rendered, merged with other shards or compared later.
//
// A whole run (Execute):
//
//	pin the CPUs (Plan.Pin) -> open or mint the fleet
//	  -> host.OpenServer: the platform under test and its CPU source -> Prepare (register the fleet)
//	  -> BuildIdentities -> tune the generator's runtime -> Run -> summary JSON, HTML, text
//
// The platform under test comes from Plan.Server (host.ServerSpec): a target
// file, a platform in this process started by a host.Launcher that cmd/
// supplies (this package never imports the platform), or `certlab platform`
// as a child process (host.PlatformProcess, which can be stopped, killed and
// started again on the same data directory).
//
// The attacks of one run (Run):
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
// them for the duration; a Pacer paces the ramp-up), tls-only (handshake
// plus a one-byte echo; only the baseline server speaks it), and storm
// (storm.go: measure the steady login capacity, hold every device, cut every
// session at once — a client-side reset, or a restart or kill of the child
// platform — and let every device reconnect by a Policy of reconnect.go
// until all are back or a deadline; RunStorm writes its results and its
// result.StormInfo). A setting the mode cannot honour is an error naming its
// flag (Plan.validateModeFlags, Plan.validateStorm).
//
// The server under test is a platform (certlab's or IoTDA: a REST API and
// the login-refusal table) or, for a target file without api_endpoint, any
// MQTT broker that logs devices in by certificate (broker.go): labelled
// result.ServerTarget, expected to check chains only (ExpectBroker), with
// the ClientId and username conventions the target names (LoginNames).
//
// Verdict: Execute stops an attack whose server refuses its first
// DefaultUnreachableAfter dials (*UnreachableError) and fails a completed
// run that confirmed no login or whose unexpected share exceeds
// Plan.MaxErrorShare (Judge, *VerdictError); a storm fails when no device
// held a session or none came back (JudgeStorm). `certlab loadgen` exits 1
// and 2 on them.
//
// Bad identities (BadPlan.Share) replace a deterministic, evenly spread share
// of the fleet's devices with a certificate the platform must refuse: a fresh
// certificate from the right CA whose fingerprint is not the registered one
// [LOGIN-SUCCESS, DEV-FINGERPRINT], a device that was never registered, or a
// certificate from a CA nobody uploaded [LOGIN-TLS]. Each attempt carries its
// expected outcome, so unexpected outcomes are counted apart.
//
// The generator's own cost: after each attack the window records the
// client-side crypto floor measured on this machine with the same key types
// (host.MeasureClientFloor), and the summary states the generator's CPU per
// login as a multiple of it. The process that runs the attacks is tuned for
// that figure (package host: sysmon kept out of deep sleep by a re-execution,
// GOGC sized by headroom, half the CPUs next to a local server) and can pin
// itself and its server children to separate CPUs.
//
// Sharding: result.Shard{Index, Count} keeps the devices whose index % Count
// == Index; results of several shards merge exactly (HDR histograms) in the
// result.Aggregator. deploy/ holds a Kubernetes Indexed Job that runs one shard per pod.
package loadgen
