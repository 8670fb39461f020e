package reports

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/certlab/certlab/loadgen/result"
)

// Reporter writes one rendering of a report.
type Reporter func(io.Writer) error

// WriteFile renders r into path (created or truncated).
func WriteFile(path string, r Reporter) (err error) {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("write report: %w", err)
	}
	defer func() {
		if cerr := f.Close(); err == nil && cerr != nil {
			err = fmt.Errorf("write report: %w", cerr)
		}
	}()
	bw := bufio.NewWriter(f)
	if err := r(bw); err != nil {
		return fmt.Errorf("write report %s: %w", path, err)
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("write report: %w", err)
	}
	return nil
}

// Load reads results files (JSONL) and summary JSON files and merges them
// into one summary: the shards of a run, or several runs to pool.
func Load(paths ...string) (*result.Summary, error) {
	if len(paths) == 0 {
		return nil, errors.New("load results: no file given")
	}
	agg := result.NewAggregator()
	for _, p := range paths {
		if err := loadInto(agg, p); err != nil {
			return nil, err
		}
	}
	s, err := agg.Summary()
	if err != nil {
		return nil, fmt.Errorf("load results: %w", err)
	}
	return s, nil
}

func loadInto(agg *result.Aggregator, path string) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("load results: %w", err)
	}
	defer f.Close()
	br := bufio.NewReaderSize(f, 64<<10)
	first, err := br.Peek(4096)
	if err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("load results %s: %w", path, err)
	}
	if isSummary(first) {
		var s result.Summary
		if err := json.NewDecoder(br).Decode(&s); err != nil {
			return fmt.Errorf("load summary %s: %w", path, err)
		}
		if s.Format != result.SummaryFormat {
			return fmt.Errorf("load summary %s: format %q, want %q", path, s.Format, result.SummaryFormat)
		}
		if err := agg.AddSummary(&s); err != nil {
			return fmt.Errorf("load summary %s: %w", path, err)
		}
		return nil
	}
	if err := agg.Aggregate(br); err != nil {
		return fmt.Errorf("load results %s: %w", path, err)
	}
	return nil
}

// isSummary tells a summary JSON document from a JSONL results file: a
// summary's first line is not a complete JSON object, or it is one with
// the summary format.
func isSummary(head []byte) bool {
	head = bytes.TrimLeft(head, " \t\r\n")
	line, _, _ := bytes.Cut(head, []byte("\n"))
	var probe struct {
		Format string `json:"format"`
	}
	if err := json.Unmarshal(line, &probe); err != nil {
		return bytes.HasPrefix(head, []byte("{"))
	}
	return probe.Format == result.SummaryFormat
}
