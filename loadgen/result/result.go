package result

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/certlab/certlab/iotda"
)

// FormatVersion is the version of the results file format (RunInfo.Format).
const FormatVersion = 1

// Outcome is how an attempt ended: iotda's login outcomes plus
// OutcomeDropped, which only a load generator has.
type Outcome = iotda.Outcome

// Attempt outcomes.
const (
	// OutcomeSuccess: the server confirmed the login (CONNACK 0x00, or the
	// baseline server echoed the byte). Nothing else counts as success.
	OutcomeSuccess = iotda.OutcomeSuccess
	// OutcomeRefused: the server said no (TLS alert, CONNACK code, or under
	// TLS 1.3 a drop before confirmation).
	OutcomeRefused = iotda.OutcomeRefused
	// OutcomeError: the attempt failed without a verdict on the device
	// (timeout, refused TCP connection, protocol error).
	OutcomeError = iotda.OutcomeError
	// OutcomeDropped: open loop only; the attempt was due but the backlog was
	// full, so it was never sent.
	OutcomeDropped Outcome = "dropped"
)

// Phases where an attempt ended (Result.Phase). A success has Phase "".
const (
	PhaseSchedule = "schedule" // dropped before it was sent
	PhaseTCP      = "tcp"
	PhaseTLS      = "tls"
	PhaseConnect  = "connect" // CONNECT -> CONNACK, or the one-byte echo in tls-only mode
)

// Server names (Result.Server, Window.Server).
const (
	// ServerPlatform: a platform that follows IoTDA's contract (a REST API
	// and the login-refusal table): certlab's reference platform or IoTDA.
	ServerPlatform = "platform"
	// ServerTarget: any other MQTT broker a target file names (no REST API),
	// e.g. mosquitto; it checks the certificate chain and nothing more.
	ServerTarget   = "target"
	ServerBaseline = "baseline" // the bare crypto/tls server loadgen starts
	// ServerBaselineMQTT: the bare server reading CONNECT and answering
	// CONNACK 0x00, nothing else (the least an MQTT server does per login).
	ServerBaselineMQTT = "baseline-mqtt"
	// ServerMosquitto: Debian's mosquitto broker with the same client CAs.
	ServerMosquitto = "mosquitto"
)

// Result is the record of one login attempt: flat, one JSON line each.
// Latencies are in microseconds; TotalUs runs from the scheduled time (equal
// to Start in a closed loop) to the end of the attempt, so queueing is in it.
type Result struct {
	Seq       uint64    `json:"seq"`       // attempt number within its server's attack, from 0
	Server    string    `json:"server"`    // "platform", "target" or "baseline"
	Device    int       `json:"device"`    // fleet index of the device
	Identity  BadKind   `json:"identity"`  // "good" or the kind of bad identity presented
	Scheduled time.Time `json:"scheduled"` // when the attempt was due
	Start     time.Time `json:"start"`     // when it was sent (TCP dial began)

	TCPUs     int64 `json:"tcp_us"`     // TCP connect
	TLSUs     int64 `json:"tls_us"`     // TLS handshake
	ConnackUs int64 `json:"connack_us"` // CONNECT -> CONNACK (tls-only: byte -> echo)
	TotalUs   int64 `json:"total_us"`   // scheduled -> end

	Outcome     Outcome `json:"outcome"`
	Phase       string  `json:"phase,omitempty"`  // where it ended unless success
	Reason      string  `json:"reason,omitempty"` // "tls_alert:<alert>", "connack:0x87", "timeout", "reset", "over_capacity" ...
	ConnackCode int     `json:"connack_code"`     // CONNACK code when one was read
	TLSVersion  string  `json:"tls_version,omitempty"`
	Resumed     bool    `json:"resumed"`

	Expected       Outcome `json:"expected"`                  // what the server should answer
	ExpectedReason string  `json:"expected_reason,omitempty"` // iotda.Reason of an expected refusal
	Unexpected     bool    `json:"unexpected,omitempty"`      // the outcome (or its phase/code) differs from Expected
	Warmup         bool    `json:"warmup,omitempty"`          // scheduled during the warm-up: excluded from summaries
	Error          string  `json:"error,omitempty"`           // the underlying error text, for diagnosis
	// Population is who made the attempt: the run's devices (""), or in a
	// flood run the devices before the flood ("unflooded") or the flood's
	// unauthenticated peers ("flood"); flood.go.
	Population string `json:"population,omitempty"`
}

// EndTime is when the attempt ended.
func (r *Result) EndTime() time.Time {
	return r.Scheduled.Add(time.Duration(r.TotalUs) * time.Microsecond)
}

