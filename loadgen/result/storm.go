package result

// storm.go: the results of a reconnect storm (loadgen's storm mode). The
// engine writes every login attempt as a Result — the capacity probe and the
// hold ramp before the outage as warm-up, every reconnect attempt after it
// as measured — and one "storm" record per shard (StormInfo) with the
// outage, the policy, the capacity measured before the storm and a sample
// per bucket of the devices connected and the CPU both sides spent. The
// Aggregator turns them into a StormSummary: per-bucket series and the
// figures (time to 50/90/99/100% reconnected, peak attempt rate against the
// capacity, wasted handshakes, devices that never came back). Buckets are
// aligned to the Unix clock, so shards' series add up bucket by bucket.

import (
	"math"
	"slices"
	"sort"
	"time"
)

// StormBucket is the width of a storm's time buckets.
const StormBucket = 100 * time.Millisecond

// StormInfo is one shard's storm: its settings and what the engine measured
// itself. It is the "storm" record of a results file, written at the end.
type StormInfo struct {
	Shard        Shard   `json:"shard"`
	Outage       string  `json:"outage"`           // client-drop, restart or kill
	DownS        float64 `json:"down_s,omitempty"` // restart, kill: how long the platform was kept down
	Policy       string  `json:"policy"`
	PolicyParams string  `json:"policy_params"`
	Seed         uint64  `json:"seed"` // of the devices' reconnect jitter
	DeadlineS    float64 `json:"deadline_s"`
	BucketMs     int     `json:"bucket_ms"`

	OutageAt     time.Time `json:"outage_at"`               // sessions cut, or the platform signalled to stop
	ServerBackAt time.Time `json:"server_back_at,omitzero"` // restart, kill: the platform ready again
	EndedAt      time.Time `json:"ended_at"`                // all back, or the deadline
	Devices      int       `json:"devices"`                 // devices of this shard
	Held         int       `json:"held"`                    // devices holding a session at the outage
	Capacity     float64   `json:"capacity_logins_per_s"`   // steady login capacity measured before the storm (0: not measured)
	CapacityS    float64   `json:"capacity_probe_s"`        // how long the capacity was measured
	CapacityNote string    `json:"capacity_note,omitempty"` // why it was not
	Note         string    `json:"note,omitempty"`          // anything the engine wants the reader to know

	// ServerLogins compares the platform's own login counters with the
	// generator's for the whole run, when the target has a metrics endpoint.
	ServerLogins *LoginCounts `json:"server_logins,omitempty"`

	Samples []StormSample `json:"samples,omitempty"`
}

// StormSample is the engine's reading at the end of one bucket.
type StormSample struct {
	T          time.Time `json:"t"`            // end of the bucket
	Connected  int       `json:"connected"`    // devices holding a session
	ClientCPUS float64   `json:"client_cpu_s"` // generator CPU spent in the bucket
	// ServerCPUS is the server's CPU spent in the bucket; ServerCPUOK is
	// false when it could not be read (the platform down, or no source). A
	// restarted platform's counter starts again from zero: the engine counts
	// the new process from its start.
	ServerCPUS  float64 `json:"server_cpu_s,omitempty"`
	ServerCPUOK bool    `json:"server_cpu_ok,omitempty"`
}

// LoginCounts are login outcomes counted by the platform and by the
// generator over the same run (every process of a restarted platform).
type LoginCounts struct {
	Source string `json:"source"` // the metrics endpoint read
	// The platform's certlab_platform_logins_total: successes, server_busy
	// refusals, every other refusal.
	PlatformSuccess      float64 `json:"platform_success"`
	PlatformBusy         float64 `json:"platform_server_busy"`
	PlatformOtherRefused float64 `json:"platform_other_refused"`
	// The generator's, mapped onto the platform's reasons: a session;
	// closed_before_tls or CONNACK 0x03/0x89 (server_busy); any other
	// refusal. Errors (the platform down, timeouts) the platform may never
	// have seen.
	Success      int64 `json:"generator_success"`
	Busy         int64 `json:"generator_server_busy"`
	OtherRefused int64 `json:"generator_other_refused"`
	Errors       int64 `json:"generator_errors"`
	// Of the generator's, those the platform's counters cannot be held to:
	// attempts that started between a restart's or kill's signal and the new
	// process being ready and were reset before TLS (the dying process's
	// kernel resets the connections it had queued; no process counts them),
	// and under a restart any outcome of them (the stopping process may still
	// serve a login after its counters were last read). Zero for client-drop.
	UncertainSuccess      int64 `json:"uncertain_success,omitempty"`
	UncertainBusy         int64 `json:"uncertain_server_busy,omitempty"`
	UncertainOtherRefused int64 `json:"uncertain_other_refused,omitempty"`
}

