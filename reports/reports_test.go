package reports

import (
	"bytes"
	"encoding/xml"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/certlab/certlab/loadgen/result"
)

func render(t *testing.T, r Reporter) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := r(&b); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

var fixtureThresholds = Thresholds{MaxP99: 2 * time.Millisecond, MinRate: 100, MaxErrorRate: 0.001}

func TestRenderersGolden(t *testing.T) {
	s := fixture(t)
	checks := Evaluate(s, fixtureThresholds)
	old := olderFixture(t)
	old.Servers[0].SuccessRate *= 1.2  // the old run was faster: a regression
	old.Runs[0].KeyExchange = "hybrid" // and used other settings
	cmp := Compare(old, s, 0.10)

	noHist := *s
	noHist.Servers = append([]result.ServerSummary(nil), s.Servers...)
	for i := range noHist.Servers {
		noHist.Servers[i].Histograms = nil // zlib bytes may change with the Go release
	}
	tests := []struct {
		golden string
		r      Reporter
	}{
		{"report.golden.html", HTML(s, HTMLOptions{Checks: checks, Comparison: cmp, Previous: old, BDD: fixtureBDD(), Fleet: fixtureFleet()})},
		{"report.golden.md", Markdown(s, checks, cmp)},
		{"report.golden.xml", JUnit(checks, cmp)},
		{"report.golden.txt", Text(s)},
		{"summary.golden.json", JSON(&noHist)},
		{"compare.golden.txt", ComparisonText(cmp)},
	}
	for _, tt := range tests {
		t.Run(tt.golden, func(t *testing.T) {
			got := render(t, tt.r)
			requireGolden(t, tt.golden, got)
			// Rendering twice gives the same bytes.
			if again := render(t, tt.r); !bytes.Equal(got, again) {
				t.Fatal("rendering is not deterministic")
			}
		})
	}
}

func TestHTMLIsSelfContained(t *testing.T) {
	page := string(render(t, HTML(fixture(t), HTMLOptions{})))
	for _, bad := range []string{"<script", "src=", "href=", "url(", "@import", "<link"} {
		if strings.Contains(page, bad) {
			t.Errorf("report contains %q: it must not load anything", bad)
		}
	}
	// The only URL is the SVG namespace.
	for _, u := range regexp.MustCompile(`https?://[^"' >]+`).FindAllString(page, -1) {
		if u != "http://www.w3.org/2000/svg" {
			t.Errorf("report references %s", u)
		}
	}
	if n := strings.Count(page, "<svg"); n < 6 {
		t.Errorf("%d charts, want at least 6 (spectrum, phases, CPU, timeline and breakdown per server)", n)
	}
	for _, want := range []string{"platform", "baseline", "fingerprint_mismatch", "tls_alert:unknown certificate authority", "1.28×"} {
		if !strings.Contains(page, want) {
			t.Errorf("report lacks %q", want)
		}
	}
}

func TestEvaluate(t *testing.T) {
	s := fixture(t)
	p := Primary(s)
	tests := []struct {
		name     string
		th       Thresholds
		wantPass []bool
	}{
		{"none", Thresholds{}, nil},
		{"generous", Thresholds{MaxP99: time.Second, MinRate: 1, MaxErrorRate: 0.5}, []bool{true, true, true}},
		{"p99 too strict", Thresholds{MaxP99: time.Millisecond}, []bool{false}},
		{"rate too high", Thresholds{MinRate: 10000}, []bool{false}},
		{"no error allowed", Thresholds{MaxErrorRate: 1e-9}, []bool{false}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Evaluate(s, tt.th)
			if len(got) != len(tt.wantPass) {
				t.Fatalf("%d checks, want %d", len(got), len(tt.wantPass))
			}
			for i, c := range got {
				if c.Pass != tt.wantPass[i] || c.Server != result.ServerPlatform {
					t.Errorf("%s on %s: pass=%v (%s), want %v", c.Name, c.Server, c.Pass, c.Message, tt.wantPass[i])
				}
			}
		})
	}
	if p.Unexpected == 0 {
		t.Fatal("fixture has no unexpected outcome; the error-rate case tests nothing")
	}
}

