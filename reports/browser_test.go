package reports

// browser_test.go opens the HTML report in a real headless Chromium
// (Debian's chromium, through chromedp) and checks what a person sees: every
// chart is laid out with its data points (lines, bars, partial seconds), the
// Gherkin suite and fleet sections are there, and the page loaded nothing
// from anywhere. Set CERTLAB_REPORT_SCREENSHOT=FILE.png to keep a full-page
// screenshot.

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// requireChromium finds Debian's chromium (CERTLAB_CHROMIUM overrides). It
// skips the test when missing, except under CI=true, where it fails
// (scripts/install-tools.sh installs it), as platformtest.RequireTool does.
func requireChromium(t *testing.T) string {
	t.Helper()
	for _, n := range []string{os.Getenv("CERTLAB_CHROMIUM"), "/usr/bin/chromium", "chromium", "chromium-browser"} {
		if n == "" {
			continue
		}
		if p, err := exec.LookPath(n); err == nil {
			return p
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("chromium is not installed (Debian package chromium); CI must have it: scripts/install-tools.sh installs it")
	}
	t.Skip("chromium is not installed (Debian package chromium); run scripts/install-tools.sh as root to install it")
	return ""
}

// chartSeen is what the browser laid out for one div[data-chart].
type chartSeen struct {
	Charts   int     `json:"charts"`   // svg elements
	Width    float64 `json:"width"`    // rendered width of the first, px
	Lines    int     `json:"lines"`    // polylines of two or more points
	Points   int     `json:"points"`   // points over all polylines
	Bars     int     `json:"bars"`     // histogram bars
	Rects    int     `json:"rects"`    // all rects (bar charts, legends)
	Partial  int     `json:"partial"`  // hollow markers of partial seconds
	HasTitle bool    `json:"hasTitle"` // the chart names itself
}

type pageSeen struct {
	Title        string               `json:"title"`
	Charts       map[string]chartSeen `json:"charts"` // by data-chart/data-server
	Requirements int                  `json:"requirements"`
	Fleet        bool                 `json:"fleet"`
	Parts        int                  `json:"parts"`     // cards of the summary at the top
	Resources    int                  `json:"resources"` // resources the page loaded (must be 0)
	Height       float64              `json:"height"`
}

const seePage = `(() => {
  const charts = {};
  for (const div of document.querySelectorAll("div[data-chart]")) {
    const key = div.dataset.chart + (div.dataset.server ? "/" + div.dataset.server : "");
    const svgs = div.querySelectorAll("svg");
    let lines = 0, points = 0;
    for (const pl of div.querySelectorAll("polyline")) {
      const n = pl.points.numberOfItems;
      if (n >= 2) { lines++; points += n; }
    }
    charts[key] = {
      charts: svgs.length,
      width: svgs.length ? svgs[0].getBoundingClientRect().width : 0,
      lines: lines, points: points,
      bars: div.querySelectorAll("rect.bar").length,
      rects: div.querySelectorAll("rect").length,
      partial: div.querySelectorAll('circle[fill="#fff"]').length,
      hasTitle: svgs.length > 0 && (svgs[0].getAttribute("aria-label") || "").length > 0,
    };
  }
  return {
    title: document.title,
    charts: charts,
    requirements: document.querySelectorAll("tr[data-requirement]").length,
    fleet: [...document.querySelectorAll("h2")].some(h => h.textContent === "Device fleet"),
    parts: document.querySelectorAll(".card.part").length,
    resources: performance.getEntriesByType("resource").length,
    height: document.documentElement.scrollHeight,
  };
})()`

func TestHTMLInBrowser(t *testing.T) {
	chromium := requireChromium(t)
	if testing.Short() {
		t.Skip("browser test: skipped with -short")
	}
	s, old := fixture(t), olderFixture(t)
	page := filepath.Join(t.TempDir(), "report.html")
	opts := HTMLOptions{Checks: Evaluate(s, fixtureThresholds), Comparison: Compare(old, s, 0.10), Previous: old,
		BDD: fixtureBDD(), Fleet: fixtureFleet()}
	if err := WriteFile(page, HTML(s, opts)); err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	profile := t.TempDir()
	actx, cancelAlloc := chromedp.NewExecAllocator(ctx,
		chromedp.ExecPath(chromium),
		chromedp.UserDataDir(profile),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("disable-extensions", true),
		chromedp.WindowSize(1400, 3000),
	)
	defer cancelAlloc() // waits for the browser to exit
	bctx, cancelBrowser := chromedp.NewContext(actx, chromedp.WithLogf(t.Logf))
	defer cancelBrowser()

	if err := chromedp.Do(bctx, chromedp.Navigate("file://"+page), chromedp.WaitReady("main")); err != nil {
		t.Fatalf("open %s in chromium: %v", page, err)
	}
	seen, err := chromedp.Run(bctx, chromedp.Evaluate[pageSeen](seePage))
	if err != nil {
		t.Fatalf("read the page: %v", err)
	}
	t.Logf("page %.0f px high, %d charts", seen.Height, len(seen.Charts))

	if seen.Title != "certlab run report" {
		t.Errorf("title %q", seen.Title)
	}
	if seen.Resources != 0 {
		t.Errorf("the page loaded %d resources; it must be self-contained", seen.Resources)
	}
	if seen.Requirements != len(fixtureBDD().Requirements) || !seen.Fleet || seen.Parts != 3 {
		t.Errorf("requirement rows %d, fleet section %v, summary cards %d; want %d, true, 3",
			seen.Requirements, seen.Fleet, seen.Parts, len(fixtureBDD().Requirements))
	}
	// What each chart must show: lines and their points, bars, partial seconds.
	type want struct{ lines, points, bars, partial int }
	wants := map[string]want{
		"spectrum": {lines: 2, points: 22}, // 11 percentiles of two servers
		"phases":   {}, "cpu": {},
		"compare-rate":    {lines: 2, points: 6},  // new and old run, 4 whole seconds each (a line or two per partial end)
		"compare-latency": {lines: 4, points: 20}, // p50 and p99 of both runs, 5 seconds each
	}
	for _, server := range []string{"platform", "baseline"} {
		wants["rate/"+server] = want{lines: 2, points: 8, partial: 4} // success and refused: 4 whole seconds, a partial one at each end
		wants["latency-time/"+server] = want{lines: 4, points: 20}    // p50, p90, p99, max over 5 seconds
		wants["phase-time/"+server] = want{lines: 6, points: 30}      // p50 and p99 of 3 phases
		wants["histogram/"+server] = want{bars: 10}
		wants["outcomes/"+server] = want{}
	}
	for key, w := range wants {
		c, ok := seen.Charts[key]
		if !ok {
			t.Errorf("no chart %s on the page", key)
			continue
		}
		if c.Charts != 1 || c.Width < 600 || !c.HasTitle {
			t.Errorf("%s: %d svg, %.0f px wide, titled %v; want one, laid out across the page, titled", key, c.Charts, c.Width, c.HasTitle)
		}
		if c.Lines < w.lines || c.Points < w.points || c.Bars < w.bars || c.Partial < w.partial {
			t.Errorf("%s: %d lines with %d points, %d bars, %d partial markers; want at least %d, %d, %d, %d",
				key, c.Lines, c.Points, c.Bars, c.Partial, w.lines, w.points, w.bars, w.partial)
		}
		if w == (want{}) && c.Rects == 0 {
			t.Errorf("%s: a bar chart without bars", key)
		}
	}

	if path := os.Getenv("CERTLAB_REPORT_SCREENSHOT"); path != "" {
		png, err := chromedp.Run(bctx, chromedp.FullScreenshot(90))
		if err != nil {
			t.Fatalf("screenshot: %v", err)
		}
		if err := os.WriteFile(path, png, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("screenshot: %s", path)
	}
	if ctx.Err() != nil {
		t.Errorf("the browser test ran out of time: %v", fmt.Sprint(ctx.Err()))
	}
}
