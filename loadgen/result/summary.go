package result

import (
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
	"time"

	hdr "github.com/HdrHistogram/hdrhistogram-go"
)

// SummaryFormat identifies a summary JSON document.
const SummaryFormat = "certlab-loadgen-summary/1"

// Histogram bounds: 1 µs .. 10 min, 3 significant digits.
const (
	histMinUs  = 1
	histMaxUs  = int64(10 * time.Minute / time.Microsecond)
	histDigits = 3
)

// Latency metrics kept per server (keys of ServerSummary.Latency and .Histograms).
const (
	MetricTotal        = "total"         // scheduled -> CONNACK 0x00, successes
	MetricTCP          = "tcp"           // TCP connect, successes
	MetricTLS          = "tls"           // TLS handshake, successes
	MetricConnack      = "connack"       // CONNECT -> CONNACK (tls-only: echo), successes
	MetricRefusedTotal = "refused_total" // scheduled -> refusal, refusals
)

// Metrics lists the latency metrics in display order.
var Metrics = []string{MetricTotal, MetricTCP, MetricTLS, MetricConnack, MetricRefusedTotal}

// Summary is what a run (or several merged shards) amounts to. It is
// computed from the result stream by an Aggregator and keeps its raw parts
// (counts, HDR histograms, windows), so summaries merge exactly.
type Summary struct {
	Format  string          `json:"format"`
	Runs    []RunInfo       `json:"runs"` // one per shard/file
	Windows []Window        `json:"windows"`
	Servers []ServerSummary `json:"servers"` // platform (or target) first, then baseline
	// BaselineRatio is the server CPU per login attempt of the server under
	// test (platform or target) divided by the baseline server's, when both
	// were measured.
	BaselineRatio float64 `json:"baseline_ratio,omitempty"`
	// Storm is the reconnect storm of a storm-mode run (storm.go).
	Storm *StormSummary `json:"storm,omitempty"`
	// Bench holds the per-round figures of a run measured in interleaved
	// rounds (loadgen --rounds 2 or more): medians and spread of each
	// server's CPU per login and of the ratios between them.
	Bench *Bench `json:"bench,omitempty"`
	// Flood is the flood of a flood run (flood.go): the devices before it
	// and the flood's own attempts; Servers holds the devices during it.
	Flood *FloodSummary `json:"flood,omitempty"`
}

// ServerSummary is one server's part of a summary. Counts exclude warm-up.
type ServerSummary struct {
	Server     string `json:"server"`
	Attempts   int64  `json:"attempts"` // measured attempts, dropped included
	Warmup     int64  `json:"warmup"`   // warm-up attempts (excluded from everything else)
	Success    int64  `json:"success"`
	Refused    int64  `json:"refused"`
	Errors     int64  `json:"errors"`
	Dropped    int64  `json:"dropped"`
	Unexpected int64  `json:"unexpected"` // attempts whose outcome differs from the expected one
	Resumed    int64  `json:"resumed"`

	Start     time.Time `json:"start"` // measured span
	End       time.Time `json:"end"`
	DurationS float64   `json:"duration_s"`

	SuccessRate float64 `json:"success_rate"` // server-confirmed logins per second
	AttemptRate float64 `json:"attempt_rate"` // attempts per second
	ErrorRate   float64 `json:"error_rate"`   // Unexpected / Attempts

	Latency    map[string]LatencyStats `json:"latency"`    // by metric, µs
	Histograms map[string]string       `json:"histograms"` // HDR V2 compressed (base64), for exact merges

	Breakdown  []BreakdownRow `json:"breakdown"`  // by outcome, phase, reason
	Identities []IdentityRow  `json:"identities"` // by identity kind
	Timeline   []Bucket       `json:"timeline"`   // per second (Unix seconds)
	// LatencyTimeline is the latency of successful logins per second (Unix
	// seconds, by the second the login ended, as in Timeline); latencytime.go.
	LatencyTimeline []LatencySecond  `json:"latency_timeline,omitempty"`
	TLSVersion      map[string]int64 `json:"tls_versions,omitempty"`

	ClientCPU CPUStat `json:"client_cpu"`
	// ClientFloor is the client-side crypto floor measured on the
	// generator's machine after the attack, and ClientCPU as a multiple of it.
	ClientFloor *FloorStat `json:"client_floor,omitempty"`
	// ClientFloorNote says why ClientFloor is missing.
	ClientFloorNote string   `json:"client_floor_note,omitempty"`
	ServerCPU       *CPUStat `json:"server_cpu,omitempty"` // nil when not measured
	// ServerCPUNote says why ServerCPU is missing.
	ServerCPUNote string `json:"server_cpu_note,omitempty"`

	Held            int     `json:"held,omitempty"`
	HeldMemoryBytes float64 `json:"held_memory_bytes,omitempty"` // per held session
}

