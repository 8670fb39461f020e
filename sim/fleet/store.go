// Package fleet is the on-disk fleet of device identities: N device keys and
// certificates spread round-robin over 1..100 device CAs, minted once in
// parallel and reused across runs by the simulator, the BDD steps and the
// load generator (store.go, nodeid.go); enrols them on a target (enrol.go:
// upload and verify the CAs, create the product, register the devices); and
// runs them as MQTT devices with pluggable behaviours (run.go, behaviour.go,
// summary.go).
//
// Layout of a fleet directory:
//
//	fleet.json             spec, fleet ID and per-CA metadata; written last, so
//	                       its presence means the fleet is complete
//	ca-000/ca.pem, ca.key  device CA 0 (pki.CA.WriteFiles; key mode 0600)
//	ca-000/devices.jsonl   one JSON record per device of CA 0, in index order:
//	                       {"i","node_id","cert" (DER, base64),"key" (PKCS#8 DER,
//	                       base64),"sha256"}
//	ca-000/devices.idx     little-endian uint64 byte offsets of each record in
//	                       devices.jsonl, then the file's length
//
// Device i belongs to CA i%CAs at position i/CAs of that CA's files. Node IDs
// are deterministic per index (see NodeID); keys are random. Minting streams
// records to disk through a bounded window, so memory does not grow with the
// fleet size, and reading one identity costs two ReadAt calls.
package fleet

import (
	"bufio"
	"context"
	"crypto/rand"
	"crypto/x509"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"iter"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/certlab/certlab/sim/pki"
)

// Sentinel errors.
var (
	// ErrNoFleet means the directory holds no complete fleet (no fleet.json).
	ErrNoFleet = errors.New("no fleet")
	// ErrSpecMismatch means a stored fleet was minted with another spec.
	ErrSpecMismatch = errors.New("fleet spec mismatch")
	// ErrCorrupt means the fleet's files disagree with its manifest.
	ErrCorrupt = errors.New("corrupt fleet")
)

// File names inside a fleet directory.
const (
	ManifestFile = "fleet.json"
	DevicesFile  = "devices.jsonl"
	IndexFile    = "devices.idx"
	caBase       = "ca"
	format       = 1
	chunkSize    = 256 // devices minted per task
)

// Spec describes a fleet. Devices, CAs, KeyType, CAKeyType and NodeIDPrefix
// identify it; Workers only tunes minting.
type Spec struct {
	// Devices is the number of device identities, 1..MaxDevices.
	Devices int `json:"devices"`
	// CAs is the number of device CAs, 1..100 (IoTDA's per-project quota,
	// [CA-QUOTA]); default 1.
	CAs int `json:"cas"`
	// KeyType is the device key algorithm; default ECDSA P-256.
	KeyType pki.KeyType `json:"key_type"`
	// CAKeyType is the device CAs' key algorithm; default ECDSA P-256.
	CAKeyType pki.KeyType `json:"ca_key_type"`
	// NodeIDPrefix is prepended to every node ID (e.g. to keep two fleets'
	// device IDs apart on one platform); [A-Za-z0-9_-], at most 49 chars.
	NodeIDPrefix string `json:"node_id_prefix,omitempty"`
	// Workers is the number of minting goroutines; default GOMAXPROCS.
	Workers int `json:"-"`
}

// MaxCAs is IoTDA's quota of device CAs per project. [CA-QUOTA]
const MaxCAs = 100

var nodeIDChars = regexp.MustCompile(`^[A-Za-z0-9_-]*$`)

func (s Spec) withDefaults() Spec {
	if s.CAs == 0 {
		s.CAs = 1
	}
	if s.KeyType == "" {
		s.KeyType = pki.ECDSAP256
	}
	if s.CAKeyType == "" {
		s.CAKeyType = pki.ECDSAP256
	}
	if s.Workers <= 0 {
		s.Workers = runtime.GOMAXPROCS(0)
	}
	return s
}

