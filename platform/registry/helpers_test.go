package registry

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/certlab/certlab/iotda"
	"github.com/certlab/certlab/sim/pki"
)

// testCtx returns a context bounded by the test's deadline (or 30 s).
func testCtx(t testing.TB) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// openTest opens a registry on a fresh SQLite file and closes it at cleanup.
func openTest(t testing.TB, opts Options) (*Registry, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "registry.db")
	return openAt(t, path, opts), path
}

// openAt opens the registry at path and closes it at cleanup (Close is idempotent).
func openAt(t testing.TB, path string, opts Options) *Registry {
	t.Helper()
	r, err := Open(testCtx(t), path, opts)
	if err != nil {
		t.Fatalf("Open(%s): %v", path, err)
	}
	t.Cleanup(func() {
		if err := r.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return r
}

// reopen closes r and opens the same file again.
func reopen(t testing.TB, r *Registry, path string, opts Options) *Registry {
	t.Helper()
	if err := r.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	return openAt(t, path, opts)
}

func mustProject(t testing.TB, r *Registry, name string) Project {
	t.Helper()
	p, err := r.CreateProject(testCtx(t), name)
	if err != nil {
		t.Fatalf("CreateProject(%q): %v", name, err)
	}
	return p
}

func mustProduct(t testing.TB, r *Registry, projectID, productID, protocol string) Product {
	t.Helper()
	p, err := r.CreateProduct(testCtx(t), Product{ProjectID: projectID, ID: productID, Name: "product " + productID,
		DeviceType: "sensor", ProtocolType: protocol})
	if err != nil {
		t.Fatalf("CreateProduct(%q): %v", productID, err)
	}
	return p
}

func mustDevice(t testing.TB, r *Registry, projectID string, nd NewDevice) Device {
	t.Helper()
	d, err := r.CreateDevice(testCtx(t), projectID, nd)
	if err != nil {
		t.Fatalf("CreateDevice(%+v): %v", nd, err)
	}
	return d
}

func mustRootCA(t testing.TB, cn string, opts ...pki.Option) *pki.CA {
	t.Helper()
	ca, err := pki.NewRootCA(cn, opts...)
	if err != nil {
		t.Fatalf("NewRootCA(%q): %v", cn, err)
	}
	return ca
}

func caPEM(ca *pki.CA) string { return string(pki.CertPEM(ca.Cert)) }

func mustAddCA(t testing.TB, r *Registry, projectID string, ca *pki.CA) CA {
	t.Helper()
	rec, err := r.AddCA(testCtx(t), projectID, "", caPEM(ca))
	if err != nil {
		t.Fatalf("AddCA(%s): %v", ca.Cert.Subject.CommonName, err)
	}
	return rec
}

// mustVerify proves possession of ca's key for rec.
func mustVerify(t testing.TB, r *Registry, rec CA, ca *pki.CA) {
	t.Helper()
	leaf, err := ca.NewVerificationCert(rec.VerifyCode)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.VerifyCA(testCtx(t), rec.ProjectID, rec.ID, string(leaf.CertPEM())); err != nil {
		t.Fatalf("VerifyCA(%s): %v", rec.ID, err)
	}
}

// requireErr fails unless err wraps want and its message contains substr.
func requireErr(t testing.TB, err, want error, substr string) {
	t.Helper()
	if err == nil {
		t.Fatalf("err = nil, want %v containing %q", want, substr)
	}
	if !errors.Is(err, want) {
		t.Fatalf("err = %v, want errors.Is(err, %v)", err, want)
	}
	if !strings.Contains(err.Error(), substr) {
		t.Fatalf("err = %q, want it to contain %q", err, substr)
	}
}

// clock is an injectable, settable time source.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock(t time.Time) *clock { return &clock{t: t} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Set(t time.Time) {
	c.mu.Lock()
	c.t = t
	c.mu.Unlock()
}

// eventLog records registry events.
type eventLog struct {
	mu sync.Mutex
	ev []Event
}

func (l *eventLog) add(e Event) {
	l.mu.Lock()
	l.ev = append(l.ev, e)
	l.mu.Unlock()
}

// take returns and clears the recorded events.
func (l *eventLog) take() []Event {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := l.ev
	l.ev = nil
	return out
}

func certDevice(productID, nodeID string) NewDevice {
	return NewDevice{NodeID: nodeID, ProductID: productID, AuthType: iotda.AuthCertificates}
}

func fmtEvents(ev []Event) string {
	var b strings.Builder
	for _, e := range ev {
		fmt.Fprintf(&b, "{%d ca=%s dev=%s force=%v}", e.Kind, e.CAID, e.DeviceID, e.Force)
	}
	return b.String()
}