// RunInfo is the header of a results file: the settings of the run. Shards
// of one run share ID and differ in Shard.
type RunInfo struct {
	Format       int       `json:"format"`
	ID           string    `json:"id"`
	Started      time.Time `json:"started"`
	Target       string    `json:"target"`        // target name
	MQTTEndpoint string    `json:"mqtt_endpoint"` // host:port
	Mode         Mode      `json:"mode"`
	Loop         string    `json:"loop"` // "closed" or "open"
	Workers      int       `json:"workers"`
	Rate         float64   `json:"rate,omitempty"`     // attempts per second (open loop)
	DurationS    float64   `json:"duration_s"`         // measured duration (hold: how long logins are held)
	Count        int       `json:"count,omitempty"`    // measured attempts (0 = by duration)
	WarmupS      float64   `json:"warmup_s,omitempty"` // warm-up, excluded from summaries
	TLSVersion   string    `json:"tls_version"`        // "1.2", "1.3" or "auto"
	KeyExchange  string    `json:"key_exchange"`       // "x25519", "p256", "hybrid"
	Resumption   bool      `json:"resumption"`
	CloseReset   bool      `json:"close_reset,omitempty"` // churned logins end with a TCP reset (--close reset)
	MQTTVersion  int       `json:"mqtt_version"`
	BadShare     float64   `json:"bad_share"`
	Devices      int       `json:"devices"` // devices in the fleet slice used (all shards)
	KeyType      string    `json:"key_type,omitempty"`
	Shard        Shard     `json:"shard"`
	Baseline     bool      `json:"baseline"`
	Host         string    `json:"host,omitempty"`
	CPUs         int       `json:"cpus,omitempty"`
	GoVersion    string    `json:"go_version,omitempty"`
	GoRuntime    string    `json:"go_runtime,omitempty"` // the generator's GOMAXPROCS, GOGC and sysmon setting
	Pinning      string    `json:"pinning,omitempty"`    // CPUs of the generator and the local server under test (--pin)
}

// Window is one measured window of one server's attack: when it ran and the
// CPU counters read at its edges. Server CPU counters are absolute (seconds
// since the server process started) so that windows of several shards
// watching the same server merge by span, not by sum.
type Window struct {
	Server string    `json:"server"`
	Shard  Shard     `json:"shard"`
	Start  time.Time `json:"start"`
	End    time.Time `json:"end"`

	ClientCPUSeconds float64 `json:"client_cpu_s"`          // this generator process, user+system, inside the window
	ClientHost       string  `json:"client_host,omitempty"` // with ClientPID, identifies the generator process
	ClientPID        int     `json:"client_pid,omitempty"`

	ServerCPUSource string  `json:"server_cpu_source,omitempty"` // "pid:1234@host", "metrics:URL"; "" = not measured
	ServerCPUStart  float64 `json:"server_cpu_start_s,omitempty"`
	ServerCPUEnd    float64 `json:"server_cpu_end_s,omitempty"`
	ServerCPUError  string  `json:"server_cpu_error,omitempty"` // why server CPU is missing

	Held             int     `json:"held,omitempty"`               // hold mode: sessions open at the end of the ramp
	HeldMemoryBytes  float64 `json:"held_memory_bytes,omitempty"`  // hold mode: Go heap+stack growth / held sessions
	ServerCertKey    string  `json:"server_cert_key,omitempty"`    // key type of the server certificate seen
	ClientFloorUs    float64 `json:"client_floor_us,omitempty"`    // client-side crypto floor per login, measured after the attack (loadgen/host/floor.go)
	ClientFloorOps   string  `json:"client_floor_ops,omitempty"`   // the operations of that floor
	ClientFloorError string  `json:"client_floor_error,omitempty"` // why the floor is missing
	NegotiatedTLS    string  `json:"negotiated_tls,omitempty"`     // TLS version of the last successful login
	NegotiatedCipher string  `json:"negotiated_cipher,omitempty"`  // cipher suite of the last successful login

	// Round is the window's round when servers are measured in interleaved
	// rounds (1, 2, ...; 0: a run of one round). Logins counts the
	// server-confirmed logins of the window (measured attempts only).
	Round  int   `json:"round,omitempty"`
	Logins int64 `json:"logins,omitempty"`
	// Population is the population the window measured (Result.Population).
	Population string `json:"population,omitempty"`
}

// ServerCPUSeconds is the server CPU spent inside the window (0 when unknown).
func (w Window) ServerCPUSeconds() float64 {
	if w.ServerCPUSource == "" {
		return 0
	}
	return w.ServerCPUEnd - w.ServerCPUStart
}

// Record is one line of a results file: exactly one of Run, Result,
// Window, Storm, Flood.
type Record struct {
	Run    *RunInfo
	Result *Result
	Window *Window
	Storm  *StormInfo
	Flood  *FloodInfo
}

// line is the on-disk form of a Record. Attempt lines carry no "type" so
// they stay flat; header and window lines say what they are.
type line struct {
	Type string `json:"type,omitempty"` // "", "run", "window", "storm" or "flood"
	*Result
	Run    *RunInfo   `json:"run,omitempty"`
	Window *Window    `json:"window,omitempty"`
	Storm  *StormInfo `json:"storm,omitempty"`
	Flood  *FloodInfo `json:"flood,omitempty"`
}

