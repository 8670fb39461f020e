// Package host controls the processes of a load run on this machine: the
// generator itself and the servers under test it starts. It holds
//
//   - CPU accounting: CPUSource and its readers (this process, another local
//     process from /proc, a Prometheus endpoint's process_cpu_seconds_total);
//   - CPU pinning: splitting the CPUs between a local server and the
//     generator, pinning this process, starting a child on given CPUs;
//   - the generator's runtime tuning: the re-execution that keeps sysmon out
//     of deep sleep, GOGC by headroom, GOMAXPROCS next to a local server;
//   - the client-side crypto floor, measured on this machine;
//   - the baseline server (a bare crypto/tls server in a child process);
//   - the platform under test as a run reaches it (OpenServer): a target
//     file, a platform in this process started through a Launcher that
//     cmd/ supplies, or `certlab platform` as a child process
//     (PlatformProcess: Stop, Kill, Restart on the same data directory).
//
// It execs the certlab binary but imports no platform code: the harness
// reaches a platform only through a target. Package loadgen uses it; package
// result (and so package reports) does not.
package host
