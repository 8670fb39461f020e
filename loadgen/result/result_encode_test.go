package result

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"
)

// stdLine is the reference: what encoding/json writes for line{Result: r}
// with HTML escaping off, as Writer did before appendResultLine.
func stdLine(r *Result) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	err := enc.Encode(line{Result: r})
	return b.Bytes(), err
}

func assertSameAsJSON(t *testing.T, r *Result) {
	t.Helper()
	want, err := stdLine(r)
	if err != nil {
		t.Fatalf("encoding/json: %v", err)
	}
	if !resultTimesEncodable(r) {
		t.Fatalf("resultTimesEncodable = false, but encoding/json encodes %s", want)
	}
	got := appendResultLine(nil, r)
	if !bytes.Equal(got, want) {
		t.Fatalf("appendResultLine differs from encoding/json:\n got %q\nwant %q", got, want)
	}
	// Appending after existing bytes must leave them alone.
	prefix := []byte("prefix")
	got = appendResultLine(prefix, r)
	if !bytes.HasPrefix(got, prefix) || !bytes.Equal(got[len(prefix):], want) {
		t.Fatalf("appendResultLine after a prefix: got %q", got)
	}
}

func TestAppendResultLineMatchesJSON(t *testing.T) {
	t0 := time.Date(2026, 11, 26, 10, 0, 0, 123456789, time.UTC)
	cst := time.FixedZone("CST", 8*3600)
	nst := time.FixedZone("NST", -(3*3600 + 30*60))
	odd := time.FixedZone("odd", 5*3600+45*60+17) // seconds are truncated in the offset

	success := Result{Seq: 42, Server: ServerPlatform, Device: 7, Identity: Good, Scheduled: t0, Start: t0.Add(150 * time.Microsecond),
		TCPUs: 120, TLSUs: 950, ConnackUs: 310, TotalUs: 1530, Outcome: OutcomeSuccess, TLSVersion: "1.3", Resumed: true,
		Expected: OutcomeSuccess}
	with := func(f func(r *Result)) *Result {
		r := success
		f(&r)
		return &r
	}

	cases := []struct {
		name string
		r    *Result
	}{
		{"success", &success},
		{"zero value", &Result{}},
		{"refusal with reason phase code", with(func(r *Result) {
			r.Identity, r.Outcome, r.Phase, r.Reason, r.ConnackCode = BadFingerprint, OutcomeRefused, PhaseConnect, "connack:0x87", 0x87
			r.Expected, r.ExpectedReason, r.Resumed = OutcomeRefused, "fingerprint_mismatch", false
		})},
		{"tls alert refusal", with(func(r *Result) {
			r.Identity, r.Outcome, r.Phase, r.Reason = BadUnknownCA, OutcomeRefused, PhaseTLS, "tls_alert:bad certificate"
			r.Expected, r.ExpectedReason, r.TLSVersion = OutcomeRefused, "unknown_ca", ""
		})},
		{"error with nasty text", with(func(r *Result) {
			r.Outcome, r.Phase, r.Reason = OutcomeError, PhaseTCP, "timeout"
			r.Error = "dial \"127.0.0.1:8883\": C:\\path\nline2\r\ttab\b\f\x00\x01\x1f\x7f <html>&amp; é 中文 🙂"
		})},
		{"invalid utf-8", with(func(r *Result) { r.Error = "bad \xff\xfe byte, truncated \xe4\xb8 rune, lone \x80" })},
		{"line and paragraph separators", with(func(r *Result) { r.Error = "a\u2028b\u2029c\u2027d\u202a" })},
		{"escapes in every string field", with(func(r *Result) {
			r.Server, r.Identity, r.Outcome, r.Phase, r.Reason = "s\"", "id\\", "o\n", "p\t", "r\u2028"
			r.TLSVersion, r.Expected, r.ExpectedReason, r.Error = "v\x00", "e\xff", "er<>&", "\u00e9"
		})},
		{"zero times", with(func(r *Result) { r.Scheduled, r.Start = time.Time{}, time.Time{} })},
		{"times without nanoseconds", with(func(r *Result) {
			r.Scheduled, r.Start = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), time.Date(2026, 1, 2, 3, 4, 5, 100000000, time.UTC)
		})},
		{"times with trailing zero nanoseconds", with(func(r *Result) {
			r.Scheduled, r.Start = t0.Add(-123456000), time.Date(2026, 1, 2, 3, 4, 5, 1, time.UTC)
		})},
		{"non-UTC locations", with(func(r *Result) { r.Scheduled, r.Start = t0.In(cst), t0.In(nst) })},
		{"offset with seconds", with(func(r *Result) { r.Scheduled = t0.In(odd) })},
		{"local time with monotonic reading", with(func(r *Result) { r.Scheduled = time.Now(); r.Start = time.Now().Local() })},
		{"extreme years", with(func(r *Result) {
			r.Scheduled, r.Start = time.Date(0, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(9999, 12, 31, 23, 59, 59, 999999999, cst)
		})},
		{"warmup", with(func(r *Result) { r.Warmup = true })},
		{"unexpected", with(func(r *Result) { r.Unexpected, r.Outcome = true, OutcomeRefused })},
		{"dropped", with(func(r *Result) {
			r.Outcome, r.Phase, r.Reason, r.TCPUs, r.TLSUs, r.ConnackUs, r.TLSVersion = OutcomeDropped, PhaseSchedule, "over_capacity", 0, 0, 0, ""
		})},
		{"every omitempty field set", with(func(r *Result) {
			r.Phase, r.Reason, r.TLSVersion, r.ExpectedReason, r.Unexpected, r.Warmup, r.Error = "connect", "reset", "1.2", "unregistered", true, true, "EOF"
			r.Population = PopulationUnflooded
		})},
		{"flood attempt", with(func(r *Result) {
			r.Population, r.Identity, r.Device, r.Outcome, r.Phase, r.Reason = PopulationFlood, FloodNoCert, -1, OutcomeRefused, PhaseTLS, AlertCertificateRequired
			r.Expected, r.ExpectedReason, r.TLSVersion, r.ConnackUs = OutcomeRefused, "no_client_cert", "", 0
		})},
		{"escaped population", with(func(r *Result) { r.Population = "p\"\n\u2028" })},
		{"every omitempty field empty", with(func(r *Result) {
			r.Phase, r.Reason, r.TLSVersion, r.ExpectedReason, r.Unexpected, r.Warmup, r.Error = "", "", "", "", false, false, ""
		})},
		{"integer extremes", with(func(r *Result) {
			r.Seq, r.Device, r.ConnackCode = ^uint64(0), -1<<63, 1<<63-1
			r.TCPUs, r.TLSUs, r.ConnackUs, r.TotalUs = -1<<63, 1<<63-1, -1, 0
		})},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) { assertSameAsJSON(t, tc.r) })
	}
}