// LatencyStats are percentiles of one latency metric, in microseconds.
type LatencyStats struct {
	Count int64   `json:"count"`
	Min   int64   `json:"min_us"`
	Mean  float64 `json:"mean_us"`
	P50   int64   `json:"p50_us"`
	P90   int64   `json:"p90_us"`
	P99   int64   `json:"p99_us"`
	P999  int64   `json:"p999_us"`
	Max   int64   `json:"max_us"`
}

// BreakdownRow counts attempts that ended the same way.
type BreakdownRow struct {
	Outcome    Outcome `json:"outcome"`
	Phase      string  `json:"phase,omitempty"`
	Reason     string  `json:"reason,omitempty"`
	Count      int64   `json:"count"`
	Unexpected int64   `json:"unexpected"`
}

// IdentityRow counts attempts by the identity presented.
type IdentityRow struct {
	Identity   BadKind `json:"identity"`
	Expected   Outcome `json:"expected"`
	Reason     string  `json:"expected_reason,omitempty"`
	Attempts   int64   `json:"attempts"`
	AsExpected int64   `json:"as_expected"`
}

// Bucket counts outcomes of attempts that ended within one second.
type Bucket struct {
	Unix    int64 `json:"t"`
	Success int64 `json:"success"`
	Refused int64 `json:"refused"`
	Errors  int64 `json:"errors"`
	Dropped int64 `json:"dropped"`
}

// CPUStat is CPU time spent in a measured span and per login.
type CPUStat struct {
	Source       string  `json:"source,omitempty"`
	Seconds      float64 `json:"seconds"`
	PerAttemptUs float64 `json:"per_attempt_us"` // per attempt sent (refusals included, drops excluded)
	PerSuccessUs float64 `json:"per_success_us"` // per server-confirmed login
}

// FloorStat is the client-side crypto floor of a server's logins (loadgen/host/floor.go):
// the mean of its windows' measurements, and the generator's CPU per login
// attempt over it.
type FloorStat struct {
	Us    float64 `json:"us"`
	Ops   string  `json:"ops"`
	Ratio float64 `json:"ratio"` // ClientCPU.PerAttemptUs / Us
}

// Server returns the summary of one server, or nil.
func (s *Summary) Server(name string) *ServerSummary {
	for i := range s.Servers {
		if s.Servers[i].Server == name {
			return &s.Servers[i]
		}
	}
	return nil
}

// UnderTest is the summary of the server under test: the platform or the
// target (nil when only the baseline ran).
func (s *Summary) UnderTest() *ServerSummary {
	if p := s.Server(ServerPlatform); p != nil {
		return p
	}
	return s.Server(ServerTarget)
}

// Histogram decodes one latency histogram of a server summary (nil when absent).
func (ss *ServerSummary) Histogram(metric string) (*hdr.Histogram, error) {
	enc, ok := ss.Histograms[metric]
	if !ok || enc == "" {
		return nil, nil
	}
	h, err := hdr.Decode([]byte(enc))
	if err != nil {
		return nil, fmt.Errorf("decode %s histogram of %s: %w", metric, ss.Server, err)
	}
	return h, nil
}

