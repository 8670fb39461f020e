package result

import (
	"bytes"
	"errors"
	"io"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestResultsFileRoundTrip(t *testing.T) {
	t0 := time.Date(2026, 11, 26, 10, 0, 0, 123456000, time.UTC)
	run := RunInfo{Format: FormatVersion, ID: "r1", Started: t0, Mode: ModeChurn, Loop: "closed", Workers: 4,
		Shard: Shard{Index: 1, Count: 2}, TLSVersion: "1.3", KeyExchange: "x25519", MQTTVersion: 5}
	res := []*Result{
		{Seq: 0, Server: ServerPlatform, Device: 3, Identity: Good, Scheduled: t0, Start: t0, TCPUs: 100, TLSUs: 900,
			ConnackUs: 300, TotalUs: 1300, Outcome: OutcomeSuccess, TLSVersion: "1.3", Expected: OutcomeSuccess},
		{Seq: 1, Server: ServerPlatform, Device: 5, Identity: BadFingerprint, Scheduled: t0, Start: t0.Add(time.Millisecond),
			TotalUs: 2000, Outcome: OutcomeRefused, Phase: PhaseConnect, Reason: "connack:0x87", ConnackCode: 0x87,
			Expected: OutcomeRefused, ExpectedReason: "fingerprint_mismatch", Error: "refused"},
	}
	win := Window{Server: ServerPlatform, Shard: run.Shard, Start: t0, End: t0.Add(time.Second), ClientCPUSeconds: 0.5,
		ServerCPUSource: "pid:1@h", ServerCPUStart: 10, ServerCPUEnd: 10.25}

	var buf bytes.Buffer
	w := NewWriter(&buf)
	if err := w.WriteRun(run); err != nil {
		t.Fatal(err)
	}
	for _, r := range res {
		if err := w.Record(r); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.WriteWindow(win); err != nil {
		t.Fatal(err)
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 4 {
		t.Fatalf("got %d lines, want 4:\n%s", len(lines), buf.String())
	}
	if !strings.HasPrefix(lines[1], `{"seq":0,"server":"platform"`) {
		t.Errorf("attempt line is not a flat record: %s", lines[1])
	}

	rd := NewReader(&buf)
	var got []Record
	for {
		rec, err := rd.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, rec)
	}
	want := []Record{{Run: &run}, {Result: res[0]}, {Result: res[1]}, {Window: &win}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("round trip:\n got %+v\nwant %+v", got, want)
	}
}

func TestReaderRejectsGarbage(t *testing.T) {
	for name, in := range map[string]string{
		"not json":     "hello\n",
		"unknown type": `{"type":"nope"}` + "\n",
		"empty run":    `{"type":"run"}` + "\n",
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := NewReader(strings.NewReader(in)).Next(); err == nil || errors.Is(err, io.EOF) {
				t.Fatalf("Next() = %v, want a parse error", err)
			}
		})
	}
}