// Agree reports whether the platform counted the sessions, the busy
// refusals and the other refusals the generator saw: exactly, or within
// the uncertain attempts of a restart.
func (c *LoginCounts) Agree() bool {
	within := func(platform float64, gen, uncertain int64) bool {
		return platform <= float64(gen) && platform >= float64(gen-uncertain)
	}
	return within(c.PlatformSuccess, c.Success, c.UncertainSuccess) && within(c.PlatformBusy, c.Busy, c.UncertainBusy) &&
		within(c.PlatformOtherRefused, c.OtherRefused, c.UncertainOtherRefused)
}

// Uncertain is the number of attempts the comparison cannot place.
func (c *LoginCounts) Uncertain() int64 {
	return c.UncertainSuccess + c.UncertainBusy + c.UncertainOtherRefused
}

// StormSummary is a storm's series and figures; several shards merge
// bucket by bucket.
type StormSummary struct {
	Shards []StormInfo `json:"shards"` // without their samples (they are in Buckets)

	Outage       string    `json:"outage"`
	Policy       string    `json:"policy"`
	PolicyParams string    `json:"policy_params"`
	BucketMs     int       `json:"bucket_ms"`
	OutageAt     time.Time `json:"outage_at"`               // the earliest shard's
	ServerBackAt time.Time `json:"server_back_at,omitzero"` // the latest shard's
	EndedAt      time.Time `json:"ended_at"`

	Devices       int `json:"devices"`
	Held          int `json:"held"`           // sessions cut by the outage
	Returned      int `json:"returned"`       // of them, devices holding a session again at the end
	NeverReturned int `json:"never_returned"` // Held - Returned

	// TimeTo50S ... TimeTo100S: seconds from the outage until that share of
	// the held devices had a session again, to the end of the bucket it
	// happened in; nil when it never did.
	TimeTo50S  *float64 `json:"time_to_50_s"`
	TimeTo90S  *float64 `json:"time_to_90_s"`
	TimeTo99S  *float64 `json:"time_to_99_s"`
	TimeTo100S *float64 `json:"time_to_100_s"`

	Capacity        float64 `json:"capacity_logins_per_s"` // summed over shards
	PeakAttemptRate float64 `json:"peak_attempt_rate"`     // attempts started in the busiest second after the outage
	PeakAtS         float64 `json:"peak_at_s"`             // when that second began, after the outage
	HerdFactor      float64 `json:"herd_factor"`           // PeakAttemptRate / Capacity (0: capacity not measured)

	Attempts         int64            `json:"attempts"` // reconnect attempts (after the outage)
	Succeeded        int64            `json:"succeeded"`
	Refused          map[string]int64 `json:"refused"` // by reason
	Failed           map[string]int64 `json:"failed"`  // errors, by phase
	WastedAttempts   int64            `json:"wasted_attempts"`
	WastedHandshakes int64            `json:"wasted_handshakes"`

	ClientCPUS  float64 `json:"client_cpu_s"` // after the outage
	ServerCPUS  float64 `json:"server_cpu_s"` // after the outage, while readable
	ServerCPUOK bool    `json:"server_cpu_ok"`

	Buckets []StormPoint `json:"buckets"`
}