// Aggregator builds a Summary from records. It is not safe for concurrent
// use; loadgen.Run feeds it from one goroutine.
type Aggregator struct {
	runs    []RunInfo
	windows []Window
	servers map[string]*serverAgg
	order   []string
	storm   *stormAgg // storm-mode runs only (storm.go)
	// A flood run's other populations (flood.go), by population, and its
	// flood record.
	pops  map[string]*serverAgg
	flood *FloodInfo
}

type breakdownKey struct {
	outcome       Outcome
	phase, reason string
}

type identityKey struct {
	kind     BadKind
	expected Outcome
	reason   string
}

type serverAgg struct {
	pop        string // the population it counts (PopulationDevices: a server of Summary.Servers)
	s          ServerSummary
	hist       map[string]*hdr.Histogram
	breakdown  map[breakdownKey]*BreakdownRow
	identities map[identityKey]*IdentityRow
	timeline   map[int64]*Bucket
	latency    latencyTimeline // per-second latency of successes
	first      time.Time       // earliest scheduled (measured)
	last       time.Time       // latest end (measured)
}

// NewAggregator returns an empty Aggregator.
func NewAggregator() *Aggregator {
	return &Aggregator{servers: make(map[string]*serverAgg)}
}

func (a *Aggregator) server(name string) *serverAgg {
	sa, ok := a.servers[name]
	if !ok {
		sa = &serverAgg{
			s:          ServerSummary{Server: name, TLSVersion: map[string]int64{}},
			hist:       make(map[string]*hdr.Histogram),
			breakdown:  make(map[breakdownKey]*BreakdownRow),
			identities: make(map[identityKey]*IdentityRow),
			timeline:   make(map[int64]*Bucket),
		}
		a.servers[name] = sa
		a.order = append(a.order, name)
	}
	return sa
}

// population returns the aggregate of a flood run's population other than
// the devices (one server per flood run).
func (a *Aggregator) population(pop, server string) *serverAgg {
	if pop == PopulationDevices {
		return a.server(server)
	}
	if a.pops == nil {
		a.pops = make(map[string]*serverAgg)
	}
	sa, ok := a.pops[pop]
	if !ok {
		sa = &serverAgg{
			pop:        pop,
			s:          ServerSummary{Server: server, TLSVersion: map[string]int64{}},
			hist:       make(map[string]*hdr.Histogram),
			breakdown:  make(map[breakdownKey]*BreakdownRow),
			identities: make(map[identityKey]*IdentityRow),
			timeline:   make(map[int64]*Bucket),
		}
		a.pops[pop] = sa
	}
	return sa
}

func (sa *serverAgg) histogram(metric string) *hdr.Histogram {
	h, ok := sa.hist[metric]
	if !ok {
		h = hdr.New(histMinUs, histMaxUs, histDigits)
		sa.hist[metric] = h
	}
	return h
}

func (sa *serverAgg) record(metric string, us int64) {
	_ = sa.histogram(metric).RecordValue(min(max(us, histMinUs), histMaxUs))
}

// AddRecord adds any record.
func (a *Aggregator) AddRecord(r Record) {
	switch {
	case r.Run != nil:
		a.AddRun(*r.Run)
	case r.Window != nil:
		a.AddWindow(*r.Window)
	case r.Result != nil:
		_ = a.Record(r.Result)
	case r.Storm != nil:
		a.AddStorm(*r.Storm)
	case r.Flood != nil:
		a.AddFlood(*r.Flood)
	}
}

// AddFlood adds a flood run's flood record.
func (a *Aggregator) AddFlood(fi FloodInfo) { a.flood = &fi }

// AddRun adds a run header.
func (a *Aggregator) AddRun(r RunInfo) {
	a.runs = append(a.runs, r)
	if r.Mode == ModeStorm && a.storm == nil {
		a.storm = newStormAgg()
	}
}