func (s Spec) validate() error {
	if s.Devices < 1 || s.Devices > MaxDevices {
		return fmt.Errorf("devices = %d, want 1..%d", s.Devices, MaxDevices)
	}
	if s.CAs < 1 || s.CAs > MaxCAs { // [CA-QUOTA]
		return fmt.Errorf("CAs = %d, want 1..%d", s.CAs, MaxCAs)
	}
	// [DEV-NODEID] node_id is 1–64 of [A-Za-z0-9_-].
	if !nodeIDChars.MatchString(s.NodeIDPrefix) || len(s.NodeIDPrefix)+MaxNodeIDLen > 64 {
		return fmt.Errorf("node ID prefix %q: want at most %d of [A-Za-z0-9_-]", s.NodeIDPrefix, 64-MaxNodeIDLen)
	}
	for _, kt := range []pki.KeyType{s.KeyType, s.CAKeyType} {
		if _, ok := keyTypes[kt]; !ok {
			return fmt.Errorf("unknown key type %q", kt)
		}
	}
	return nil
}

var keyTypes = map[pki.KeyType]bool{pki.ECDSAP256: true, pki.ECDSAP384: true, pki.RSA2048: true,
	pki.RSA3072: true, pki.RSA4096: true, pki.Ed25519: true}

// identity is the part of a spec that names a fleet (Workers excluded).
func (s Spec) identity() Spec { s.Workers = 0; return s }

// CAInfo is the manifest's record of one device CA.
type CAInfo struct {
	Index             int       `json:"index"`
	Dir               string    `json:"dir"` // relative to the fleet directory
	CommonName        string    `json:"cn"`
	FingerprintSHA256 string    `json:"fingerprint_sha256"`
	NotAfter          time.Time `json:"not_after"`
	Devices           int       `json:"devices"`
}

type manifest struct {
	Format  int       `json:"format"`
	ID      string    `json:"id"`
	Created time.Time `json:"created"`
	Spec    Spec      `json:"spec"`
	CAs     []CAInfo  `json:"cas"`
}

// record is one line of devices.jsonl.
type record struct {
	Index  int    `json:"i"`
	NodeID string `json:"node_id"`
	Cert   []byte `json:"cert"` // DER
	Key    []byte `json:"key"`  // PKCS#8 DER
	SHA256 string `json:"sha256"`
}

// Identity is one device of a fleet.
type Identity struct {
	Index             int
	NodeID            string
	CAIndex           int
	Leaf              *pki.Leaf // issued directly by the fleet's CA CAIndex (no chain)
	FingerprintSHA256 string    // of Leaf.Cert, IoTDA's format [DEV-FINGERPRINT]
}

// Fleet is an opened fleet directory. Its methods are safe for concurrent use.
type Fleet struct {
	Dir  string
	ID   string // random, also in the CAs' subject CN, so fleets never share a CA name
	Spec Spec   // Workers is zero
	Info []CAInfo

	cas []*pki.CA

	mu    sync.Mutex
	files []caFiles // opened on first use
}

type caFiles struct{ devices, index *os.File }

func caDir(c int) string { return fmt.Sprintf("ca-%03d", c) }

// devicesOf returns how many of n devices round-robin puts on CA c of cas.
func devicesOf(n, cas, c int) int { return n/cas + boolInt(c < n%cas) }

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// Mint creates a fleet in dir (created if needed), replacing any fleet there:
// spec.CAs device CAs, then spec.Devices identities minted by spec.Workers
// goroutines. On error or cancellation dir holds no fleet.json, so Load
// refuses it.
func Mint(ctx context.Context, dir string, spec Spec) (*Fleet, error) {
	f, err := mint(ctx, dir, spec)
	if err != nil {
		return nil, fmt.Errorf("mint fleet in %s: %w", dir, err)
	}
	return f, nil
}

