package fleet

// summary.go: counting a run and reporting it as text or JSON.

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"

	"github.com/certlab/certlab/iotda"
	"github.com/certlab/certlab/sim/device"
)

// Summary is the outcome of Run. Counts of login attempts include
// reconnections; device counts do not.
type Summary struct {
	ProductID string       `json:"product_id"`
	MQTT      MQTTVersions `json:"mqtt"`
	Devices   int          `json:"devices"` // devices in the run
	// Enrol is the registration that preceded the run, when the caller sets it.
	Enrol *EnrolReport `json:"enrol,omitempty"`

	Connected      int `json:"connected"` // devices that logged in at least once
	NeverConnected int `json:"never_connected"`
	PeakOnline     int `json:"peak_online"`   // most sessions up at once
	OnlineAtEnd    int `json:"online_at_end"` // sessions up when the hold ended

	LoginAttempts   int            `json:"login_attempts"`
	LoginSucceeded  int            `json:"login_succeeded"`
	LoginRefused    int            `json:"login_refused"`
	LoginFailed     int            `json:"login_failed"`
	RefusedByReason map[string]int `json:"refused_by_reason,omitempty"` // "connack:0x87", "tls_alert:bad certificate" ...
	FailedByReason  map[string]int `json:"failed_by_reason,omitempty"`  // "timeout", "reset" ...

	Drops        int            `json:"drops"` // sessions ended by the server or the network
	DropsByCause map[string]int `json:"drops_by_cause,omitempty"`
	Reconnects   int            `json:"reconnects"` // logins after a drop
	Churns       int            `json:"churns"`     // sessions the devices ended to log in again
	GaveUp       int            `json:"gave_up"`    // devices that stopped after ReconnectAttempts failed logins

	MessagesSent      int `json:"messages_sent"`      // publishes acknowledged (PUBACK < 0x80)
	PublishesDenied   int `json:"publishes_denied"`   // PUBACK ≥ 0x80 [ACL-OWN-TOPICS]
	PublishErrors     int `json:"publish_errors"`     // no acknowledgement
	MessagesReceived  int `json:"messages_received"`  // inbound PUBLISH
	SubscribesRefused int `json:"subscribes_refused"` // SUBACK ≥ 0x80

	BehaviourErrors      int    `json:"behaviour_errors"`
	BehaviourErrorSample string `json:"behaviour_error_sample,omitempty"`

	// ConnectLatency is the total login time (TCP + TLS + CONNECT -> CONNACK)
	// of successful logins.
	ConnectLatency Latency `json:"connect_latency"`
	Memory         Memory  `json:"memory"`

	Ramp    time.Duration `json:"ramp_ns"`    // until every first login had ended
	Hold    time.Duration `json:"hold_ns"`    // from then to the end, closing included
	Elapsed time.Duration `json:"elapsed_ns"` // the whole run
}

// Latency holds percentiles from an HDR histogram (microsecond resolution,
// 3 significant digits).
type Latency struct {
	Count int64         `json:"count"`
	Min   time.Duration `json:"min_ns"`
	Mean  time.Duration `json:"mean_ns"`
	P50   time.Duration `json:"p50_ns"`
	P90   time.Duration `json:"p90_ns"`
	P99   time.Duration `json:"p99_ns"`
	P999  time.Duration `json:"p999_ns"`
	Max   time.Duration `json:"max_ns"`
}

// Memory is the process's memory growth per live session, measured after
// the ramp (after a GC): live heap plus goroutine stacks. It includes
// whatever else the process holds per connection: the platform's share too
// when the platform runs in-process (then InProcessPlatform should be set by
// the caller).
type Memory struct {
	HeapBeforeBytes     uint64  `json:"heap_before_bytes"`
	HeapAfterBytes      uint64  `json:"heap_after_bytes"`
	StackBeforeBytes    uint64  `json:"stack_before_bytes"`
	StackAfterBytes     uint64  `json:"stack_after_bytes"`
	Online              int     `json:"online"` // sessions up when measured
	HeapPerDeviceBytes  int64   `json:"heap_per_device_bytes"`
	StackPerDeviceBytes int64   `json:"stack_per_device_bytes"`
	GoroutinesPerDevice float64 `json:"goroutines_per_device"`
	InProcessPlatform   bool    `json:"in_process_platform"`
}

// PerDeviceBytes is heap plus stacks per live session.
func (m Memory) PerDeviceBytes() int64 { return m.HeapPerDeviceBytes + m.StackPerDeviceBytes }

