package reports

import (
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/certlab/certlab/iotda"
	"github.com/certlab/certlab/loadgen/result"
)

// JSON writes the summary as indented JSON (what `certlab loadgen` saves
// as summary.json; `certlab report` reads it back).
func JSON(s *result.Summary) Reporter {
	return func(w io.Writer) error {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		enc.SetEscapeHTML(false)
		return enc.Encode(s)
	}
}

// Text writes a plain-text summary for a terminal.
func Text(s *result.Summary) Reporter {
	return func(w io.Writer) error {
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		for _, kv := range settings(s) {
			fmt.Fprintf(tw, "%s\t%s\n", kv[0], kv[1])
		}
		servers := displayServers(s) // flood.go: the devices before and during a flood
		for i := range servers {
			ss := &servers[i]
			// One block per table, so columns align within each.
			_ = tw.Flush()
			fmt.Fprintf(tw, "\n%s\n", strings.ToUpper(ss.Server))
			for _, kv := range headline(ss) {
				fmt.Fprintf(tw, "  %s\t%s\n", kv[0], kv[1])
			}
			_ = tw.Flush()
			fmt.Fprintf(tw, "  latency (ms)\tp50\tp90\tp99\tp99.9\tmax\n")
			for _, m := range result.Metrics {
				if l, ok := ss.Latency[m]; ok {
					fmt.Fprintf(tw, "    %s\t%.2f\t%.2f\t%.2f\t%.2f\t%.2f\n", m, ms(l.P50), ms(l.P90), ms(l.P99), ms(l.P999), ms(l.Max))
				}
			}
			_ = tw.Flush()
			if len(ss.Breakdown) > 0 {
				fmt.Fprintf(tw, "  outcomes\tcount\tunexpected\n")
				for _, b := range ss.Breakdown {
					meaning := reasonMeaning(b.Reason)
					if meaning != "" {
						meaning = "\t" + meaning
					}
					fmt.Fprintf(tw, "    %s\t%d\t%d%s\n", breakdownWith(b, b.Reason), b.Count, b.Unexpected, meaning)
				}
			}
		}
		_ = tw.Flush()
		if s.BaselineRatio > 0 {
			fmt.Fprintf(tw, "\nserver CPU per login, %s / baseline\t%.2f×\n", s.UnderTest().Server, s.BaselineRatio)
		}
		_ = tw.Flush()
		benchText(tw, s.Bench)
		if err := tw.Flush(); err != nil {
			return err
		}
		if s.Flood != nil {
			floodText(w, s) // flood.go
		}
		if s.Storm == nil {
			return nil
		}
		stormText(w, s.Storm) // storm.go
		return nil
	}
}

