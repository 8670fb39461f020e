package registry

// index.go: the in-memory indexes. They are loaded at Open and changed only
// by the writer after a successful COMMIT (see store.go), so a reader never
// sees an uncommitted change.
//
//   - devices by device_id: a sharded map (64 shards, RWMutex each) of
//     entries holding an atomic pointer to an immutable Device value. The
//     login hot path (LookupDevice) takes one shard read lock and copies
//     the struct: O(1), no allocation.
//   - per project: CAs sorted by ID, products sorted by ID, devices sorted by
//     Seq, for paging in descending order; all guarded by Registry.mu.

import (
	"cmp"
	"fmt"
	"hash/maphash"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/certlab/certlab/iotda"
)

// projState is one project and its per-project indexes (guarded by Registry.mu).
type projState struct {
	Project
	cas      []*CA       // ascending ID
	products []*Product  // ascending ID
	devices  []*devEntry // ascending Seq
}

func (r *Registry) resetIndexes() {
	r.projects = map[string]*projState{}
	r.order = nil
	r.byAK = map[string]*projState{}
	r.byToken = map[string]*projState{}
	r.byName = map[string]*projState{}
	r.caByID = map[string]*CA{}
	r.devs.init()
}

// ---- devices by ID ----

const deviceShards = 64 // power of two

// devEntry holds the current value of one device. Values are immutable:
// every change stores a fresh copy (copy on write, CAS loop), except the
// connection status. That one is soft state, changed on every login and
// disconnect, so it lives apart in atomics: a login does not copy (and
// allocate) the whole device twice. [DEV-STATUS] Readers get both merged
// by device().
type devEntry struct {
	cur atomic.Pointer[Device] // all but the live status; its Status and times are as last loaded or created

	status   atomic.Uint32 // statusAsLoaded, statusOnline or statusOffline
	statusAt atomic.Int64  // StatusUpdateTime in Unix nanoseconds; 0: as loaded
	activeAt atomic.Int64  // ActiveTime in Unix nanoseconds; 0: as loaded
}

// Live status codes of a devEntry.
const (
	statusAsLoaded uint32 = iota // Device.Status of cur
	statusOnline
	statusOffline
)

func newDevEntry(d Device) *devEntry {
	e := &devEntry{}
	e.cur.Store(&d)
	return e
}

// device returns the current value, live status included.
func (e *devEntry) device() Device {
	d := *e.cur.Load()
	e.mergeStatus(&d)
	return d
}

func (e *devEntry) mergeStatus(d *Device) {
	switch e.status.Load() {
	case statusOnline:
		d.Status = iotda.StatusOnline
	case statusOffline:
		d.Status = iotda.StatusOffline
	}
	if ns := e.statusAt.Load(); ns != 0 {
		d.StatusUpdateTime = time.Unix(0, ns).UTC()
	}
	if ns := e.activeAt.Load(); ns != 0 {
		d.ActiveTime = time.Unix(0, ns).UTC()
	}
}

// setStatus records a login (online) or a disconnect at at; the first
// login also sets the activation time. Calls for one device come in event
// order (the broker makes them under its session lock).
func (e *devEntry) setStatus(online bool, at time.Time) {
	code := statusOffline
	if online {
		code = statusOnline
		if e.activeAt.Load() == 0 && e.cur.Load().ActiveTime.IsZero() {
			e.activeAt.Store(at.UnixNano())
		}
	}
	e.statusAt.Store(at.UnixNano())
	e.status.Store(code)
}

// update applies fn to a copy of the current value and publishes it. fn may
// run more than once (on CAS contention) and must only modify its argument;
// the live status is not its to change (setStatus). It returns the new
// value, live status included.
func (e *devEntry) update(fn func(d *Device)) Device {
	for {
		old := e.cur.Load()
		nd := *old
		fn(&nd)
		if e.cur.CompareAndSwap(old, &nd) {
			e.mergeStatus(&nd)
			return nd
		}
	}
}

type devShard struct {
	mu sync.RWMutex
	m  map[string]*devEntry
	_  [32]byte // pad to 64 bytes: keep shards on separate cache lines
}

// deviceIndex maps device_id → entry across all projects. [DEV-ID]
type deviceIndex struct {
	seed   maphash.Seed
	shards [deviceShards]devShard
}

func (x *deviceIndex) init() {
	x.seed = maphash.MakeSeed()
	for i := range x.shards {
		x.shards[i].m = map[string]*devEntry{}
	}
}

func (x *deviceIndex) shard(id string) *devShard {
	return &x.shards[maphash.String(x.seed, id)&(deviceShards-1)]
}

func (x *deviceIndex) get(id string) *devEntry {
	s := x.shard(id)
	s.mu.RLock()
	e := s.m[id]
	s.mu.RUnlock()
	return e
}