// StormPoint is one bucket of a storm's series. Attempts are counted in the
// bucket they started (Started) or ended in (the rest).
type StormPoint struct {
	T            int64            `json:"t_ms"` // start of the bucket, Unix milliseconds
	Connected    int              `json:"connected"`
	Started      int64            `json:"started"`
	Succeeded    int64            `json:"succeeded"`
	Refused      map[string]int64 `json:"refused,omitempty"`
	Failed       map[string]int64 `json:"failed,omitempty"`
	Returned     int64            `json:"returned"` // devices whose session held at the end began here
	Wasted       int64            `json:"wasted"`   // wasted handshakes that ended here
	TLSP50Us     int64            `json:"tls_p50_us,omitempty"`
	TLSP99Us     int64            `json:"tls_p99_us,omitempty"`
	ConnackP50Us int64            `json:"connack_p50_us,omitempty"`
	ConnackP99Us int64            `json:"connack_p99_us,omitempty"`
	ClientCPUS   float64          `json:"client_cpu_s"`
	ServerCPUS   float64          `json:"server_cpu_s,omitempty"`
	ServerCPUOK  bool             `json:"server_cpu_ok,omitempty"`
}

// RefusedTotal is the bucket's refusals of every reason.
func (p *StormPoint) RefusedTotal() int64 { return sumCounts(p.Refused) }

// FailedTotal is the bucket's errors of every phase.
func (p *StormPoint) FailedTotal() int64 { return sumCounts(p.Failed) }

func sumCounts(m map[string]int64) int64 {
	var n int64
	for _, v := range m {
		n += v
	}
	return n
}

// WastedHandshake reports whether a reconnect attempt that did not end in
// a session cost the server a handshake (or part of one): it reached the
// server's TLS — not a TCP failure, not a refusal before TLS.
func WastedHandshake(r *Result) bool {
	return r.Outcome != OutcomeSuccess && r.Phase != PhaseTCP && r.Reason != ReasonClosedBeforeTLS
}

// ReasonClosedBeforeTLS is the generator's reason for a connection the server
// closed before sending a TLS byte (device.ReasonClosedBeforeTLS).
const ReasonClosedBeforeTLS = "closed_before_tls"

// stormAgg aggregates a storm for an Aggregator.
type stormAgg struct {
	infos   []StormInfo
	buckets map[int64]*stormAcc
	// last is each device's last reconnect attempt (measured, after the
	// outage): a device is back when it is a session, from its end on. (A
	// device that reconnected to a platform still shutting down lost that
	// session again and went on reconnecting.)
	last map[int]lastAttempt
}

type lastAttempt struct {
	end     time.Time
	success bool
}

type stormAcc struct {
	p            StormPoint
	tls, connack []int64 // µs of the successes that ended here
	sampled      bool
}

func newStormAgg() *stormAgg {
	return &stormAgg{buckets: map[int64]*stormAcc{}, last: map[int]lastAttempt{}}
}

func bucketOf(t time.Time) int64 {
	ms := t.UnixMilli()
	w := StormBucket.Milliseconds()
	return ms - ((ms%w)+w)%w
}

func (s *stormAgg) bucket(t time.Time) *stormAcc {
	k := bucketOf(t)
	b := s.buckets[k]
	if b == nil {
		b = &stormAcc{p: StormPoint{T: k}}
		s.buckets[k] = b
	}
	return b
}

// record adds one attempt: warm-up attempts (the capacity probe, the hold
// ramp) to the series only, reconnect attempts to the figures too.
func (s *stormAgg) record(r *Result) {
	s.bucket(r.Start).p.Started++
	end := s.bucket(r.EndTime())
	switch r.Outcome {
	case OutcomeSuccess:
		end.p.Succeeded++
		end.tls = append(end.tls, r.TLSUs)
		end.connack = append(end.connack, r.ConnackUs)
	case OutcomeRefused:
		addCount(&end.p.Refused, r.Reason, 1)
	default:
		addCount(&end.p.Failed, r.Phase, 1)
	}
	if r.Warmup {
		return
	}
	if WastedHandshake(r) {
		end.p.Wasted++
	}
	if l, ok := s.last[r.Device]; !ok || !r.EndTime().Before(l.end) {
		s.last[r.Device] = lastAttempt{end: r.EndTime(), success: r.Outcome == OutcomeSuccess}
	}
}