func TestResultTimesEncodable(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	cases := []struct {
		name string
		t    time.Time
	}{
		{"normal", t0},
		{"year 10000", time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)},
		{"year -1", time.Date(-1, 12, 31, 0, 0, 0, 0, time.UTC)},
		{"offset +24:00", t0.In(time.FixedZone("", 24*3600))},
		{"offset -23:59", t0.In(time.FixedZone("", -(23*3600 + 59*60 + 59)))},
		{"offset -24:00", t0.In(time.FixedZone("", -24*3600))},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := &Result{Scheduled: t0, Start: tc.t}
			_, err := stdLine(r)
			if got, want := resultTimesEncodable(r), err == nil; got != want {
				t.Fatalf("resultTimesEncodable = %v, encoding/json error = %v", got, err)
			}
			if err == nil {
				assertSameAsJSON(t, r)
			}
		})
	}
}

// TestWriterRecordUnencodableTime: a time encoding/json refuses is still an
// error from Record, and nothing is written.
func TestWriterRecordUnencodableTime(t *testing.T) {
	var buf bytes.Buffer
	w := NewWriter(&buf)
	err := w.Record(&Result{Start: time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)})
	if err == nil {
		t.Fatal("Record with year 10000: want an error")
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	if buf.Len() != 0 {
		t.Fatalf("wrote %q after a failed Record", buf.Bytes())
	}
}