func memorySummary(before, after memSample, online int64) Memory {
	m := Memory{HeapBeforeBytes: before.heap, HeapAfterBytes: after.heap,
		StackBeforeBytes: before.stack, StackAfterBytes: after.stack, Online: int(online)}
	if online > 0 {
		m.HeapPerDeviceBytes = max(0, (int64(after.heap)-int64(before.heap))/online)
		m.StackPerDeviceBytes = max(0, (int64(after.stack)-int64(before.stack))/online)
		m.GoroutinesPerDevice = float64(after.goroutines-before.goroutines) / float64(online)
	}
	return m
}

// stats counts a run; every method is safe for concurrent use.
type stats struct {
	started, online, peak, connected                  atomic.Int64
	attempts, successes, refusedN, errorsN            atomic.Int64
	drops, reconnects, churns, gaveUp                 atomic.Int64
	sent, denied, publishErrors, received, subRefused atomic.Int64
	behaviourErrors                                   atomic.Int64

	mu              sync.Mutex
	latency         *hdrhistogram.Histogram // µs
	refused, failed map[string]int
	dropCauses      map[string]int
	behaviourSample string
}

func newStats() *stats {
	return &stats{
		latency: hdrhistogram.New(1, int64(10*time.Minute/time.Microsecond), 3),
		refused: map[string]int{}, failed: map[string]int{}, dropCauses: map[string]int{},
	}
}

// login records one login attempt of d.
func (s *stats) login(res device.Result, d *Device) {
	s.attempts.Add(1)
	switch res.Outcome {
	case iotda.OutcomeSuccess:
		s.successes.Add(1)
		n := s.online.Add(1)
		for p := s.peak.Load(); n > p && !s.peak.CompareAndSwap(p, n); p = s.peak.Load() {
		}
		if !d.everConnected {
			d.everConnected = true
			s.connected.Add(1)
		}
		s.mu.Lock()
		_ = s.latency.RecordValue(max(1, res.Total.Microseconds())) // beyond 10 min: dropped
		s.mu.Unlock()
	case iotda.OutcomeRefused:
		s.refusedN.Add(1)
		s.count(s.refused, res.Reason)
	default:
		s.errorsN.Add(1)
		s.count(s.failed, res.Reason)
	}
}

func (s *stats) count(m map[string]int, key string) {
	if key == "" {
		key = "unknown"
	}
	s.mu.Lock()
	m[key]++
	s.mu.Unlock()
}

// drop records a session the server or the network ended.
func (s *stats) drop(cause error) {
	s.drops.Add(1)
	s.count(s.dropCauses, DropCause(cause))
}

func (s *stats) behaviourError(err error) {
	s.behaviourErrors.Add(1)
	s.mu.Lock()
	if s.behaviourSample == "" {
		s.behaviourSample = err.Error()
	}
	s.mu.Unlock()
}

// DropCause names why a session ended: "disconnect:0x98" (a server
// DISCONNECT with its reason code), "keepalive", "eof", "reset", "protocol"
// or "io".
func DropCause(err error) string {
	if de, ok := errors.AsType[*device.DisconnectError](err); ok {
		return fmt.Sprintf("disconnect:0x%02x", de.Code)
	}
	switch {
	case errors.Is(err, device.ErrKeepaliveTimeout):
		return "keepalive"
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "eof"
	case errors.Is(err, syscall.ECONNRESET):
		return "reset"
	case errors.Is(err, device.ErrProtocol):
		return "protocol"
	default:
		return "io"
	}
}

func (s *stats) summary(o RunOptions) Summary {
	s.mu.Lock()
	defer s.mu.Unlock()
	sum := Summary{
		ProductID: o.ProductID, MQTT: o.MQTT, Devices: o.Devices,
		Connected: int(s.connected.Load()), PeakOnline: int(s.peak.Load()),
		LoginAttempts: int(s.attempts.Load()), LoginSucceeded: int(s.successes.Load()),
		LoginRefused: int(s.refusedN.Load()), LoginFailed: int(s.errorsN.Load()),
		RefusedByReason: nonEmpty(s.refused), FailedByReason: nonEmpty(s.failed),
		Drops: int(s.drops.Load()), DropsByCause: nonEmpty(s.dropCauses),
		Reconnects: int(s.reconnects.Load()), Churns: int(s.churns.Load()), GaveUp: int(s.gaveUp.Load()),
		MessagesSent: int(s.sent.Load()), PublishesDenied: int(s.denied.Load()), PublishErrors: int(s.publishErrors.Load()),
		MessagesReceived: int(s.received.Load()), SubscribesRefused: int(s.subRefused.Load()),
		BehaviourErrors: int(s.behaviourErrors.Load()), BehaviourErrorSample: s.behaviourSample,
		ConnectLatency: latencyOf(s.latency),
	}
	sum.NeverConnected = sum.Devices - sum.Connected
	return sum
}

func nonEmpty(m map[string]int) map[string]int {
	if len(m) == 0 {
		return nil
	}
	return maps.Clone(m)
}