func mint(ctx context.Context, dir string, spec Spec) (*Fleet, error) {
	spec = spec.withDefaults()
	if err := spec.validate(); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	// Invalidate the old fleet first, then drop its CA directories.
	if err := os.Remove(filepath.Join(dir, ManifestFile)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	old, err := filepath.Glob(filepath.Join(dir, "ca-[0-9][0-9][0-9]"))
	if err != nil {
		return nil, err
	}
	for _, d := range old {
		if err := os.RemoveAll(d); err != nil {
			return nil, err
		}
	}

	var idb [4]byte
	if _, err := rand.Read(idb[:]); err != nil {
		return nil, err
	}
	m := manifest{Format: format, ID: hex.EncodeToString(idb[:]), Created: time.Now().UTC().Truncate(time.Second),
		Spec: spec.identity(), CAs: make([]CAInfo, spec.CAs)}

	cas, err := mintCAs(ctx, dir, spec, m.ID)
	if err != nil {
		return nil, err
	}
	for c, ca := range cas {
		m.CAs[c] = CAInfo{Index: c, Dir: caDir(c), CommonName: ca.Cert.Subject.CommonName,
			FingerprintSHA256: pki.FingerprintSHA256(ca.Cert), NotAfter: ca.Cert.NotAfter,
			Devices: devicesOf(spec.Devices, spec.CAs, c)}
	}
	if err := mintDevices(ctx, dir, spec, cas); err != nil {
		return nil, err
	}
	body, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return nil, err
	}
	if err := pki.WriteFileAtomic(filepath.Join(dir, ManifestFile), append(body, '\n'), 0o644); err != nil {
		return nil, err
	}
	return Load(dir)
}

func mintCAs(ctx context.Context, dir string, spec Spec, id string) ([]*pki.CA, error) {
	cas := make([]*pki.CA, spec.CAs)
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(spec.Workers)
	for c := range cas {
		if gctx.Err() != nil {
			break // g.Go blocks on the limit without watching ctx
		}
		g.Go(func() error {
			cn := fmt.Sprintf("certlab fleet %s device CA %03d", id, c)
			ca, err := pki.NewRootCA(cn, pki.WithKeyType(spec.CAKeyType), pki.WithOrganization("certlab"))
			if err != nil {
				return err
			}
			if err := ca.WriteFiles(filepath.Join(dir, caDir(c)), caBase); err != nil {
				return err
			}
			cas[c] = ca
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, fmt.Errorf("mint CAs: %w", err)
	}
	if err := context.Cause(ctx); err != nil {
		return nil, fmt.Errorf("mint CAs: %w", err)
	}
	return cas, nil
}

// chunk is the encoded records of devices [lo, lo+len(lines)).
type chunk struct {
	lo    int
	lines [][]byte
}

// mintDevices mints identities chunk by chunk on spec.Workers goroutines and
// writes them in index order. At most 2*Workers finished or pending chunks
// wait for the writer, which bounds memory whatever the fleet size.
func mintDevices(ctx context.Context, dir string, spec Spec, cas []*pki.CA) error {
	w, err := newWriter(dir, len(cas))
	if err != nil {
		return err
	}
	defer w.abort()

	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(spec.Workers + 1) // + the writer
	pending := make(chan chan chunk, 2*spec.Workers)
	g.Go(func() error {
		for res := range pending {
			select {
			case ch := <-res:
				if err := w.write(ch); err != nil {
					return fmt.Errorf("write devices: %w", err)
				}
			case <-gctx.Done():
				return context.Cause(gctx)
			}
		}
		return nil
	})
produce:
	for lo := 0; lo < spec.Devices; lo += chunkSize {
		hi := min(lo+chunkSize, spec.Devices)
		res := make(chan chunk, 1)
		select {
		case pending <- res:
		case <-gctx.Done():
			break produce
		}
		g.Go(func() error {
			ch, err := mintChunk(gctx, spec, cas, lo, hi)
			if err != nil {
				return err
			}
			res <- ch
			return nil
		})
	}
	close(pending)
	if err := g.Wait(); err != nil {
		return err
	}
	if err := context.Cause(ctx); err != nil {
		return err
	}
	return w.finish()
}

func mintChunk(ctx context.Context, spec Spec, cas []*pki.CA, lo, hi int) (chunk, error) {
	ch := chunk{lo: lo, lines: make([][]byte, 0, hi-lo)}
	for i := lo; i < hi; i++ {
		if err := ctx.Err(); err != nil {
			return ch, context.Cause(ctx)
		}
		line, err := mintOne(spec, cas[i%len(cas)], i)
		if err != nil {
			return ch, fmt.Errorf("mint device %d: %w", i, err)
		}
		ch.lines = append(ch.lines, line)
	}
	return ch, nil
}

func mintOne(spec Spec, ca *pki.CA, i int) ([]byte, error) {
	nodeID := NodeID(spec.NodeIDPrefix, i)
	key, err := pki.GenerateKey(spec.KeyType)
	if err != nil {
		return nil, err
	}
	leaf, err := ca.NewDeviceCert(nodeID, pki.WithKey(key))
	if err != nil {
		return nil, err
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, err
	}
	line, err := json.Marshal(record{Index: i, NodeID: nodeID, Cert: leaf.Cert.Raw, Key: keyDER,
		SHA256: pki.FingerprintSHA256(leaf.Cert)})
	if err != nil {
		return nil, err
	}
	return append(line, '\n'), nil
}

// writer appends records to each CA's devices.jsonl and their offsets to devices.idx.
type writer struct {
	next int // next device index expected
	cas  []caWriter
}

type caWriter struct {
	devices, index *os.File
	dbuf, ibuf     *bufio.Writer
	off            uint64 // bytes written to devices
}

func (cw *caWriter) writeOffset() error {
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], cw.off)
	_, err := cw.ibuf.Write(b[:])
	return err
}