func addCount(m *map[string]int64, k string, n int64) {
	if *m == nil {
		*m = map[string]int64{}
	}
	(*m)[k] += n
}

// add adds a shard's storm record: its settings and its samples.
func (s *stormAgg) add(info StormInfo) {
	for _, smp := range info.Samples {
		b := s.bucket(smp.T.Add(-time.Nanosecond)) // T ends the bucket
		s.addSample(b, smp.Connected, smp.ClientCPUS, smp.ServerCPUS, smp.ServerCPUOK)
	}
	info.Samples = nil
	s.infos = append(s.infos, info)
}

// addSample adds one shard's reading. Shards add up their devices and their
// generators' CPU; they watch the same server, whose CPU is taken once (the
// highest reading).
func (s *stormAgg) addSample(b *stormAcc, connected int, client, server float64, serverOK bool) {
	b.sampled = true
	b.p.Connected += connected
	b.p.ClientCPUS += client
	if serverOK {
		b.p.ServerCPUS = math.Max(b.p.ServerCPUS, server)
		b.p.ServerCPUOK = true
	}
}

// addSummary folds in a storm summary (another shard's summary.json). Its
// bucket percentiles cannot be merged exactly: the highest is kept.
func (s *stormAgg) addSummary(in *StormSummary) {
	s.infos = append(s.infos, in.Shards...)
	for _, p := range in.Buckets {
		b := s.buckets[p.T]
		if b == nil {
			b = &stormAcc{p: StormPoint{T: p.T}}
			s.buckets[p.T] = b
		}
		s.addSample(b, p.Connected, p.ClientCPUS, p.ServerCPUS, p.ServerCPUOK)
		b.p.Started += p.Started
		b.p.Succeeded += p.Succeeded
		b.p.Returned += p.Returned
		b.p.Wasted += p.Wasted
		for k, v := range p.Refused {
			addCount(&b.p.Refused, k, v)
		}
		for k, v := range p.Failed {
			addCount(&b.p.Failed, k, v)
		}
		b.p.TLSP50Us = max(b.p.TLSP50Us, p.TLSP50Us)
		b.p.TLSP99Us = max(b.p.TLSP99Us, p.TLSP99Us)
		b.p.ConnackP50Us = max(b.p.ConnackP50Us, p.ConnackP50Us)
		b.p.ConnackP99Us = max(b.p.ConnackP99Us, p.ConnackP99Us)
	}
}

