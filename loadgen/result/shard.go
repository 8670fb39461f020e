package result

import (
	"fmt"
	"strconv"
	"strings"
)

// Shard selects one slice of a fleet: the devices whose index % Count ==
// Index. The zero Shard (Count 0) and 0/1 select every device.
type Shard struct {
	Index int `json:"index"`
	Count int `json:"count"`
}

// ParseShard parses "i/n" (0 <= i < n). "" is the whole fleet.
func ParseShard(s string) (Shard, error) {
	if s == "" {
		return Shard{Index: 0, Count: 1}, nil
	}
	is, ns, ok := strings.Cut(s, "/")
	if !ok {
		return Shard{}, fmt.Errorf("parse shard %q: want i/n, e.g. 0/4", s)
	}
	i, err1 := strconv.Atoi(strings.TrimSpace(is))
	n, err2 := strconv.Atoi(strings.TrimSpace(ns))
	if err1 != nil || err2 != nil || n < 1 || i < 0 || i >= n {
		return Shard{}, fmt.Errorf("parse shard %q: want i/n with 0 <= i < n", s)
	}
	return Shard{Index: i, Count: n}, nil
}

// Contains reports whether device index i belongs to this shard.
func (s Shard) Contains(i int) bool {
	if s.Count <= 1 {
		return true
	}
	return i%s.Count == s.Index
}

// Indexes returns the device indexes of this shard among devices 0..n-1.
func (s Shard) Indexes(n int) []int {
	out := make([]int, 0, n/max(s.Count, 1)+1)
	for i := range n {
		if s.Contains(i) {
			out = append(out, i)
		}
	}
	return out
}

// String renders "i/n".
func (s Shard) String() string {
	if s.Count <= 1 {
		return "0/1"
	}
	return fmt.Sprintf("%d/%d", s.Index, s.Count)
}