func newWriter(dir string, n int) (*writer, error) {
	w := &writer{cas: make([]caWriter, n)}
	for c := range w.cas {
		d, err := os.OpenFile(filepath.Join(dir, caDir(c), DevicesFile), os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
		if err != nil {
			w.abort()
			return nil, err
		}
		x, err := os.OpenFile(filepath.Join(dir, caDir(c), IndexFile), os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
		if err != nil {
			d.Close()
			w.abort()
			return nil, err
		}
		w.cas[c] = caWriter{devices: d, index: x, dbuf: bufio.NewWriterSize(d, 32<<10), ibuf: bufio.NewWriterSize(x, 4<<10)}
	}
	return w, nil
}

func (w *writer) write(ch chunk) error {
	if ch.lo != w.next {
		return fmt.Errorf("chunk at %d, want %d", ch.lo, w.next) // cannot happen: pending is FIFO
	}
	for k, line := range ch.lines {
		cw := &w.cas[(ch.lo+k)%len(w.cas)]
		if err := cw.writeOffset(); err != nil {
			return err
		}
		if _, err := cw.dbuf.Write(line); err != nil {
			return err
		}
		cw.off += uint64(len(line))
	}
	w.next += len(ch.lines)
	return nil
}

// finish writes each index's terminal offset, flushes, syncs and closes.
func (w *writer) finish() error {
	for c := range w.cas {
		cw := &w.cas[c]
		if err := cw.writeOffset(); err != nil {
			return err
		}
		if err := cw.dbuf.Flush(); err != nil {
			return err
		}
		if err := cw.ibuf.Flush(); err != nil {
			return err
		}
		if err := cw.devices.Sync(); err != nil {
			return err
		}
		if err := cw.index.Sync(); err != nil {
			return err
		}
		if err := cw.devices.Close(); err != nil {
			return err
		}
		if err := cw.index.Close(); err != nil {
			return err
		}
		cw.devices, cw.index = nil, nil
	}
	return nil
}

// abort closes whatever is still open (after finish: nothing).
func (w *writer) abort() {
	for _, cw := range w.cas {
		for _, f := range []*os.File{cw.devices, cw.index} {
			if f != nil {
				f.Close()
			}
		}
	}
}

// Load opens the fleet in dir. It reads the manifest and the CAs and checks
// that the files agree; identities are read lazily.
func Load(dir string) (*Fleet, error) {
	f, err := load(dir)
	if err != nil {
		return nil, fmt.Errorf("load fleet from %s: %w", dir, err)
	}
	return f, nil
}

func load(dir string) (*Fleet, error) {
	body, err := os.ReadFile(filepath.Join(dir, ManifestFile))
	if errors.Is(err, os.ErrNotExist) {
		return nil, ErrNoFleet
	}
	if err != nil {
		return nil, err
	}
	var m manifest
	if err := json.Unmarshal(body, &m); err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrCorrupt, ManifestFile, err)
	}
	if m.Format != format {
		return nil, fmt.Errorf("%w: %s format %d, want %d", ErrCorrupt, ManifestFile, m.Format, format)
	}
	spec := m.Spec.withDefaults()
	if err := spec.validate(); err != nil || len(m.CAs) != spec.CAs {
		return nil, fmt.Errorf("%w: %s spec %+v with %d CAs: %v", ErrCorrupt, ManifestFile, m.Spec, len(m.CAs), err)
	}
	f := &Fleet{Dir: dir, ID: m.ID, Spec: spec.identity(), Info: m.CAs, cas: make([]*pki.CA, len(m.CAs)),
		files: make([]caFiles, len(m.CAs))}
	for c, info := range m.CAs {
		cd := filepath.Join(dir, info.Dir)
		ca, err := pki.CAFromFiles(filepath.Join(cd, caBase+pki.CertSuffix), filepath.Join(cd, caBase+pki.KeySuffix))
		if err != nil {
			return nil, fmt.Errorf("%w: CA %d: %v", ErrCorrupt, c, err)
		}
		if got := pki.FingerprintSHA256(ca.Cert); got != info.FingerprintSHA256 {
			return nil, fmt.Errorf("%w: CA %d fingerprint %s, manifest says %s", ErrCorrupt, c, got, info.FingerprintSHA256)
		}
		want := devicesOf(spec.Devices, spec.CAs, c)
		if info.Devices != want {
			return nil, fmt.Errorf("%w: CA %d has %d devices, want %d", ErrCorrupt, c, info.Devices, want)
		}
		if fi, err := os.Stat(filepath.Join(cd, IndexFile)); err != nil || fi.Size() != int64(want+1)*8 {
			return nil, fmt.Errorf("%w: CA %d: %s does not index %d devices (%v)", ErrCorrupt, c, IndexFile, want, err)
		}
		f.cas[c] = ca
	}
	return f, nil
}

