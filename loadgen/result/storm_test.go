package result

import (
	"bytes"
	"encoding/json"
	"math"
	"testing"
	"time"
)

// stormFixture is a small storm, bucket-aligned: ten devices held from a
// warm-up ramp, an outage at t1, and per device two failed reconnect
// attempts (refused before TLS, then a TCP error) at t1+50ms, then a session
// in the bucket t1+(i+1)·100ms with a TLS time of (i+1) ms; device 0 also
// times out once in TLS (a wasted handshake).
type stormFixture struct {
	t0, t1  time.Time
	run     RunInfo
	info    func(devices []int) StormInfo
	results func(devices []int) []*Result
}

func newStormFixture() stormFixture {
	t0 := time.UnixMilli(1_800_000_000_000).UTC()
	t1 := t0.Add(2 * time.Second)
	ms := time.Millisecond
	f := stormFixture{t0: t0, t1: t1, run: RunInfo{ID: "storm-test", Mode: ModeStorm, Devices: 10}}
	f.info = func(devices []int) StormInfo {
		si := StormInfo{Outage: "client-drop", Policy: "full-jitter", PolicyParams: "base=100ms cap=1s", DeadlineS: 10,
			BucketMs: 100, OutageAt: t1, EndedAt: t1.Add(1500 * ms), Devices: len(devices), Held: len(devices),
			Capacity: 50, CapacityS: 1}
		// Samples from t0 to the end: all connected before the outage, then the returns.
		for k := 1; k <= 35; k++ {
			end := t0.Add(time.Duration(k) * 100 * ms)
			conn := 0
			for _, d := range devices {
				if end.Before(t1) || end.After(t1.Add(time.Duration(d+1)*100*ms)) {
					conn++
				}
			}
			si.Samples = append(si.Samples, StormSample{T: end, Connected: conn, ClientCPUS: 0.01, ServerCPUS: 0.02, ServerCPUOK: true})
		}
		return si
	}
	f.results = func(devices []int) []*Result {
		var rs []*Result
		add := func(r Result) { r.Server = ServerPlatform; rs = append(rs, &r) }
		for _, d := range devices {
			ramp := t0.Add(time.Duration(d) * 10 * ms)
			add(Result{Device: d, Scheduled: ramp, Start: ramp, TLSUs: 900, ConnackUs: 100, TotalUs: 1000, Outcome: OutcomeSuccess, Warmup: true})
			fail := t1.Add(50 * ms)
			add(Result{Device: d, Scheduled: fail, Start: fail, TotalUs: 1000, Outcome: OutcomeRefused, Phase: PhaseTLS, Reason: ReasonClosedBeforeTLS})
			add(Result{Device: d, Scheduled: fail, Start: fail, TotalUs: 2000, Outcome: OutcomeError, Phase: PhaseTCP, Reason: "refused_tcp"})
			if d == 0 {
				add(Result{Device: d, Scheduled: fail, Start: fail, TotalUs: 30000, Outcome: OutcomeError, Phase: PhaseTLS, Reason: "timeout"})
			}
			ok := t1.Add(time.Duration(d+1)*100*ms + 5*ms)
			add(Result{Device: d, Scheduled: ok, Start: ok, TLSUs: int64(d+1) * 1000, ConnackUs: 200, TotalUs: 5000, Outcome: OutcomeSuccess})
		}
		return rs
	}
	return f
}