// AddStorm adds a shard's storm record.
func (a *Aggregator) AddStorm(si StormInfo) {
	if a.storm == nil {
		a.storm = newStormAgg()
	}
	a.storm.add(si)
}

// AddWindow adds a measured window.
func (a *Aggregator) AddWindow(w Window) {
	a.windows = append(a.windows, w)
	a.population(w.Population, w.Server)
}

// Record adds one attempt; it makes an Aggregator a Sink.
func (a *Aggregator) Record(r *Result) error {
	sa := a.population(r.Population, r.Server)
	s := &sa.s
	if a.storm != nil {
		a.storm.record(r) // the series include the warm-up (capacity probe, hold ramp)
	}
	if r.Warmup {
		s.Warmup++
		return nil
	}
	s.Attempts++
	if r.Unexpected {
		s.Unexpected++
	}
	if r.Resumed {
		s.Resumed++
	}
	if sa.first.IsZero() || r.Scheduled.Before(sa.first) {
		sa.first = r.Scheduled
	}
	end := r.EndTime()
	if end.After(sa.last) {
		sa.last = end
	}
	b := sa.timeline[end.Unix()]
	if b == nil {
		b = &Bucket{Unix: end.Unix()}
		sa.timeline[end.Unix()] = b
	}
	switch r.Outcome {
	case OutcomeSuccess:
		s.Success++
		b.Success++
		sa.record(MetricTotal, r.TotalUs)
		sa.record(MetricTCP, r.TCPUs)
		sa.record(MetricTLS, r.TLSUs)
		sa.record(MetricConnack, r.ConnackUs)
		sa.latency.record(end.Unix(), r)
		if r.TLSVersion != "" {
			s.TLSVersion[r.TLSVersion]++
		}
	case OutcomeRefused:
		s.Refused++
		b.Refused++
		sa.record(MetricRefusedTotal, r.TotalUs)
	case OutcomeDropped:
		s.Dropped++
		b.Dropped++
	default:
		s.Errors++
		b.Errors++
	}
	bk := breakdownKey{r.Outcome, r.Phase, r.Reason}
	row := sa.breakdown[bk]
	if row == nil {
		row = &BreakdownRow{Outcome: r.Outcome, Phase: r.Phase, Reason: r.Reason}
		sa.breakdown[bk] = row
	}
	row.Count++
	if r.Unexpected {
		row.Unexpected++
	}
	kind := r.Identity
	if kind == "" {
		kind = Good
	}
	ik := identityKey{kind, r.Expected, r.ExpectedReason}
	ir := sa.identities[ik]
	if ir == nil {
		ir = &IdentityRow{Identity: kind, Expected: r.Expected, Reason: r.ExpectedReason}
		sa.identities[ik] = ir
	}
	ir.Attempts++
	if !r.Unexpected {
		ir.AsExpected++
	}
	return nil
}

