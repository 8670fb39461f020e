package host

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
)

// A CPUSource reads the cumulative CPU time (user + system, seconds) of one
// process. CPU per login is the difference of two readings divided by the
// logins in between (docs/performance.md, "How to measure server CPU per login").
type CPUSource interface {
	CPUSeconds(ctx context.Context) (float64, error)
	// String identifies the process: "pid:1234@host" or "metrics:URL".
	String() string
}

// SelfCPU reads this process's CPU time with getrusage(RUSAGE_SELF)
// (microsecond resolution, all threads).
type SelfCPU struct{}

// CPUSeconds implements CPUSource.
func (SelfCPU) CPUSeconds(context.Context) (float64, error) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0, fmt.Errorf("getrusage: %w", err)
	}
	return tvSeconds(ru.Utime) + tvSeconds(ru.Stime), nil
}

func (SelfCPU) String() string { return fmt.Sprintf("pid:%d@%s", os.Getpid(), Hostname()) }

func tvSeconds(tv syscall.Timeval) float64 {
	return float64(tv.Sec) + float64(tv.Usec)/1e6
}

// clockTicks is USER_HZ, the unit of /proc/PID/stat times (100 on every
// mainstream Linux; Go cannot call sysconf without cgo).
const clockTicks = 100

// PIDCPU reads another local process's CPU time from /proc/PID/stat
// (utime + stime of all its threads; 10 ms resolution).
type PIDCPU struct{ PID int }

// CPUSeconds implements CPUSource.
func (p PIDCPU) CPUSeconds(context.Context) (float64, error) {
	return procStatCPU(fmt.Sprintf("/proc/%d/stat", p.PID))
}

func (p PIDCPU) String() string { return fmt.Sprintf("pid:%d@%s", p.PID, Hostname()) }

func procStatCPU(path string) (float64, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, fmt.Errorf("read process CPU: %w", err)
	}
	// The command name (field 2) is in parentheses and may hold spaces and
	// parentheses itself: the fields we want follow the last ')'.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, fmt.Errorf("read process CPU: %s: malformed", path)
	}
	f := strings.Fields(s[i+1:])
	// f[0] is field 3 (state); utime and stime are fields 14 and 15.
	if len(f) < 13 {
		return 0, fmt.Errorf("read process CPU: %s: %d fields", path, len(f))
	}
	ut, err1 := strconv.ParseUint(f[11], 10, 64)
	st, err2 := strconv.ParseUint(f[12], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return 0, fmt.Errorf("read process CPU: %s: %w", path, err)
	}
	return float64(ut+st) / clockTicks, nil
}

// MetricsCPU reads process_cpu_seconds_total from a Prometheus endpoint
// (the target's MetricsEndpoint). A platform whose metrics cover several
// processes is summed.
type MetricsCPU struct {
	URL    string
	Client *http.Client // default: a client with a 5 s timeout
}

// CPUSeconds implements CPUSource.
func (m MetricsCPU) CPUSeconds(ctx context.Context) (float64, error) {
	fams, err := Scrape(ctx, m.Client, m.URL)
	if err != nil {
		return 0, err
	}
	v, ok := CounterValue(fams, "process_cpu_seconds_total", nil)
	if !ok {
		return 0, fmt.Errorf("scrape %s: no process_cpu_seconds_total", m.URL)
	}
	return v, nil
}

func (m MetricsCPU) String() string { return "metrics:" + m.URL }

var defaultScrapeClient = &http.Client{Timeout: 5 * time.Second}

// Scrape fetches a Prometheus endpoint and parses it (text, OpenMetrics
// negotiated down to text, or protobuf).
func Scrape(ctx context.Context, client *http.Client, url string) (map[string]*dto.MetricFamily, error) {
	if client == nil {
		client = defaultScrapeClient
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, fmt.Errorf("scrape %s: %w", url, err)
	}
	req.Header.Set("Accept", string(expfmt.NewFormat(expfmt.TypeTextPlain)))
	resp, err := client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("scrape %s: %w", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("scrape %s: HTTP %d", url, resp.StatusCode)
	}
	dec := expfmt.NewDecoder(resp.Body, expfmt.ResponseFormat(resp.Header))
	fams := make(map[string]*dto.MetricFamily)
	for {
		var mf dto.MetricFamily
		if err := dec.Decode(&mf); err != nil {
			if errors.Is(err, io.EOF) {
				break
			}
			return nil, fmt.Errorf("scrape %s: %w", url, err)
		}
		fams[mf.GetName()] = &mf
	}
	return fams, nil
}

// CounterValue sums the counter (or untyped/gauge) samples of family name
// whose labels include every pair in match.
func CounterValue(fams map[string]*dto.MetricFamily, name string, match map[string]string) (float64, bool) {
	mf, ok := fams[name]
	if !ok {
		return 0, false
	}
	var sum float64
	found := false
	for _, m := range mf.GetMetric() {
		if !labelsMatch(m.GetLabel(), match) {
			continue
		}
		switch {
		case m.Counter != nil:
			sum += m.GetCounter().GetValue()
		case m.Gauge != nil:
			sum += m.GetGauge().GetValue()
		case m.Untyped != nil:
			sum += m.GetUntyped().GetValue()
		default:
			continue
		}
		found = true
	}
	return sum, found
}

func labelsMatch(have []*dto.LabelPair, want map[string]string) bool {
	for k, v := range want {
		ok := false
		for _, lp := range have {
			if lp.GetName() == k && lp.GetValue() == v {
				ok = true
				break
			}
		}
		if !ok {
			return false
		}
	}
	return true
}

// Hostname is this machine's name ("localhost" when it has none), as CPU
// sources and windows name the process they measured.
func Hostname() string {
	h, err := os.Hostname()
	if err != nil {
		return "localhost"
	}
	return h
}