// settings are the run's settings as label/value pairs.
func settings(s *result.Summary) [][2]string {
	if len(s.Runs) == 0 {
		return nil
	}
	r := s.Runs[0]
	loop := "closed loop"
	if r.Loop == "open" {
		loop = fmt.Sprintf("open loop at %g attempts/s", r.Rate)
	}
	length := fmt.Sprintf("%gs", r.DurationS)
	if r.Count > 0 {
		length = fmt.Sprintf("%d attempts", r.Count)
		if r.DurationS > 0 {
			length += fmt.Sprintf(" or %gs", r.DurationS)
		}
	}
	if r.WarmupS > 0 {
		length += fmt.Sprintf(" after %gs warm-up", r.WarmupS)
	}
	if r.Mode == result.ModeStorm {
		length = "until every device is back or the deadline (the capacity probe and the hold ramp are warm-up)"
	}
	resumption := "off"
	if r.Resumption {
		resumption = "on"
	}
	mqtt := iotda.MQTTVersion(r.MQTTVersion)
	if mqtt == 0 { // the load generator's default
		mqtt = iotda.MQTT311
	}
	out := [][2]string{
		{"run", r.ID},
		{"started", r.Started.UTC().Format("2006-01-02 15:04:05 MST")},
		{"target", strings.TrimSpace(r.Target + " " + r.MQTTEndpoint)},
		{"mode", fmt.Sprintf("%s; %s; %d workers%s", r.Mode, loop, r.Workers, closeText(r.CloseReset))},
		{"length", length},
		{"TLS", fmt.Sprintf("%s, key exchange %s, resumption %s", r.TLSVersion, r.KeyExchange, resumption)},
		{"MQTT", mqtt.String()},
		{"devices", fmt.Sprintf("%d (%.1f%% bad identities)", r.Devices, r.BadShare*100)},
	}
	shards := map[string]bool{}
	for _, rr := range s.Runs {
		shards[rr.Shard.String()] = true
	}
	if len(s.Runs) > 1 || r.Shard.Count > 1 {
		keys := make([]string, 0, len(shards))
		for k := range shards {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		out = append(out, [2]string{"shards", fmt.Sprintf("%d files: %s", len(s.Runs), strings.Join(keys, ", "))})
	}
	if r.Host != "" {
		gen := fmt.Sprintf("%s, %d CPUs, %s", r.Host, r.CPUs, r.GoVersion)
		if r.GoRuntime != "" {
			gen += " (" + r.GoRuntime + ")"
		}
		if r.Pinning != "" {
			gen += "; " + r.Pinning
		}
		out = append(out, [2]string{"generator", gen})
	}
	return out
}

// headline are a server's key figures as label/value pairs.
func headline(ss *result.ServerSummary) [][2]string {
	out := [][2]string{
		{"attempts", fmt.Sprintf("%d (success %d, refused %d, errors %d, dropped %d; unexpected %d)",
			ss.Attempts, ss.Success, ss.Refused, ss.Errors, ss.Dropped, ss.Unexpected)},
		{"rate", fmt.Sprintf("%.1f logins/s (%.1f attempts/s over %.2fs)", ss.SuccessRate, ss.AttemptRate, ss.DurationS)},
		{"client CPU", cpuText(&ss.ClientCPU)},
	}
	if f := ss.ClientFloor; f != nil {
		out = append(out, [2]string{"client floor", fmt.Sprintf("%.0f µs per login of crypto alone (%s, measured on this generator); client CPU = %.2f× floor", f.Us, f.Ops, f.Ratio)})
	} else if ss.ClientFloorNote != "" {
		out = append(out, [2]string{"client floor", "not measured: " + ss.ClientFloorNote})
	}
	if ss.ServerCPU != nil {
		out = append(out, [2]string{"server CPU", cpuText(ss.ServerCPU)})
	} else {
		out = append(out, [2]string{"server CPU", "not measured: " + ss.ServerCPUNote})
	}
	if ss.Resumed > 0 {
		out = append(out, [2]string{"resumed", fmt.Sprintf("%d", ss.Resumed)})
	}
	if ss.Held > 0 {
		out = append(out, [2]string{"held", fmt.Sprintf("%d sessions, %.1f KiB of generator memory each", ss.Held, ss.HeldMemoryBytes/1024)})
	}
	return out
}

// closeText notes a run whose logins ended with a TCP reset.
func closeText(reset bool) string {
	if reset {
		return "; connections closed with a reset"
	}
	return ""
}

func cpuText(c *result.CPUStat) string {
	return fmt.Sprintf("%.0f µs per login (%.0f µs per success; %.2f s)", c.PerAttemptUs, c.PerSuccessUs, c.Seconds)
}

// breakdownShort names a breakdown row for a chart label, with the MQTT
// name of a CONNACK code: "refused · connect · connack:0x86 bad user name or password".
func breakdownShort(b result.BreakdownRow) string {
	reason := b.Reason
	if m := reasonMeaning(b.Reason); m != "" {
		name, _, _ := strings.Cut(m, ";")
		reason += " " + name
	}
	return breakdownWith(b, reason)
}

func breakdownWith(b result.BreakdownRow, reason string) string {
	parts := []string{string(b.Outcome)}
	if b.Phase != "" {
		parts = append(parts, b.Phase)
	}
	if reason != "" {
		parts = append(parts, reason)
	}
	return strings.Join(parts, " · ")
}