// AddSummary folds a summary (e.g. another shard's summary.json) into the
// aggregator. Histograms merge exactly.
func (a *Aggregator) AddSummary(s *Summary) error {
	a.runs = append(a.runs, s.Runs...)
	if s.Storm != nil {
		if a.storm == nil {
			a.storm = newStormAgg()
		}
		a.storm.addSummary(s.Storm)
	}
	a.windows = append(a.windows, s.Windows...)
	for i := range s.Servers {
		if err := a.server(s.Servers[i].Server).merge(&s.Servers[i]); err != nil {
			return err
		}
	}
	if f := s.Flood; f != nil {
		fi := f.FloodInfo
		a.flood = &fi
		for pop, in := range map[string]*ServerSummary{PopulationUnflooded: f.Unflooded, PopulationFlood: f.Flood} {
			if in != nil {
				if err := a.population(pop, in.Server).merge(in); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// merge folds another summary's part of the same server and population in.
func (sa *serverAgg) merge(in *ServerSummary) error {
	o := &sa.s
	o.Attempts += in.Attempts
	o.Warmup += in.Warmup
	o.Success += in.Success
	o.Refused += in.Refused
	o.Errors += in.Errors
	o.Dropped += in.Dropped
	o.Unexpected += in.Unexpected
	o.Resumed += in.Resumed
	for k, v := range in.TLSVersion {
		o.TLSVersion[k] += v
	}
	if !in.Start.IsZero() && (sa.first.IsZero() || in.Start.Before(sa.first)) {
		sa.first = in.Start
	}
	if in.End.After(sa.last) {
		sa.last = in.End
	}
	for metric := range in.Histograms {
		h, err := in.Histogram(metric)
		if err != nil {
			return fmt.Errorf("merge summary: %w", err)
		}
		if h != nil {
			sa.histogram(metric).Merge(h)
		}
	}
	for _, r := range in.Breakdown {
		k := breakdownKey{r.Outcome, r.Phase, r.Reason}
		if sa.breakdown[k] == nil {
			sa.breakdown[k] = &BreakdownRow{Outcome: r.Outcome, Phase: r.Phase, Reason: r.Reason}
		}
		sa.breakdown[k].Count += r.Count
		sa.breakdown[k].Unexpected += r.Unexpected
	}
	for _, r := range in.Identities {
		k := identityKey{r.Identity, r.Expected, r.Reason}
		if sa.identities[k] == nil {
			sa.identities[k] = &IdentityRow{Identity: r.Identity, Expected: r.Expected, Reason: r.Reason}
		}
		sa.identities[k].Attempts += r.Attempts
		sa.identities[k].AsExpected += r.AsExpected
	}
	for _, b := range in.Timeline {
		if sa.timeline[b.Unix] == nil {
			sa.timeline[b.Unix] = &Bucket{Unix: b.Unix}
		}
		t := sa.timeline[b.Unix]
		t.Success += b.Success
		t.Refused += b.Refused
		t.Errors += b.Errors
		t.Dropped += b.Dropped
	}
	sa.latency.merge(in.LatencyTimeline)
	return nil
}

// Summary computes the summary of everything added so far.
func (a *Aggregator) Summary() (*Summary, error) {
	out := &Summary{Format: SummaryFormat, Runs: slices.Clone(a.runs), Windows: slices.Clone(a.windows)}
	names := slices.Clone(a.order)
	slices.SortStableFunc(names, func(x, y string) int { return serverRank(x) - serverRank(y) })
	for _, name := range names {
		ss, err := a.servers[name].finish(a.windows)
		if err != nil {
			return nil, err
		}
		out.Servers = append(out.Servers, ss)
	}
	out.Bench = BenchOf(out.Windows)
	p, b := out.UnderTest(), out.Server(ServerBaseline)
	if p != nil && b != nil && p.ServerCPU != nil && b.ServerCPU != nil && b.ServerCPU.PerAttemptUs > 0 {
		out.BaselineRatio = p.ServerCPU.PerAttemptUs / b.ServerCPU.PerAttemptUs
	}
	if a.flood != nil || len(a.pops) > 0 {
		var pops [2]*ServerSummary
		for i, pop := range []string{PopulationUnflooded, PopulationFlood} {
			if sa := a.pops[pop]; sa != nil {
				ss, err := sa.finish(a.windows)
				if err != nil {
					return nil, err
				}
				pops[i] = &ss
			}
		}
		out.Flood = floodSummary(a.flood, pops[0], pops[1], p)
	}
	if a.storm != nil {
		out.Storm = a.storm.summary()
		ss := p // the platform, or the one server of a target without an API
		if ss == nil && len(out.Servers) > 0 {
			ss = &out.Servers[0]
		}
		out.Storm.addReconnects(ss)
	}
	return out, nil
}

func serverRank(name string) int {
	switch name {
	case ServerPlatform, ServerTarget:
		return 0
	case ServerBaseline:
		return 1
	case ServerBaselineMQTT:
		return 2
	case ServerMosquitto:
		return 3
	}
	return 4
}

func (sa *serverAgg) finish(windows []Window) (ServerSummary, error) {
	s := sa.s
	s.Latency = make(map[string]LatencyStats)
	s.Histograms = make(map[string]string)
	for _, m := range Metrics {
		h, ok := sa.hist[m]
		if !ok || h.TotalCount() == 0 {
			continue
		}
		s.Latency[m] = statsOf(h)
		enc, err := h.Encode(hdr.V2CompressedEncodingCookieBase)
		if err != nil {
			return s, fmt.Errorf("encode %s histogram: %w", m, err)
		}
		s.Histograms[m] = string(enc)
	}
	s.Breakdown = s.Breakdown[:0:0]
	for _, r := range sa.breakdown {
		s.Breakdown = append(s.Breakdown, *r)
	}
	slices.SortFunc(s.Breakdown, func(x, y BreakdownRow) int {
		if x.Count != y.Count {
			return int(y.Count - x.Count)
		}
		return strings.Compare(string(x.Outcome)+x.Phase+x.Reason, string(y.Outcome)+y.Phase+y.Reason)
	})
	s.Identities = s.Identities[:0:0]
	for _, r := range sa.identities {
		s.Identities = append(s.Identities, *r)
	}
	slices.SortFunc(s.Identities, func(x, y IdentityRow) int {
		return strings.Compare(string(x.Identity)+string(x.Expected), string(y.Identity)+string(y.Expected))
	})
	s.Timeline = s.Timeline[:0:0]
	for _, b := range sa.timeline {
		s.Timeline = append(s.Timeline, *b)
	}
	slices.SortFunc(s.Timeline, func(x, y Bucket) int { return int(x.Unix - y.Unix) })
	s.LatencyTimeline = sa.latency.seconds()

	// The measured span and the server's CPU. Windows overlapping in time
	// are shards of one measurement: they count once, as their union (the
	// span of the server's CPU counter over them, not the sum of
	// overlapping deltas). Windows apart in time (interleaved rounds, a
	// storm's phases) add up: what lies between them (warm-ups, the other
	// servers' rounds) is not measured.
	var clientCPU, floorSum float64
	var floors int
	var floorOps string
	var mine []Window
	var cpuErr string
	for _, w := range windows {
		if w.Server != s.Server || w.Population != sa.pop {
			continue
		}
		mine = append(mine, w)
		if s.Start.IsZero() || w.Start.Before(s.Start) {
			s.Start = w.Start
		}
		if w.End.After(s.End) {
			s.End = w.End
		}
		clientCPU += w.ClientCPUSeconds
		if w.ClientFloorUs > 0 {
			floorSum += w.ClientFloorUs
			floors++
			floorOps = w.ClientFloorOps
		} else if w.ClientFloorError != "" {
			s.ClientFloorNote = w.ClientFloorError
		}
		if w.ServerCPUSource == "" {
			cpuErr = w.ServerCPUError
		}
		if w.Held > 0 {
			if s.HeldMemoryBytes == 0 {
				s.HeldMemoryBytes = w.HeldMemoryBytes
			} else {
				s.HeldMemoryBytes = (s.HeldMemoryBytes*float64(s.Held) + w.HeldMemoryBytes*float64(w.Held)) / float64(s.Held+w.Held)
			}
			s.Held += w.Held
		}
	}
	measured, serverSecs, sources := measuredSpans(mine)
	if s.Start.IsZero() {
		s.Start, s.End = sa.first, sa.last
	}
	s.DurationS = measured
	if measured == 0 { // no window: the span of the results
		s.DurationS = s.End.Sub(s.Start).Seconds()
	}
	if s.DurationS > 0 {
		s.SuccessRate = float64(s.Success) / s.DurationS
		s.AttemptRate = float64(s.Attempts) / s.DurationS
	}
	if s.Attempts > 0 {
		s.ErrorRate = float64(s.Unexpected) / float64(s.Attempts)
	}
	sent := s.Attempts - s.Dropped
	s.ClientCPU = perLogin("self", clientCPU, sent, s.Success)
	s.ClientFloor = nil
	if floors > 0 && s.ClientCPU.PerAttemptUs > 0 {
		us := floorSum / float64(floors)
		s.ClientFloor = &FloorStat{Us: us, Ops: floorOps, Ratio: s.ClientCPU.PerAttemptUs / us}
		s.ClientFloorNote = ""
	}
	if len(sources) > 0 {
		st := perLogin(strings.Join(sources, ","), serverSecs, sent, s.Success)
		s.ServerCPU = &st
	} else {
		s.ServerCPU = nil
		s.ServerCPUNote = cpuErr
		if cpuErr == "" {
			s.ServerCPUNote = "not measured (no --server-pid and no metrics endpoint)"
		}
	}
	if len(s.TLSVersion) == 0 {
		s.TLSVersion = nil
	}
	return s, nil
}

// measuredSpans returns the measured seconds of windows (the length of the
// union of their time spans) and the server CPU seconds within them, with
// the CPU sources in order of appearance. Windows overlapping in time form
// one group (shards of one measurement): per CPU source, the group counts
// the span of that source's counter over its windows. Groups add up.
func measuredSpans(ws []Window) (measured, serverSecs float64, sources []string) {
	ws = slices.Clone(ws)
	slices.SortStableFunc(ws, func(x, y Window) int { return x.Start.Compare(y.Start) })
	type span struct{ start, end float64 }
	for i := 0; i < len(ws); {
		groupEnd := ws[i].End
		j := i + 1
		for j < len(ws) && !ws[j].Start.After(groupEnd) {
			if ws[j].End.After(groupEnd) {
				groupEnd = ws[j].End
			}
			j++
		}
		measured += groupEnd.Sub(ws[i].Start).Seconds()
		spans := map[string]*span{}
		var order []string
		for _, w := range ws[i:j] {
			if w.ServerCPUSource == "" {
				continue
			}
			sp := spans[w.ServerCPUSource]
			if sp == nil {
				spans[w.ServerCPUSource] = &span{w.ServerCPUStart, w.ServerCPUEnd}
				order = append(order, w.ServerCPUSource)
				if !slices.Contains(sources, w.ServerCPUSource) {
					sources = append(sources, w.ServerCPUSource)
				}
				continue
			}
			sp.start = math.Min(sp.start, w.ServerCPUStart)
			sp.end = math.Max(sp.end, w.ServerCPUEnd)
		}
		for _, src := range order {
			serverSecs += spans[src].end - spans[src].start
		}
		i = j
	}
	return measured, serverSecs, sources
}

func perLogin(source string, secs float64, attempts, success int64) CPUStat {
	st := CPUStat{Source: source, Seconds: secs}
	if attempts > 0 {
		st.PerAttemptUs = secs * 1e6 / float64(attempts)
	}
	if success > 0 {
		st.PerSuccessUs = secs * 1e6 / float64(success)
	}
	return st
}

func statsOf(h *hdr.Histogram) LatencyStats {
	return LatencyStats{
		Count: h.TotalCount(),
		Min:   h.Min(),
		Mean:  math.Round(h.Mean()*10) / 10,
		P50:   h.ValueAtQuantile(50),
		P90:   h.ValueAtQuantile(90),
		P99:   h.ValueAtQuantile(99),
		P999:  h.ValueAtQuantile(99.9),
		Max:   h.Max(),
	}
}

// Aggregate reads a results file to the end into a.
func (a *Aggregator) Aggregate(r io.Reader) error {
	rd := NewReader(r)
	for {
		rec, err := rd.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		a.AddRecord(rec)
	}
}
