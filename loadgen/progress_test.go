package loadgen

import (
	"bytes"
	"os"
	"regexp"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/certlab/certlab/loadgen/result"
)

func TestProgressPlainLines(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var buf bytes.Buffer
		p := NewProgress(&buf, false, time.Second)
		p.Begin(result.ServerPlatform, 10*time.Second, 0)
		for _, o := range []result.Outcome{result.OutcomeSuccess, result.OutcomeSuccess, result.OutcomeRefused, result.OutcomeError, result.OutcomeDropped} {
			_ = p.Record(&result.Result{Outcome: o, Unexpected: o != result.OutcomeSuccess && o != result.OutcomeRefused})
		}
		time.Sleep(2500 * time.Millisecond) // two periodic lines
		p.End()                             // and a final one
		lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
		if len(lines) != 3 {
			t.Fatalf("%d lines, want 3:\n%s", len(lines), buf.String())
		}
		want := "attempts 5  ok 2  refused 1  errors 1  dropped 1  unexpected 2"
		if !strings.Contains(lines[2], want) || !strings.HasPrefix(lines[0], "platform   1.0s") {
			t.Errorf("progress lines:\n%s\nwant the counts %q after the elapsed time", buf.String(), want)
		}
		p.Begin(result.ServerBaseline, 0, 10) // a new attack starts from zero
		p.End()
		if !strings.Contains(buf.String(), "baseline   0.0s  attempts 0") {
			t.Errorf("second attack did not reset the counts:\n%s", buf.String())
		}
	})
}

// The Kubernetes manifests must agree with themselves and with the flags
// they pass: N pods, shard i/N, the scrape port the generator serves; the
// storm's shards share one outage instant.
func TestDeployManifestIsConsistent(t *testing.T) {
	for _, file := range []string{"loadgen-job.yaml", "storm-job.yaml"} {
		t.Run(file, func(t *testing.T) {
			b, err := os.ReadFile("../deploy/" + file)
			if err != nil {
				t.Fatal(err)
			}
			y := string(b)
			find := func(re string) string {
				t.Helper()
				m := regexp.MustCompile(re).FindStringSubmatch(y)
				if m == nil {
					t.Fatalf("manifest lacks %s", re)
				}
				return m[1]
			}
			n := find(`(?m)^\s*completions: (\d+)`)
			if p := find(`(?m)^\s*parallelism: (\d+)`); p != n {
				t.Errorf("parallelism %s != completions %s", p, n)
			}
			if s := find(`--shard=\$\(SHARD_INDEX\)/(\d+)`); s != n {
				t.Errorf("--shard .../%s, want /%s (completions)", s, n)
			}
			find(`(completionMode: Indexed)`)
			find(`(job-completion-index)`)
			port := find(`prometheus.io/port: "(\d+)"`)
			if m := find(`--metrics-addr=:(\d+)`); m != port {
				t.Errorf("metrics served on :%s but scraped on %s", m, port)
			}
			if _, err := result.ParseShard("3/" + n); err != nil {
				t.Error(err)
			}
			if file == "storm-job.yaml" {
				find(`--mode=(storm)`)
				if o := find(`--outage=([a-z-]+)`); o != string(OutageClientDrop) {
					t.Errorf("a sharded storm's outage is %s; only client-drop works on a platform the pods did not start", o)
				}
				if at := find(`--storm-at=(\S+)`); !strings.Contains(y, `sed "s/`+at+`/`) {
					t.Errorf("--storm-at=%s is not the placeholder the instructions replace", at)
				}
				if _, err := ParsePolicy(find(`--policy=([a-z-]+)`), 0, 0, false, false); err != nil {
					t.Error(err)
				}
			}
		})
	}
}