// percentile of sorted values (nearest rank); 0 for none.
func percentile(sorted []int64, q float64) int64 {
	if len(sorted) == 0 {
		return 0
	}
	i := int(math.Ceil(q/100*float64(len(sorted)))) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

// summary computes the storm's series and figures.
func (s *stormAgg) summary() *StormSummary {
	out := &StormSummary{BucketMs: int(StormBucket.Milliseconds()), Refused: map[string]int64{}, Failed: map[string]int64{}}
	for _, in := range s.infos {
		out.Shards = append(out.Shards, in)
		out.Outage, out.Policy, out.PolicyParams = in.Outage, in.Policy, in.PolicyParams
		if !in.OutageAt.IsZero() && (out.OutageAt.IsZero() || in.OutageAt.Before(out.OutageAt)) {
			out.OutageAt = in.OutageAt
		}
		if in.ServerBackAt.After(out.ServerBackAt) {
			out.ServerBackAt = in.ServerBackAt
		}
		if in.EndedAt.After(out.EndedAt) {
			out.EndedAt = in.EndedAt
		}
		out.Devices += in.Devices
		out.Held += in.Held
		out.Capacity += in.Capacity
	}
	keys := make([]int64, 0, len(s.buckets))
	for k := range s.buckets {
		keys = append(keys, k)
	}
	returned := map[int64]int64{} // by bucket, from the devices' last attempts
	for _, l := range s.last {
		if l.success {
			returned[bucketOf(l.end)]++
		}
	}
	slices.Sort(keys)
	outage := int64(math.MinInt64)
	if !out.OutageAt.IsZero() {
		outage = bucketOf(out.OutageAt)
	}
	lastConnected := 0
	for _, k := range keys {
		b := s.buckets[k]
		if b.sampled {
			lastConnected = b.p.Connected
		} else {
			// No sample ended this bucket (a sampler late under load): the
			// devices connected are the last reading's, not none.
			b.p.Connected = lastConnected
		}
		slices.Sort(b.tls)
		slices.Sort(b.connack)
		if len(b.tls) > 0 {
			b.p.TLSP50Us = max(b.p.TLSP50Us, percentile(b.tls, 50))
			b.p.TLSP99Us = max(b.p.TLSP99Us, percentile(b.tls, 99))
			b.p.ConnackP50Us = max(b.p.ConnackP50Us, percentile(b.connack, 50))
			b.p.ConnackP99Us = max(b.p.ConnackP99Us, percentile(b.connack, 99))
		}
		p := b.p
		p.Returned += returned[k]
		out.Buckets = append(out.Buckets, p)
		out.Returned += int(p.Returned)
		out.WastedHandshakes += b.p.Wasted
		if k >= outage {
			out.ClientCPUS += b.p.ClientCPUS
			if b.p.ServerCPUOK {
				out.ServerCPUS += b.p.ServerCPUS
				out.ServerCPUOK = true
			}
		}
	}
	out.NeverReturned = max(out.Held-out.Returned, 0)
	out.timeTo(outage)
	out.peak(outage)
	return out
}

// addReconnects counts the reconnect attempts (the measured ones) from the
// server summary of the same results.
func (out *StormSummary) addReconnects(ss *ServerSummary) {
	if ss == nil {
		return
	}
	for _, r := range ss.Breakdown {
		out.Attempts += r.Count
		switch r.Outcome {
		case OutcomeSuccess:
			out.Succeeded += r.Count
		case OutcomeRefused:
			out.Refused[r.Reason] += r.Count
		default:
			out.Failed[r.Phase] += r.Count
		}
	}
	out.WastedAttempts = out.Attempts - out.Succeeded
}

// timeTo sets TimeTo50S ... TimeTo100S from the cumulative returns.
func (out *StormSummary) timeTo(outage int64) {
	if out.Held == 0 {
		return
	}
	var cum int64
	targets := []struct {
		share float64
		dst   **float64
	}{{50, &out.TimeTo50S}, {90, &out.TimeTo90S}, {99, &out.TimeTo99S}, {100, &out.TimeTo100S}}
	for _, p := range out.Buckets {
		cum += p.Returned
		for _, tg := range targets {
			need := int64(math.Ceil(tg.share / 100 * float64(out.Held)))
			if *tg.dst == nil && cum >= need && cum > 0 {
				v := float64(p.T+int64(out.BucketMs)-outage) / 1000
				*tg.dst = &v
			}
		}
	}
}

// peak finds the busiest second (ten buckets in a row) of attempts started
// after the outage.
func (out *StormSummary) peak(outage int64) {
	w := int64(out.BucketMs)
	started := map[int64]int64{}
	first, last := int64(math.MaxInt64), int64(math.MinInt64)
	for _, p := range out.Buckets {
		if p.T >= outage {
			started[p.T] = p.Started
			first, last = min(first, p.T), max(last, p.T)
		}
	}
	per := time.Second.Milliseconds() / w
	for t := first; t <= last; t += w {
		var n int64
		for i := range per {
			n += started[t+i*w]
		}
		if rate := float64(n) * 1000 / float64(per*w); rate > out.PeakAttemptRate {
			out.PeakAttemptRate, out.PeakAtS = rate, float64(t-outage)/1000
		}
	}
	if out.Capacity > 0 {
		out.HerdFactor = out.PeakAttemptRate / out.Capacity
	}
}

// sortedReasons returns the keys of a count map, largest count first.
func sortedReasons(m map[string]int64) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if m[keys[i]] != m[keys[j]] {
			return m[keys[i]] > m[keys[j]]
		}
		return keys[i] < keys[j]
	})
	return keys
}

// SortedCounts returns the keys of a count map, largest count first.
func SortedCounts(m map[string]int64) []string { return sortedReasons(m) }