// Matches reports whether the fleet was minted with spec (Workers ignored);
// the error (ErrSpecMismatch) says what differs.
func (f *Fleet) Matches(spec Spec) error {
	want := spec.withDefaults().identity()
	if f.Spec != want {
		return fmt.Errorf("%w: %s holds %s, want %s", ErrSpecMismatch, f.Dir, describe(f.Spec), describe(want))
	}
	return nil
}

func describe(s Spec) string {
	return fmt.Sprintf("%d %s devices over %d %s CAs with node ID prefix %q", s.Devices, s.KeyType, s.CAs, s.CAKeyType, s.NodeIDPrefix)
}

// LoadOrMint reuses the fleet in dir when it was minted with spec, and mints
// a new one (replacing the old) when dir holds none or one of another spec.
// A corrupt fleet is an error, not silently replaced.
func LoadOrMint(ctx context.Context, dir string, spec Spec) (*Fleet, error) {
	f, err := Load(dir)
	switch {
	case err == nil:
		if f.Matches(spec) == nil {
			return f, nil
		}
		if err := f.Close(); err != nil {
			return nil, err
		}
	case !errors.Is(err, ErrNoFleet):
		return nil, err
	}
	return Mint(ctx, dir, spec)
}

// Len is the number of devices.
func (f *Fleet) Len() int { return f.Spec.Devices }

// CAs returns the fleet's device CAs (with keys, for proof-of-possession certificates).
func (f *Fleet) CAs() []*pki.CA { return f.cas }

