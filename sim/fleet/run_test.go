package fleet

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/certlab/certlab/iotda"
	"github.com/certlab/certlab/sim/device"
)

// runResult is what a background Run returned.
type runResult struct {
	sum Summary
	err error
}

// startRun runs Run in the background; the channel yields its result.
func startRun(t *testing.T, target *iotda.Target, f *Fleet, opts RunOptions) <-chan runResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 45*time.Second)
	out := make(chan runResult, 1)
	go func() {
		defer cancel()
		sum, err := Run(ctx, target, f, opts)
		out <- runResult{sum, err}
	}()
	return out
}

// progressWatch keeps the latest Progress of a run and lets a test wait for a condition.
type progressWatch struct {
	mu   sync.Mutex
	last Progress
}

func (w *progressWatch) update(p Progress) {
	w.mu.Lock()
	w.last = p
	w.mu.Unlock()
}

func (w *progressWatch) await(t *testing.T, what string, timeout time.Duration, ok func(Progress) bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		w.mu.Lock()
		p := w.last
		w.mu.Unlock()
		if ok(p) {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	t.Fatalf("timed out after %s waiting for %s; last progress %+v", timeout, what, w.last)
}

func TestRunEndToEnd(t *testing.T) {
	target, c := startPlatform(t)
	f := mintFleet(t, t.TempDir(), Spec{Devices: 20, CAs: 2})
	rep := enrol(t, c, f, EnrolOptions{})
	if rep.Enrolled() != 20 {
		t.Fatalf("enrolled %d of 20: %v", rep.Enrolled(), rep.FailureSamples)
	}

	var (
		mu       sync.Mutex
		reports  = map[int]int64{}    // device -> acknowledged reports, when its behaviour last returned
		received = map[int][]string{} // device -> payloads received
	)
	steady := func(int) Behaviour {
		return BehaviourFunc(func(ctx context.Context, d *Device) error {
			err := Steady{}.Run(ctx, d)
			mu.Lock()
			reports[d.Index] = d.Reports()
			mu.Unlock()
			return err
		})
	}
	var watch progressWatch
	done := startRun(t, target, f, RunOptions{
		MQTT: MQTTMix, Rate: 200, Duration: 6 * time.Second, ReportInterval: 300 * time.Millisecond,
		BackoffMin: 100 * time.Millisecond, BackoffMax: 400 * time.Millisecond, ConnectTimeout: 5 * time.Second,
		Behaviour: steady, Progress: watch.update, ProgressInterval: 20 * time.Millisecond,
		OnMessage: func(d *Device, m device.Message) {
			if m.Topic != iotda.DeviceTopic(d.ID, iotda.TopicMessagesDown) {
				t.Errorf("device %d got a message on %s", d.Index, m.Topic)
			}
			mu.Lock()
			received[d.Index] = append(received[d.Index], string(m.Payload))
			mu.Unlock()
		},
	})
	watch.await(t, "the hold with 20 devices online", 15*time.Second, func(p Progress) bool { return p.Phase == "hold" && p.Online == 20 })

	// Down messages reach a 3.1.1 device (0) and an MQTT 5 device (1).
	for i := range 2 {
		if _, err := c.CreateMessage(t.Context(), f.DeviceID(rep.ProductID, i), iotda.DeviceMessage{Message: map[string]any{"hello": i}}); err != nil {
			t.Fatalf("CreateMessage to device %d: %v", i, err)
		}
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		mu.Lock()
		got := len(received[0]) + len(received[1])
		mu.Unlock()
		if got == 2 || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	mu.Lock()
	for i := range 2 {
		want := []string{`{"hello":` + string(rune('0'+i)) + `}`}
		if strings.Join(received[i], "|") != strings.Join(want, "|") {
			t.Errorf("device %d received %q, want %q", i, received[i], want)
		}
	}
	mu.Unlock()

	// A server-side drop: freezing device 2 ends its session [DEV-FREEZE];
	// it retries with backoff (refused while frozen) and is back once unfrozen.
	frozen := f.DeviceID(rep.ProductID, 2)
	if err := c.FreezeDevice(t.Context(), frozen); err != nil {
		t.Fatal(err)
	}
	watch.await(t, "the frozen device's drop", 5*time.Second, func(p Progress) bool { return p.Drops >= 1 })
	time.Sleep(300 * time.Millisecond) // let it be refused at least once, usually
	if err := c.UnfreezeDevice(t.Context(), frozen); err != nil {
		t.Fatal(err)
	}
	watch.await(t, "the reconnection", 5*time.Second, func(p Progress) bool { return p.Reconnects >= 1 && p.Online == 20 })

	res := <-done
	if res.err != nil {
		t.Fatalf("Run: %v", res.err)
	}
	s := res.sum
	t.Logf("summary:\n%s", summaryText(t, s))

	checks := []struct {
		name      string
		got, want int
	}{
		{"devices", s.Devices, 20},
		{"connected", s.Connected, 20},
		{"never connected", s.NeverConnected, 0},
		{"peak online", s.PeakOnline, 20},
		{"online at end", s.OnlineAtEnd, 20},
		{"drops", s.Drops, 1},
		{"reconnects", s.Reconnects, 1},
		{"gave up", s.GaveUp, 0},
		{"messages received", s.MessagesReceived, 2},
		{"publishes denied", s.PublishesDenied, 0},
		{"subscribes refused", s.SubscribesRefused, 0},
		{"behaviour errors", s.BehaviourErrors, 0},
		{"login failures", s.LoginFailed, 0},
		{"attempts = outcomes", s.LoginAttempts, s.LoginSucceeded + s.LoginRefused + s.LoginFailed},
		{"logins = connected + reconnects", s.LoginSucceeded, 21},
		{"latency samples", int(s.ConnectLatency.Count), s.LoginSucceeded},
		{"memory measured over", s.Memory.Online, 20},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %d, want %d", c.name, c.got, c.want)
		}
	}
	// Refusals can only be the frozen device's: CONNACK 0x05 (3.1.1) or 0x8a (5).
	for reason := range s.RefusedByReason {
		if reason != device.ConnackReason(0x05) && reason != device.ConnackReason(0x8a) {
			t.Errorf("unexpected refusal %s", reason)
		}
	}
	if l := s.ConnectLatency; l.P50 <= 0 || l.P50 > l.P99 || l.P99 > l.Max {
		t.Errorf("latency percentiles out of order: %+v", l)
	}

	// Every acknowledged report was counted, and the platform kept each
	// device's latest properties in its shadow.
	mu.Lock()
	defer mu.Unlock()
	var total int64
	for i := range 20 {
		total += reports[i]
		if reports[i] < 2 {
			t.Errorf("device %d made %d reports in 6 s at 300 ms", i, reports[i])
		}
	}
	// The frozen device may have had one report in flight when it was dropped.
	if int64(s.MessagesSent) != total || s.PublishErrors > 1 {
		t.Errorf("messages sent %d, publish errors %d; the devices counted %d acknowledged reports", s.MessagesSent, s.PublishErrors, total)
	}
	for i := range 20 {
		seq := shadowSeq(t, c, f.DeviceID(rep.ProductID, i), reports[i])
		if seq != reports[i] && !(i == 2 && seq == reports[i]+1) {
			t.Errorf("device %d: shadow seq %d, want its last acknowledged report %d", i, seq, reports[i])
		}
	}
}

// shadowSeq reads the reported Sensor "seq" of a device, waiting briefly
// for it to reach want (the platform updates the shadow after the PUBACK).
func shadowSeq(t *testing.T, c *iotda.Client, deviceID string, want int64) int64 {
	t.Helper()
	var seq int64 = -1
	for deadline := time.Now().Add(2 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		sh, err := c.ShowDeviceShadow(t.Context(), deviceID)
		if err != nil {
			t.Fatal(err)
		}
		for _, svc := range sh.Shadow {
			if svc.ServiceID == SensorServiceID && svc.Reported != nil {
				if v, ok := svc.Reported.Properties["seq"].(float64); ok {
					seq = int64(v)
				}
				if _, err := time.Parse(iotda.CompactTime, svc.Reported.EventTime); err != nil {
					t.Errorf("%s: event_time %q: %v", deviceID, svc.Reported.EventTime, err)
				}
			}
		}
		if seq == want {
			break
		}
	}
	return seq
}

func summaryText(t *testing.T, s Summary) string {
	t.Helper()
	var b bytes.Buffer
	if err := s.WriteText(&b); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

func TestRunMisbehavingAndStorm(t *testing.T) {
	target, c := startPlatform(t)
	f := mintFleet(t, t.TempDir(), Spec{Devices: 6})
	if rep := enrol(t, c, f, EnrolOptions{}); rep.Enrolled() != 6 {
		t.Fatalf("enrolled %d of 6", rep.Enrolled())
	}
	// Devices 0, 1: misbehaving (3.1.1, 5); 2, 3: reconnect storm; 4, 5: steady.
	behaviour := func(i int) Behaviour {
		switch i / 2 {
		case 0:
			return Misbehaving{}
		case 1:
			return ReconnectStorm{Hold: 200 * time.Millisecond}
		default:
			return Steady{}
		}
	}
	res := <-startRun(t, target, f, RunOptions{
		MQTT: MQTTMix, Duration: 2 * time.Second, ReportInterval: 250 * time.Millisecond,
		BackoffMin: 50 * time.Millisecond, BackoffMax: 200 * time.Millisecond, Behaviour: behaviour,
	})
	if res.err != nil {
		t.Fatalf("Run: %v", res.err)
	}
	s := res.sum
	t.Logf("summary:\n%s", summaryText(t, s))
	if s.Connected != 6 {
		t.Errorf("connected = %d, want 6", s.Connected)
	}
	// [ACL-OWN-TOPICS] MQTT 5: PUBACK 0x87 for each publish on the neighbour's topic.
	if s.PublishesDenied < 2 {
		t.Errorf("publishes denied = %d, want several from the MQTT 5 misbehaving device", s.PublishesDenied)
	}
	// MQTT 3.1.1: the server closes the connection; the device reconnects.
	if s.Drops < 2 || s.Reconnects < 2 {
		t.Errorf("drops %d, reconnects %d; want several from the 3.1.1 misbehaving device", s.Drops, s.Reconnects)
	}
	// Two storm devices holding sessions for 100..200 ms over 2 s.
	if s.Churns < 10 {
		t.Errorf("churns = %d, want at least 10 from two devices reconnecting every ≤200 ms", s.Churns)
	}
	if s.LoginSucceeded < 6+s.Churns {
		t.Errorf("logins succeeded %d < 6 + %d churns", s.LoginSucceeded, s.Churns)
	}
	if s.MessagesSent < 2 {
		t.Errorf("messages sent = %d, want the steady devices' reports", s.MessagesSent)
	}
}

func TestRunRefusedDevicesAreResults(t *testing.T) {
	target, c := startPlatform(t)
	f := mintFleet(t, t.TempDir(), Spec{Devices: 4})
	rep := enrol(t, c, f, EnrolOptions{})
	// Device 1 is registered under another certificate: fingerprint mismatch.
	fp := strings.Repeat("ab", 32)
	if _, err := c.ResetFingerprint(t.Context(), f.DeviceID(rep.ProductID, 1), iotda.ResetFingerprint{Fingerprint: &fp}); err != nil {
		t.Fatal(err)
	}
	res := <-startRun(t, target, f, RunOptions{MQTT: MQTT5, Devices: 2, Duration: 200 * time.Millisecond})
	if res.err != nil {
		t.Fatalf("Run: %v", res.err)
	}
	s := res.sum
	if s.Connected != 1 || s.LoginRefused != 1 || s.RefusedByReason[device.ConnackReason(0x87)] != 1 || s.LoginAttempts != 2 {
		t.Errorf("connected %d, refused %d %v, attempts %d; want 1, 1 connack:0x87 (fingerprint_mismatch), 2 (a refusal is final)",
			s.Connected, s.LoginRefused, s.RefusedByReason, s.LoginAttempts)
	}
	// Under a product nobody created, the device IDs are unknown.
	res = <-startRun(t, target, f, RunOptions{ProductID: "nobody", Devices: 1, Duration: 100 * time.Millisecond})
	if res.err != nil {
		t.Fatalf("Run: %v", res.err)
	}
	if s := res.sum; s.Connected != 0 || s.RefusedByReason[device.ConnackReason(0x04)] != 1 {
		t.Errorf("unregistered device: connected %d, refused %v; want 0 and connack:0x04 (device_not_found)", s.Connected, s.RefusedByReason)
	}
}

func TestSummaryJSONAndText(t *testing.T) {
	s := Summary{ProductID: "p", MQTT: MQTTMix, Devices: 3, Connected: 2, NeverConnected: 1,
		LoginAttempts: 3, LoginSucceeded: 2, LoginRefused: 1, RefusedByReason: map[string]int{"connack:0x87": 1},
		DropsByCause: map[string]int{"eof": 2, "disconnect:0x98": 2, "reset": 3}, Drops: 7,
		ConnectLatency: Latency{Count: 2, P50: 3 * time.Millisecond, P99: 5 * time.Millisecond, Max: 5 * time.Millisecond},
		Memory:         Memory{HeapBeforeBytes: 1 << 20, HeapAfterBytes: 1<<20 + 60<<10, Online: 2, HeapPerDeviceBytes: 30 << 10, StackPerDeviceBytes: 8 << 10, GoroutinesPerDevice: 2},
		Enrol:          &EnrolReport{Devices: 3, Registered: 2, Failed: map[string]int{"IOTDA.014031": 1}, CAs: []CAEnrolment{{Verified: true}}},
	}
	text := summaryText(t, s)
	for _, want := range []string{
		"2 of 3 devices (never: 1)",
		"1 refused (connack:0x87 1)",
		"7 dropped (reset 3, disconnect:0x98 2, eof 2)",
		"p50 3ms",
		"38.0 KiB per connected device (heap 30.0 KiB + stacks 8192 B, over 2 sessions)",
		"simulator only",
		"2 of 3 devices (2 new, 0 already registered), 1 failed (IOTDA.014031 1)",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("text summary lacks %q:\n%s", want, text)
		}
	}
	var b bytes.Buffer
	if err := s.WriteJSON(&b); err != nil {
		t.Fatal(err)
	}
	var back Summary
	if err := json.Unmarshal(b.Bytes(), &back); err != nil {
		t.Fatal(err)
	}
	if back.Connected != 2 || back.ConnectLatency.P99 != 5*time.Millisecond || back.Enrol.Registered != 2 || back.DropsByCause["reset"] != 3 {
		t.Errorf("JSON round trip lost data: %s", b.String())
	}
	for _, key := range []string{`"p99_ns": 5000000`, `"heap_per_device_bytes": 30720`, `"refused_by_reason"`} {
		if !strings.Contains(b.String(), key) {
			t.Errorf("JSON lacks %s:\n%s", key, b.String())
		}
	}
}

func TestBackoffIsBoundedAndGrows(t *testing.T) {
	r := &runner{opts: RunOptions{BackoffMin: 100 * time.Millisecond, BackoffMax: time.Second}}
	tests := []struct {
		name     string
		attempt  int
		min, max time.Duration
	}{
		{"first", 1, 50 * time.Millisecond, 100 * time.Millisecond},
		{"second", 2, 100 * time.Millisecond, 200 * time.Millisecond},
		{"fourth", 4, 400 * time.Millisecond, 800 * time.Millisecond},
		{"capped", 30, 500 * time.Millisecond, time.Second},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for range 50 {
				if d := r.backoff(tc.attempt); d < tc.min || d >= tc.max {
					t.Fatalf("backoff(%d) = %s, want in [%s, %s)", tc.attempt, d, tc.min, tc.max)
				}
			}
		})
	}
}

func TestParseMQTTVersions(t *testing.T) {
	tests := []struct {
		in         string
		want       MQTTVersions
		v0, v1     iotda.MQTTVersion
		shouldFail bool
	}{
		{"3.1.1", MQTT311, 4, 4, false},
		{"5", MQTT5, 5, 5, false},
		{"mix", MQTTMix, 4, 5, false},
		{"3", "", 0, 0, true},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			got, err := ParseMQTTVersions(tc.in)
			if (err != nil) != tc.shouldFail {
				t.Fatalf("ParseMQTTVersions(%q) error = %v", tc.in, err)
			}
			if err == nil && (got != tc.want || got.Version(0) != tc.v0 || got.Version(1) != tc.v1) {
				t.Errorf("got %q with versions %d, %d; want %q %d %d", got, got.Version(0), got.Version(1), tc.want, tc.v0, tc.v1)
			}
		})
	}
}