func latencyOf(h *hdrhistogram.Histogram) Latency {
	if h.TotalCount() == 0 {
		return Latency{}
	}
	us := func(v int64) time.Duration { return time.Duration(v) * time.Microsecond }
	return Latency{
		Count: h.TotalCount(), Min: us(h.Min()), Mean: time.Duration(h.Mean() * float64(time.Microsecond)),
		P50: us(h.ValueAtQuantile(50)), P90: us(h.ValueAtQuantile(90)), P99: us(h.ValueAtQuantile(99)),
		P999: us(h.ValueAtQuantile(99.9)), Max: us(h.Max()),
	}
}

// WriteJSON writes the summary as indented JSON.
func (s Summary) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(s); err != nil {
		return fmt.Errorf("write summary JSON: %w", err)
	}
	return nil
}

// WriteText writes the summary for people.
func (s Summary) WriteText(w io.Writer) error {
	var b strings.Builder
	line := func(label, format string, args ...any) {
		fmt.Fprintf(&b, "  %-11s %s\n", label, fmt.Sprintf(format, args...))
	}
	fmt.Fprintf(&b, "fleet run: %d devices, MQTT %s, product %s\n", s.Devices, s.MQTT, s.ProductID)
	if e := s.Enrol; e != nil {
		line("enrolled", "%d of %d devices (%d new, %d already registered), %d failed%s; CAs %d of %d verified; %s",
			e.Enrolled(), e.Devices, e.Registered, e.Existing, e.Devices-e.Enrolled(), breakdown(e.Failed),
			e.VerifiedCAs(), len(e.CAs), round(e.Elapsed))
	}
	line("connected", "%d of %d devices (never: %d); peak online %d, online at end %d",
		s.Connected, s.Devices, s.NeverConnected, s.PeakOnline, s.OnlineAtEnd)
	line("logins", "%d attempts: %d succeeded, %d refused%s, %d failed%s",
		s.LoginAttempts, s.LoginSucceeded, s.LoginRefused, breakdown(s.RefusedByReason), s.LoginFailed, breakdown(s.FailedByReason))
	line("sessions", "%d dropped%s, %d reconnected, %d churned, %d gave up",
		s.Drops, breakdown(s.DropsByCause), s.Reconnects, s.Churns, s.GaveUp)
	line("messages", "%d sent, %d denied, %d publish errors, %d received, %d subscriptions refused",
		s.MessagesSent, s.PublishesDenied, s.PublishErrors, s.MessagesReceived, s.SubscribesRefused)
	if s.BehaviourErrors > 0 {
		line("behaviour", "%d errors, first: %s", s.BehaviourErrors, s.BehaviourErrorSample)
	}
	if l := s.ConnectLatency; l.Count > 0 {
		line("connect", "p50 %s  p90 %s  p99 %s  p99.9 %s  max %s  (%d logins)",
			round(l.P50), round(l.P90), round(l.P99), round(l.P999), round(l.Max), l.Count)
	}
	if m := s.Memory; m.Online > 0 {
		scope := "simulator only"
		if m.InProcessPlatform {
			scope = "simulator + in-process platform"
		}
		line("memory", "%s per connected device (heap %s + stacks %s, over %d sessions), %.1f goroutines per device (%s)",
			bytesText(m.PerDeviceBytes()), bytesText(m.HeapPerDeviceBytes), bytesText(m.StackPerDeviceBytes), m.Online,
			m.GoroutinesPerDevice, scope)
	}
	line("time", "ramp %s, hold %s, total %s", round(s.Ramp), round(s.Hold), round(s.Elapsed))
	_, err := io.WriteString(w, b.String())
	if err != nil {
		return fmt.Errorf("write summary: %w", err)
	}
	return nil
}

// breakdown renders " (a 3, b 1)" by descending count, "" for none.
func breakdown(m map[string]int) string {
	if len(m) == 0 {
		return ""
	}
	keys := slices.Collect(maps.Keys(m))
	slices.SortFunc(keys, func(a, b string) int {
		if m[a] != m[b] {
			return m[b] - m[a]
		}
		return strings.Compare(a, b)
	})
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s %d", k, m[k])
	}
	return " (" + strings.Join(parts, ", ") + ")"
}

func round(d time.Duration) time.Duration {
	switch {
	case d >= 10*time.Second:
		return d.Round(100 * time.Millisecond)
	case d >= time.Second:
		return d.Round(10 * time.Millisecond)
	case d >= time.Millisecond:
		return d.Round(10 * time.Microsecond)
	default:
		return d.Round(time.Microsecond)
	}
}

func bytesText(n int64) string {
	switch {
	case n >= 10<<20 || n <= -10<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 10<<10 || n <= -10<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	default:
		return fmt.Sprintf("%d B", n)
	}
}