// CA returns device CA c.
func (f *Fleet) CA(c int) *pki.CA { return f.cas[c] }

// Device reads identity i (0 <= i < Len()).
func (f *Fleet) Device(i int) (Identity, error) {
	id, err := f.device(i)
	if err != nil {
		return Identity{}, fmt.Errorf("read fleet device %d: %w", i, err)
	}
	return id, nil
}

func (f *Fleet) device(i int) (Identity, error) {
	if i < 0 || i >= f.Spec.Devices {
		return Identity{}, fmt.Errorf("index out of range [0, %d)", f.Spec.Devices)
	}
	c, pos := i%f.Spec.CAs, i/f.Spec.CAs
	files, err := f.open(c)
	if err != nil {
		return Identity{}, err
	}
	var offs [16]byte
	if _, err := files.index.ReadAt(offs[:], int64(pos)*8); err != nil {
		return Identity{}, fmt.Errorf("%w: %s: %v", ErrCorrupt, IndexFile, err)
	}
	start, end := binary.LittleEndian.Uint64(offs[:8]), binary.LittleEndian.Uint64(offs[8:])
	if end <= start || end-start > 1<<20 {
		return Identity{}, fmt.Errorf("%w: %s: record at [%d, %d)", ErrCorrupt, IndexFile, start, end)
	}
	line := make([]byte, end-start)
	if n, err := files.devices.ReadAt(line, int64(start)); n != len(line) {
		return Identity{}, fmt.Errorf("%w: %s: short record at %d: %v", ErrCorrupt, DevicesFile, start, err)
	}
	var r record
	if err := json.Unmarshal(line, &r); err != nil {
		return Identity{}, fmt.Errorf("%w: %s: %v", ErrCorrupt, DevicesFile, err)
	}
	if r.Index != i {
		return Identity{}, fmt.Errorf("%w: record holds device %d", ErrCorrupt, r.Index)
	}
	cert, err := x509.ParseCertificate(r.Cert)
	if err != nil {
		return Identity{}, fmt.Errorf("%w: %v", ErrCorrupt, err)
	}
	key, err := pki.ParseKeyDER(r.Key)
	if err != nil {
		return Identity{}, fmt.Errorf("%w: %v", ErrCorrupt, err)
	}
	return Identity{Index: i, NodeID: r.NodeID, CAIndex: c, Leaf: &pki.Leaf{Cert: cert, Key: key},
		FingerprintSHA256: r.SHA256}, nil
}

func (f *Fleet) open(c int) (caFiles, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.files == nil {
		return caFiles{}, errors.New("fleet is closed")
	}
	if f.files[c].devices != nil {
		return f.files[c], nil
	}
	cd := filepath.Join(f.Dir, f.Info[c].Dir)
	d, err := os.Open(filepath.Join(cd, DevicesFile))
	if err != nil {
		return caFiles{}, err
	}
	x, err := os.Open(filepath.Join(cd, IndexFile))
	if err != nil {
		d.Close()
		return caFiles{}, err
	}
	f.files[c] = caFiles{devices: d, index: x}
	return f.files[c], nil
}

// All yields every identity in index order; it stops after the first error.
func (f *Fleet) All() iter.Seq2[Identity, error] {
	return f.Range(0, f.Spec.Devices)
}

// Range yields identities lo..hi-1 in order (a load-generator shard); it
// stops after the first error.
func (f *Fleet) Range(lo, hi int) iter.Seq2[Identity, error] {
	return func(yield func(Identity, error) bool) {
		for i := lo; i < hi; i++ {
			id, err := f.Device(i)
			if !yield(id, err) || err != nil {
				return
			}
		}
	}
}

// Close releases the open files. The Fleet cannot read identities afterwards.
func (f *Fleet) Close() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	var errs []error
	for _, cf := range f.files {
		for _, file := range []*os.File{cf.devices, cf.index} {
			if file != nil {
				errs = append(errs, file.Close())
			}
		}
	}
	f.files = nil
	return errors.Join(errs...)
}