func TestCompareFlagsRegressions(t *testing.T) {
	base := fixture(t)
	tests := []struct {
		name    string
		mutate  func(s *result.Summary)
		limit   float64
		regress []string // metrics expected to regress
	}{
		{"same run", func(*result.Summary) {}, 0.10, nil},
		{"rate down 20%", func(s *result.Summary) { s.Servers[0].SuccessRate *= 0.8 }, 0.10, []string{"login rate"}},
		{"rate down 5% within limit", func(s *result.Summary) { s.Servers[0].SuccessRate *= 0.95 }, 0.10, nil},
		{"rate up is no regression", func(s *result.Summary) { s.Servers[0].SuccessRate *= 2 }, 0.10, nil},
		{"p99 up 50%", func(s *result.Summary) {
			l := s.Servers[0].Latency[result.MetricTotal]
			l.P99 = l.P99 * 3 / 2
			s.Servers[0].Latency[result.MetricTotal] = l
		}, 0.10, []string{"p99 latency"}},
		{"server CPU up 30%", func(s *result.Summary) {
			c := *s.Servers[0].ServerCPU
			c.PerAttemptUs *= 1.3
			s.Servers[0].ServerCPU = &c
			s.BaselineRatio *= 1.3
		}, 0.10, []string{"server CPU per login", "server CPU ratio"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cur := fixture(t)
			tt.mutate(cur)
			c := Compare(base, cur, tt.limit)
			var got []string
			for _, r := range c.Rows {
				if r.Regressed {
					got = append(got, r.Metric)
				}
			}
			if strings.Join(got, ",") != strings.Join(tt.regress, ",") {
				t.Fatalf("regressions %v, want %v", got, tt.regress)
			}
			if c.Regressions() != len(tt.regress) {
				t.Fatalf("Regressions() = %d, want %d", c.Regressions(), len(tt.regress))
			}
			if len(c.Differences) != 0 {
				t.Fatalf("settings differences %v between identical settings", c.Differences)
			}
		})
	}
}

func TestJUnitFailsViolatedThresholds(t *testing.T) {
	checks := Evaluate(fixture(t), Thresholds{MaxP99: time.Millisecond, MinRate: 1})
	var doc junitSuites
	if err := xml.Unmarshal(render(t, JUnit(checks, nil)), &doc); err != nil {
		t.Fatal(err)
	}
	if doc.Tests != 2 || doc.Failures != 1 {
		t.Fatalf("tests=%d failures=%d, want 2 and 1", doc.Tests, doc.Failures)
	}
	c := doc.Suites[0].Cases
	if c[0].Failure == nil || c[1].Failure != nil {
		t.Fatalf("p99 case failure=%v, rate case failure=%v; want only p99 to fail", c[0].Failure, c[1].Failure)
	}
}

// Load merges shard files (JSONL) and summary files into the summary of the
// whole run.
func TestLoadMergesShardFiles(t *testing.T) {
	dir := t.TempDir()
	all := fixtureResults(result.ServerPlatform, 1000, 1)
	var paths []string
	for shard := range 2 {
		sh := result.Shard{Index: shard, Count: 2}
		path := filepath.Join(dir, "shard"+sh.String()[:1]+".jsonl")
		f, err := os.Create(path)
		if err != nil {
			t.Fatal(err)
		}
		w := result.NewWriter(f)
		_ = w.WriteRun(fixtureRun(sh))
		for _, r := range all {
			if sh.Contains(r.Device) {
				_ = w.Record(r)
			}
		}
		_ = w.WriteWindow(result.Window{Server: result.ServerPlatform, Shard: sh, Start: t0, End: t0.Add(4 * time.Second),
			ClientCPUSeconds: 0.2, ServerCPUSource: "metrics:http://p/metrics", ServerCPUStart: 10, ServerCPUEnd: 10.3})
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		paths = append(paths, path)
	}
	fromShards, err := Load(paths...)
	if err != nil {
		t.Fatal(err)
	}
	// Shard 1 as a summary file instead of results: the same merge.
	s1, err := Load(paths[1])
	if err != nil {
		t.Fatal(err)
	}
	sumPath := filepath.Join(dir, "summary1.json")
	if err := WriteFile(sumPath, JSON(s1)); err != nil {
		t.Fatal(err)
	}
	mixed, err := Load(paths[0], sumPath)
	if err != nil {
		t.Fatal(err)
	}
	for name, s := range map[string]*result.Summary{"two JSONL shards": fromShards, "JSONL + summary": mixed} {
		p := s.Server(result.ServerPlatform)
		if p.Attempts != 1000 || len(s.Runs) != 2 {
			t.Errorf("%s: %d attempts from %d runs, want 1000 from 2", name, p.Attempts, len(s.Runs))
		}
		if p.ServerCPU == nil || p.ServerCPU.Seconds < 0.299 || p.ServerCPU.Seconds > 0.301 {
			t.Errorf("%s: server CPU %+v, want 0.3 s (one server watched by both shards)", name, p.ServerCPU)
		}
		if p.ClientCPU.Seconds < 0.399 || p.ClientCPU.Seconds > 0.401 {
			t.Errorf("%s: client CPU %.3f s, want 0.4 (two generators)", name, p.ClientCPU.Seconds)
		}
	}
	if a, b := fromShards.Server(result.ServerPlatform).Latency, mixed.Server(result.ServerPlatform).Latency; a[result.MetricTotal] != b[result.MetricTotal] {
		t.Errorf("latency differs: %+v vs %+v", a[result.MetricTotal], b[result.MetricTotal])
	}
	if _, err := Load(filepath.Join(dir, "missing.jsonl")); err == nil {
		t.Error("loading a missing file succeeded")
	}
}