// TestWriterRecordConcurrent: lines written from many goroutines come out
// whole, each equal to encoding/json's, and read back. Run with -race.
func TestWriterRecordConcurrent(t *testing.T) {
	const workers, each = 8, 200
	t0 := time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)
	var buf bytes.Buffer
	w := NewWriter(&buf)
	var wg sync.WaitGroup
	for g := range workers {
		wg.Go(func() {
			for i := range each {
				r := &Result{Seq: uint64(i), Server: ServerPlatform, Device: g, Identity: Good, Scheduled: t0,
					Start: t0.Add(time.Duration(i) * time.Microsecond), TotalUs: int64(i), Outcome: OutcomeError,
					Expected: OutcomeSuccess, Error: strings.Repeat("x\"\n", i)}
				if i == each-1 {
					r.Error = strings.Repeat("big ", maxScratch/2) // grows the scratch past its bound
				}
				if err := w.Record(r); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	// Every line is whole and exactly what encoding/json writes for it.
	raw := append([]byte(nil), buf.Bytes()...)
	for i, l := range bytes.SplitAfter(raw, []byte("\n")) {
		if len(l) == 0 {
			continue
		}
		var back line
		if err := json.Unmarshal(l, &back); err != nil || back.Result == nil {
			t.Fatalf("line %d is not a whole attempt line (%v): %.200q", i+1, err, l)
		}
		if want, _ := stdLine(back.Result); !bytes.Equal(l, want) {
			t.Fatalf("line %d differs from encoding/json:\n got %.200q\nwant %.200q", i+1, l, want)
		}
	}
	n := 0
	for rd := NewReader(&buf); ; n++ {
		_, err := rd.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	if n != workers*each {
		t.Fatalf("read %d records, want %d", n, workers*each)
	}
}

func FuzzAppendResultLine(f *testing.F) {
	f.Add(uint64(0), "platform", 3, "good", int64(1795687200), int64(123456789), int32(0), int64(1795687200), int64(0), int32(8*3600),
		int64(100), int64(900), int64(300), int64(1300), "success", "", "", 0, "1.3", true, "success", "", false, false, "", false, "")
	f.Add(uint64(1), "baseline", 5, "fingerprint_mismatch", int64(0), int64(0), int32(-12600), int64(-62135596800), int64(0), int32(0),
		int64(0), int64(0), int64(0), int64(2000), "refused", "connect", "connack:0x87", 0x87, "", false, "refused", "fingerprint_mismatch", true, true,
		"read: \"conn\" reset\n\\ \x00\x1f\xff\u2028\u2029 é", true, "flood")
	f.Add(uint64(1<<63), "", -1, "", int64(253402300800), int64(999999999), int32(86400), int64(-62167219201), int64(1), int32(-86399),
		int64(-1), int64(-1), int64(-1), int64(-1), "", "\t", "\r", -1, "\xc0", false, "", "\xed\xa0\x80", true, false, "<>&\u007f", false, "")
	// A zone offset of -45 s: written as "+00:00" (found by fuzzing).
	f.Add(uint64(0), "0", 3, "0", int64(1795687200), int64(123456789), int32(-45), int64(1795687200), int64(0), int32(8*3600),
		int64(100), int64(900), int64(300), int64(1300), "0", "", "", 0, "0", true, "0", "", false, false, "", false, "")

	f.Fuzz(func(t *testing.T, seq uint64, server string, device int, identity string,
		schedSec, schedNsec int64, schedOff int32, startSec, startNsec int64, startOff int32,
		tcp, tls, connack, total int64, outcome, phase, reason string, code int, tlsVersion string, resumed bool,
		expected, expectedReason string, unexpected, warmup bool, errText string, zeroScheduled bool, population string) {
		r := &Result{Seq: seq, Server: server, Device: device, Identity: BadKind(identity),
			Scheduled: time.Unix(schedSec, schedNsec).In(time.FixedZone("", int(schedOff))),
			Start:     time.Unix(startSec, startNsec).In(time.FixedZone("z", int(startOff))),
			TCPUs:     tcp, TLSUs: tls, ConnackUs: connack, TotalUs: total,
			Outcome: Outcome(outcome), Phase: phase, Reason: reason, ConnackCode: code, TLSVersion: tlsVersion, Resumed: resumed,
			Expected: Outcome(expected), ExpectedReason: expectedReason, Unexpected: unexpected, Warmup: warmup, Error: errText,
			Population: population}
		if zeroScheduled {
			r.Scheduled = time.Time{}
		}
		want, err := stdLine(r)
		if ok := resultTimesEncodable(r); ok != (err == nil) {
			t.Fatalf("resultTimesEncodable = %v, encoding/json error = %v", ok, err)
		}
		if err != nil {
			return
		}
		if got := appendResultLine(nil, r); !bytes.Equal(got, want) {
			t.Fatalf("appendResultLine differs from encoding/json:\n got %q\nwant %q", got, want)
		}
		// The line reads back to the same record (times compared as instants;
		// RFC 3339 drops the seconds of a zone offset, so only whole minutes
		// round-trip).
		var back line
		if err := json.Unmarshal(want, &back); err != nil || back.Result == nil {
			t.Fatalf("line does not read back: %v", err)
		}
		if schedOff%60 != 0 || startOff%60 != 0 {
			return
		}
		if !back.Scheduled.Equal(r.Scheduled) || !back.Start.Equal(r.Start) {
			t.Fatalf("times read back as %v, %v; want %v, %v", back.Scheduled, back.Start, r.Scheduled, r.Start)
		}
	})
}

// benchResult is a typical refused attempt: every string field set, one of
// them needing escapes.
func benchResult() *Result {
	t0 := time.Date(2026, 11, 26, 10, 0, 0, 123456789, time.FixedZone("CST", 8*3600))
	return &Result{Seq: 123456, Server: ServerPlatform, Device: 4711, Identity: BadFingerprint, Scheduled: t0,
		Start: t0.Add(37 * time.Microsecond), TCPUs: 85, TLSUs: 1830, ConnackUs: 412, TotalUs: 2364,
		Outcome: OutcomeRefused, Phase: PhaseConnect, Reason: "connack:0x87", ConnackCode: 0x87, TLSVersion: "1.3",
		Expected: OutcomeRefused, ExpectedReason: "fingerprint_mismatch", Error: `connack: "not authorized" (0x87)`}
}

// BenchmarkWriterRecord compares Writer.Record (appendResultLine) with the
// encoding/json path it replaced, both into a 64 KiB bufio.Writer over
// io.Discard.
func BenchmarkWriterRecord(b *testing.B) {
	r := benchResult()
	b.Run("append", func(b *testing.B) {
		w := NewWriter(io.Discard)
		b.ReportAllocs()
		for b.Loop() {
			if err := w.Record(r); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("encoding_json", func(b *testing.B) {
		var mu sync.Mutex
		bw := bufio.NewWriterSize(io.Discard, 64<<10)
		enc := json.NewEncoder(bw)
		enc.SetEscapeHTML(false)
		b.ReportAllocs()
		for b.Loop() {
			mu.Lock()
			err := enc.Encode(line{Result: r})
			mu.Unlock()
			if err != nil {
				b.Fatal(fmt.Errorf("encode: %w", err))
			}
		}
	})
}

// TestBenchResultRoundTrip keeps the benchmark's record honest: it encodes
// identically and reads back equal.
func TestBenchResultRoundTrip(t *testing.T) {
	r := benchResult()
	assertSameAsJSON(t, r)
	var back line
	if err := json.Unmarshal(appendResultLine(nil, r), &back); err != nil || back.Result == nil {
		t.Fatalf("read back: %v", err)
	}
	got := *back.Result
	if !got.Scheduled.Equal(r.Scheduled) || !got.Start.Equal(r.Start) {
		t.Fatalf("times read back as %v, %v; want %v, %v", got.Scheduled, got.Start, r.Scheduled, r.Start)
	}
	got.Scheduled, got.Start = r.Scheduled, r.Start
	if !reflect.DeepEqual(got, *r) {
		t.Fatalf("read back %+v, want %+v", got, *r)
	}
}