func aggregateStorm(t *testing.T, run RunInfo, infos []StormInfo, results []*Result) *Summary {
	t.Helper()
	a := NewAggregator()
	a.AddRun(run)
	for _, r := range results {
		if err := a.Record(r); err != nil {
			t.Fatal(err)
		}
	}
	for _, si := range infos {
		a.AddStorm(si)
	}
	s, err := a.Summary()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func approx(a, b float64) bool { return math.Abs(a-b) < 1e-9 }

func requireTime(t *testing.T, name string, got *float64, want float64) {
	t.Helper()
	if got == nil || !approx(*got, want) {
		g := "never"
		if got != nil {
			g = time.Duration(*got * float64(time.Second)).String()
		}
		t.Errorf("%s = %s, want %v", name, g, time.Duration(want*float64(time.Second)))
	}
}

// The storm's series per 100 ms bucket and its figures, from the records.
func TestStormSeries(t *testing.T) {
	f := newStormFixture()
	all := []int{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}
	s := aggregateStorm(t, f.run, []StormInfo{f.info(all)}, f.results(all))
	st := s.Storm
	if st == nil {
		t.Fatal("no storm summary")
	}
	if st.Held != 10 || st.Returned != 10 || st.NeverReturned != 0 || st.Devices != 10 {
		t.Errorf("held %d returned %d never %d devices %d", st.Held, st.Returned, st.NeverReturned, st.Devices)
	}
	// Device i is back in the bucket t1+(i+1)·100ms: 5 of 10 at 0.6 s, 9 at 1.0 s, all at 1.1 s.
	requireTime(t, "time to 50%", st.TimeTo50S, 0.6)
	requireTime(t, "time to 90%", st.TimeTo90S, 1.0)
	requireTime(t, "time to 99%", st.TimeTo99S, 1.1)
	requireTime(t, "time to 100%", st.TimeTo100S, 1.1)
	// 21 attempts start in the outage's bucket and one more in each of the
	// next nine: the busiest second holds 30; the capacity is 50 logins/s.
	if !approx(st.PeakAttemptRate, 30) || !approx(st.PeakAtS, 0) || !approx(st.HerdFactor, 0.6) {
		t.Errorf("peak %v/s at %vs, herd factor %v; want 30/s at 0s, 0.6", st.PeakAttemptRate, st.PeakAtS, st.HerdFactor)
	}
	if st.Attempts != 31 || st.Succeeded != 10 || st.Refused[ReasonClosedBeforeTLS] != 10 || st.Failed[PhaseTCP] != 10 || st.Failed[PhaseTLS] != 1 {
		t.Errorf("attempts %d succeeded %d refused %v failed %v", st.Attempts, st.Succeeded, st.Refused, st.Failed)
	}
	if st.WastedAttempts != 21 || st.WastedHandshakes != 1 {
		t.Errorf("wasted attempts %d handshakes %d, want 21 and 1 (only the TLS timeout reached the server's TLS)", st.WastedAttempts, st.WastedHandshakes)
	}
	// 15 samples from the outage on (t1 .. t1+1.5 s): CPU after the outage.
	if !approx(math.Round(st.ClientCPUS*1000)/1000, 0.15) || !approx(math.Round(st.ServerCPUS*1000)/1000, 0.3) || !st.ServerCPUOK {
		t.Errorf("cpu client %v server %v (ok %v), want 0.15 and 0.3", st.ClientCPUS, st.ServerCPUS, st.ServerCPUOK)
	}
	bucket := func(at time.Time) StormPoint {
		for _, p := range st.Buckets {
			if p.T == at.UnixMilli() {
				return p
			}
		}
		t.Fatalf("no bucket at %v", at)
		return StormPoint{}
	}
	out := bucket(f.t1)
	if out.Started != 21 || out.RefusedTotal() != 10 || out.FailedTotal() != 11 || out.Connected != 0 || out.Wasted != 1 {
		t.Errorf("outage bucket %+v", out)
	}
	b3 := bucket(f.t1.Add(300 * time.Millisecond)) // device 2 back; devices 0..2 connected at its end
	if b3.Started != 1 || b3.Succeeded != 1 || b3.Returned != 1 || b3.TLSP50Us != 3000 || b3.ConnackP99Us != 200 || b3.Connected != 3 {
		t.Errorf("bucket t1+300ms %+v", b3)
	}
	ramp := bucket(f.t0) // the warm-up ramp is in the series, not in the figures
	if ramp.Started != 10 || ramp.Succeeded != 10 || ramp.Returned != 0 {
		t.Errorf("ramp bucket %+v", ramp)
	}
	if ps := s.Server(ServerPlatform); ps.Attempts != 31 || ps.Warmup != 10 {
		t.Errorf("platform summary: %d attempts %d warm-up", ps.Attempts, ps.Warmup)
	}
}

// Shards merge bucket by bucket, from their results files or from their
// summaries, into the figures of the whole storm.
func TestStormShardsMerge(t *testing.T) {
	f := newStormFixture()
	even, odd := []int{0, 2, 4, 6, 8}, []int{1, 3, 5, 7, 9}
	whole := aggregateStorm(t, f.run, []StormInfo{f.info([]int{0, 1, 2, 3, 4, 5, 6, 7, 8, 9})}, f.results([]int{0, 1, 2, 3, 4, 5, 6, 7, 8, 9})).Storm

	var files []*bytes.Buffer
	var summaries []*Summary
	for i, devs := range [][]int{even, odd} {
		run := f.run
		run.Shard = Shard{Index: i, Count: 2}
		info := f.info(devs)
		info.Shard = run.Shard
		var buf bytes.Buffer
		w := NewWriter(&buf)
		if err := w.WriteRun(run); err != nil {
			t.Fatal(err)
		}
		for _, r := range f.results(devs) {
			if err := w.Record(r); err != nil {
				t.Fatal(err)
			}
		}
		if err := w.WriteStorm(info); err != nil {
			t.Fatal(err)
		}
		if err := w.Flush(); err != nil {
			t.Fatal(err)
		}
		files = append(files, &buf)
		a := NewAggregator()
		if err := a.Aggregate(bytes.NewReader(buf.Bytes())); err != nil {
			t.Fatal(err)
		}
		s, err := a.Summary()
		if err != nil {
			t.Fatal(err)
		}
		// Through JSON, as summary.json files are read.
		b, _ := json.Marshal(s)
		var back Summary
		if err := json.Unmarshal(b, &back); err != nil {
			t.Fatal(err)
		}
		summaries = append(summaries, &back)
	}
	fromFiles := NewAggregator()
	for _, buf := range files {
		if err := fromFiles.Aggregate(buf); err != nil {
			t.Fatal(err)
		}
	}
	fromSummaries := NewAggregator()
	for _, s := range summaries {
		if err := fromSummaries.AddSummary(s); err != nil {
			t.Fatal(err)
		}
	}
	for name, a := range map[string]*Aggregator{"results files": fromFiles, "summaries": fromSummaries} {
		s, err := a.Summary()
		if err != nil {
			t.Fatal(err)
		}
		m := s.Storm
		if m == nil || len(m.Shards) != 2 {
			t.Fatalf("%s: storm %+v", name, m)
		}
		if m.Held != whole.Held || m.Returned != whole.Returned || m.Attempts != whole.Attempts ||
			m.WastedHandshakes != whole.WastedHandshakes || !approx(m.PeakAttemptRate, whole.PeakAttemptRate) ||
			!approx(m.Capacity, 2*whole.Capacity) || len(m.Buckets) != len(whole.Buckets) {
			t.Errorf("%s: held %d returned %d attempts %d wasted %d peak %v capacity %v buckets %d; whole: %d %d %d %d %v %v %d", name,
				m.Held, m.Returned, m.Attempts, m.WastedHandshakes, m.PeakAttemptRate, m.Capacity, len(m.Buckets),
				whole.Held, whole.Returned, whole.Attempts, whole.WastedHandshakes, whole.PeakAttemptRate, whole.Capacity, len(whole.Buckets))
		}
		requireTime(t, name+" time to 99%", m.TimeTo99S, *whole.TimeTo99S)
		requireTime(t, name+" time to 50%", m.TimeTo50S, *whole.TimeTo50S)
		for i := range m.Buckets {
			if m.Buckets[i].Connected != whole.Buckets[i].Connected || m.Buckets[i].Started != whole.Buckets[i].Started {
				t.Fatalf("%s: bucket %d %+v, whole %+v", name, i, m.Buckets[i], whole.Buckets[i])
			}
		}
	}
}

// A device that never comes back before the deadline is counted, and the
// times it never reached stay empty.
func TestStormNeverReturned(t *testing.T) {
	f := newStormFixture()
	all := []int{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}
	var rs []*Result
	for _, r := range f.results(all) {
		if r.Device == 9 && r.Outcome == OutcomeSuccess && !r.Warmup {
			continue
		}
		rs = append(rs, r)
	}
	st := aggregateStorm(t, f.run, []StormInfo{f.info(all)}, rs).Storm
	if st.NeverReturned != 1 || st.Returned != 9 {
		t.Errorf("returned %d never %d", st.Returned, st.NeverReturned)
	}
	requireTime(t, "time to 90%", st.TimeTo90S, 1.0)
	if st.TimeTo99S != nil || st.TimeTo100S != nil {
		t.Errorf("time to 99%% %v, 100%% %v; want never", st.TimeTo99S, st.TimeTo100S)
	}
}

// A device that reconnected to a platform still shutting down lost that
// session again: it is back only with the session it holds at the end, and
// not at all when its last attempt failed.
func TestStormReturnedIsTheLastSession(t *testing.T) {
	f := newStormFixture()
	ms := time.Millisecond
	rs := f.results([]int{0, 1})
	at := func(d time.Duration) time.Time { return f.t1.Add(d) }
	// Device 0: back at once (dying platform), then refused, then back for good at +1.25 s.
	// Device 1 (its success at +205 ms in the fixture): lost again, then only refusals.
	for _, r := range []Result{
		{Device: 0, Scheduled: at(20 * ms), Start: at(20 * ms), TotalUs: 1000, Outcome: OutcomeSuccess},
		{Device: 0, Scheduled: at(600 * ms), Start: at(600 * ms), TotalUs: 1000, Outcome: OutcomeRefused, Phase: PhaseTLS, Reason: ReasonClosedBeforeTLS},
		{Device: 0, Scheduled: at(1250 * ms), Start: at(1250 * ms), TotalUs: 1000, Outcome: OutcomeSuccess},
		{Device: 1, Scheduled: at(900 * ms), Start: at(900 * ms), TotalUs: 1000, Outcome: OutcomeRefused, Phase: PhaseTLS, Reason: ReasonClosedBeforeTLS},
	} {
		r.Server = ServerPlatform
		rs = append(rs, &r)
	}
	st := aggregateStorm(t, f.run, []StormInfo{f.info([]int{0, 1})}, rs).Storm
	if st.Held != 2 || st.Returned != 1 || st.NeverReturned != 1 {
		t.Errorf("held %d returned %d never %d; want 2, 1, 1", st.Held, st.Returned, st.NeverReturned)
	}
	requireTime(t, "time to 50%", st.TimeTo50S, 1.3) // device 0's last session began in the bucket of +1.2 s
}

// The platform's counters agree with the generator's exactly, or within
// the attempts that met a restarted platform stopping.
func TestLoginCountsAgree(t *testing.T) {
	exact := LoginCounts{PlatformSuccess: 10, PlatformBusy: 3, Success: 10, Busy: 3}
	if !exact.Agree() {
		t.Error("equal counts do not agree")
	}
	off := exact
	off.PlatformBusy = 2
	if off.Agree() {
		t.Error("a busy refusal the platform did not count agrees")
	}
	off.UncertainBusy = 1
	if !off.Agree() || off.Uncertain() != 1 {
		t.Error("a difference within the uncertain attempts does not agree")
	}
	more := exact
	more.PlatformSuccess, more.UncertainSuccess = 11, 5
	if more.Agree() {
		t.Error("the platform counting more than the generator saw agrees")
	}
}

// A bucket no sample ended (the sampler was late) keeps the devices
// connected of the reading before it, not zero.
func TestStormMissingSampleCarriesConnected(t *testing.T) {
	f := newStormFixture()
	all := []int{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}
	info := f.info(all)
	var kept []StormSample
	gap := f.t0.Add(500 * time.Millisecond) // the ramp is over; all ten connected
	for _, smp := range info.Samples {
		if !smp.T.Equal(gap) {
			kept = append(kept, smp)
		}
	}
	info.Samples = kept
	rs := append(f.results(all), &Result{Server: ServerPlatform, Device: 0, Scheduled: gap.Add(-50 * time.Millisecond),
		Start: gap.Add(-50 * time.Millisecond), TotalUs: 1000, Outcome: OutcomeSuccess, Warmup: true})
	st := aggregateStorm(t, f.run, []StormInfo{info}, rs).Storm
	for _, p := range st.Buckets {
		if p.T == gap.Add(-100*time.Millisecond).UnixMilli() && p.Connected != 10 {
			t.Errorf("bucket without a sample: %d connected, want 10 (the reading before)", p.Connected)
		}
	}
}