func (x *deviceIndex) put(id string, e *devEntry) {
	s := x.shard(id)
	s.mu.Lock()
	s.m[id] = e
	s.mu.Unlock()
}

func (x *deviceIndex) remove(id string) {
	s := x.shard(id)
	s.mu.Lock()
	delete(s.m, id)
	s.mu.Unlock()
}

// ---- sorted slices ----

// insertSorted inserts v into s (ascending by key), keeping it sorted.
func insertSorted[T any, K cmp.Ordered](s []T, v T, key func(T) K) []T {
	k := key(v)
	// Fast path: new IDs and sequences are usually the largest.
	if n := len(s); n == 0 || key(s[n-1]) < k {
		return append(s, v)
	}
	i, _ := slices.BinarySearchFunc(s, k, func(e T, k K) int { return cmp.Compare(key(e), k) })
	return slices.Insert(s, i, v)
}

// removeSorted removes the element with key k from s, if present.
func removeSorted[T any, K cmp.Ordered](s []T, k K, key func(T) K) []T {
	i, ok := slices.BinarySearchFunc(s, k, func(e T, k K) int { return cmp.Compare(key(e), k) })
	if !ok {
		return s
	}
	return slices.Delete(s, i, i+1)
}

// replaceSorted replaces the element with v's key.
func replaceSorted[T any, K cmp.Ordered](s []T, v T, key func(T) K) {
	if i, ok := slices.BinarySearchFunc(s, key(v), func(e T, k K) int { return cmp.Compare(key(e), k) }); ok {
		s[i] = v
	}
}

func caKey(c *CA) string           { return c.ID }
func productKey(p *Product) string { return p.ID }
func deviceKey(e *devEntry) int64  { return e.cur.Load().Seq }

// ---- paging [CA-LIST] ----

const (
	defaultLimit = 10
	maxLimit     = 50
	maxOffset    = 500
)

// checkPage validates limit and offset; Limit 0 means the default (10).
func checkPage(p Page) (limit, offset int, err error) {
	limit = p.Limit
	if limit == 0 {
		limit = defaultLimit
	}
	if limit < 1 || limit > maxLimit {
		return 0, 0, fmt.Errorf("%w: limit must be 1..50, got %d", ErrInvalidInput, p.Limit)
	}
	if p.Offset < 0 || p.Offset > maxOffset {
		return 0, 0, fmt.Errorf("%w: offset must be 0..500, got %d", ErrInvalidInput, p.Offset)
	}
	return limit, p.Offset, nil
}

// parseHexMarker validates a 24-hex-digit marker (CA IDs, device sequence
// markers) and returns it lowercased.
func parseHexMarker(m string) (string, error) {
	if len(m) != 24 || !isHex(m) {
		return "", fmt.Errorf("%w: marker must be 24 hex digits, got %q", ErrInvalidInput, m)
	}
	return strings.ToLower(m), nil
}

// seqMarker is the paging marker of a device: its Seq as 24 hex digits.
func seqMarker(seq int64) string { return fmt.Sprintf("%024x", seq) }

// parseSeqMarker turns a device marker into a Seq bound: records with
// Seq < bound follow the marker. Markers beyond int64 (the IoTDA default
// "ffffffffffffffffffffffff") mean "from the newest".
func parseSeqMarker(m string) (int64, error) {
	m, err := parseHexMarker(m)
	if err != nil {
		return 0, err
	}
	if strings.TrimLeft(m[:8], "0") != "" {
		return int64(^uint64(0) >> 1), nil
	}
	v, err := strconv.ParseUint(m[8:], 16, 64)
	if err != nil || v > uint64(^uint64(0)>>1) {
		return int64(^uint64(0) >> 1), nil
	}
	return int64(v), nil
}

// pageDesc returns, from items (ascending), the records below index `below`
// taken in descending order, skipping offset matching records and keeping at
// most limit; and the total number of matching records in items (the whole
// list, regardless of marker and offset). match nil = every record.
func pageDesc[T any](items []T, below int, match func(T) bool, limit, offset int) ([]T, int64) {
	var page []T
	skipped := 0
	for i := below - 1; i >= 0 && len(page) < limit; i-- {
		if match != nil && !match(items[i]) {
			continue
		}
		if skipped < offset {
			skipped++
			continue
		}
		page = append(page, items[i])
	}
	if match == nil {
		return page, int64(len(items))
	}
	var total int64
	for _, it := range items {
		if match(it) {
			total++
		}
	}
	return page, total
}

// searchBelow returns the number of items (ascending by key) with key < bound.
func searchBelow[T any, K cmp.Ordered](items []T, bound K, key func(T) K) int {
	i, _ := slices.BinarySearchFunc(items, bound, func(e T, k K) int { return cmp.Compare(key(e), k) })
	return i
}