// Writer writes a results file (JSONL). It is safe for concurrent use;
// call Flush (or Close) at the end.
type Writer struct {
	mu  sync.Mutex
	bw  *bufio.Writer
	enc *json.Encoder // run and window lines (rare)
	buf []byte        // scratch for attempt lines, guarded by mu
	c   io.Closer
}

// NewWriter writes records to w; if w is an io.Closer, Close closes it.
func NewWriter(w io.Writer) *Writer {
	bw := bufio.NewWriterSize(w, 64<<10)
	enc := json.NewEncoder(bw)
	enc.SetEscapeHTML(false)
	wr := &Writer{bw: bw, enc: enc}
	if c, ok := w.(io.Closer); ok {
		wr.c = c
	}
	return wr
}

// WriteRun writes the run header.
func (w *Writer) WriteRun(r RunInfo) error { return w.write(line{Type: "run", Run: &r}) }

// WriteWindow writes a window record.
func (w *Writer) WriteWindow(win Window) error { return w.write(line{Type: "window", Window: &win}) }

// WriteStorm writes a shard's storm record.
func (w *Writer) WriteStorm(si StormInfo) error { return w.write(line{Type: "storm", Storm: &si}) }

// WriteFlood writes a flood run's flood record.
func (w *Writer) WriteFlood(fi FloodInfo) error { return w.write(line{Type: "flood", Flood: &fi}) }

// maxScratch bounds the scratch buffer a Writer keeps between attempt lines,
// so that one huge error text does not pin its memory for the whole run.
const maxScratch = 64 << 10

// Record writes one attempt; it makes a Writer a Sink. The line is encoded by
// appendResultLine (no reflection, no allocation) into the same bytes
// encoding/json would write.
func (w *Writer) Record(r *Result) error {
	if r == nil || !resultTimesEncodable(r) {
		// Let encoding/json produce its output or its error.
		return w.write(line{Result: r})
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf = appendResultLine(w.buf[:0], r)
	_, err := w.bw.Write(w.buf)
	if cap(w.buf) > maxScratch {
		w.buf = nil
	}
	if err != nil {
		return fmt.Errorf("write result: %w", err)
	}
	return nil
}

func (w *Writer) write(l line) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if err := w.enc.Encode(l); err != nil {
		return fmt.Errorf("write result: %w", err)
	}
	return nil
}

// Flush writes buffered records through.
func (w *Writer) Flush() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if err := w.bw.Flush(); err != nil {
		return fmt.Errorf("flush results: %w", err)
	}
	return nil
}

// Close flushes and closes the underlying writer if it is a Closer.
func (w *Writer) Close() error {
	err := w.Flush()
	if w.c != nil {
		err = errors.Join(err, w.c.Close())
	}
	return err
}

// Reader reads a results file record by record.
type Reader struct {
	sc   *bufio.Scanner
	line int
}

// NewReader reads JSONL records from r.
func NewReader(r io.Reader) *Reader {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), 4<<20)
	return &Reader{sc: sc}
}

// Next returns the next record, or io.EOF after the last one. Blank lines
// are skipped.
func (r *Reader) Next() (Record, error) {
	for r.sc.Scan() {
		r.line++
		b := bytes.TrimSpace(r.sc.Bytes())
		if len(b) == 0 {
			continue
		}
		var l line
		if err := json.Unmarshal(b, &l); err != nil {
			return Record{}, fmt.Errorf("read results line %d: %w", r.line, err)
		}
		switch l.Type {
		case "run":
			if l.Run == nil {
				return Record{}, fmt.Errorf("read results line %d: run record without \"run\"", r.line)
			}
			return Record{Run: l.Run}, nil
		case "window":
			if l.Window == nil {
				return Record{}, fmt.Errorf("read results line %d: window record without \"window\"", r.line)
			}
			return Record{Window: l.Window}, nil
		case "storm":
			if l.Storm == nil {
				return Record{}, fmt.Errorf("read results line %d: storm record without \"storm\"", r.line)
			}
			return Record{Storm: l.Storm}, nil
		case "flood":
			if l.Flood == nil {
				return Record{}, fmt.Errorf("read results line %d: flood record without \"flood\"", r.line)
			}
			return Record{Flood: l.Flood}, nil
		case "":
			if l.Result == nil {
				return Record{}, fmt.Errorf("read results line %d: not a result record", r.line)
			}
			return Record{Result: l.Result}, nil
		default:
			return Record{}, fmt.Errorf("read results line %d: unknown record type %q", r.line, l.Type)
		}
	}
	if err := r.sc.Err(); err != nil {
		return Record{}, fmt.Errorf("read results: %w", err)
	}
	return Record{}, io.EOF
}
