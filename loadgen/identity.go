package loadgen

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"runtime"
	"strings"

	"golang.org/x/sync/errgroup"

	"github.com/certlab/certlab/loadgen/result"
	"github.com/certlab/certlab/sim/fleet"
	"github.com/certlab/certlab/sim/pki"
)

// DefaultProductID is the product Prepare registers the fleet under.
const DefaultProductID = "certlab-loadgen"

// unregisteredPrefix starts the node ID of a BadUnregistered identity; no
// fleet node ID starts with it, so the device is never registered.
const unregisteredPrefix = "unreg-"

// Identity is one device as the load generator presents it, parsed once
// before the run so that no attempt parses a certificate or a key.
type Identity struct {
	Index     int            // fleet index
	Kind      result.BadKind // Good, or the bad identity presented
	NodeID    string
	ProductID string
	DeviceID  string          // {product_id}_{node_id} [DEV-ID]
	Cert      tls.Certificate // leaf (+ chain) and key, Leaf set
	CACert    *x509.Certificate
}

// IdentityOptions select and shape the identities of a run.
type IdentityOptions struct {
	ProductID string       // default DefaultProductID
	Devices   int          // use fleet devices 0..Devices-1; 0 = the whole fleet
	Shard     result.Shard // keep only this shard's devices
	Bad       BadPlan      // which devices present a bad identity
	Workers   int          // parallel readers; default GOMAXPROCS
}

// BuildIdentities reads this shard's devices from the fleet, parses them
// once and mints the bad identities the plan asks for (before the measured
// window, so minting costs nothing during the run).
func BuildIdentities(ctx context.Context, f *fleet.Fleet, o IdentityOptions) ([]*Identity, error) {
	if o.ProductID == "" {
		o.ProductID = DefaultProductID
	}
	n := f.Len()
	if o.Devices > 0 && o.Devices < n {
		n = o.Devices
	}
	if o.Workers <= 0 {
		o.Workers = runtime.GOMAXPROCS(0)
	}
	idx := o.Shard.Indexes(n)
	if len(idx) == 0 {
		return nil, fmt.Errorf("build identities: shard %s of %d devices is empty", o.Shard, n)
	}
	var stranger *pki.CA
	for _, i := range idx {
		if o.Bad.Kind(i) == result.BadUnknownCA {
			var err error
			// The catalogue's unknown-ca variant: issued by a CA nobody
			// uploaded. One stranger CA serves every such device.
			if stranger, err = pki.NewRootCA("certlab loadgen unknown CA (never uploaded)"); err != nil {
				return nil, fmt.Errorf("build identities: %w", err)
			}
			break
		}
	}
	out := make([]*Identity, len(idx))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(o.Workers)
	for k, i := range idx {
		if gctx.Err() != nil {
			break // g.Go blocks on the limit without watching ctx
		}
		g.Go(func() error {
			id, err := buildIdentity(f, i, o, stranger)
			if err != nil {
				return err
			}
			out[k] = id
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, fmt.Errorf("build identities: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("build identities: %w", context.Cause(ctx))
	}
	return out, nil
}

func buildIdentity(f *fleet.Fleet, i int, o IdentityOptions, stranger *pki.CA) (*Identity, error) {
	fid, err := f.Device(i)
	if err != nil {
		return nil, err
	}
	ca := f.CA(fid.CAIndex)
	id := &Identity{Index: i, Kind: o.Bad.Kind(i), NodeID: fid.NodeID, CACert: ca.Cert}
	leaf := fid.Leaf
	switch id.Kind {
	case result.BadFingerprint:
		// Same device, same (verified) CA, another key and certificate: the
		// chain verifies, the fingerprint does not match. [DEV-FINGERPRINT]
		if leaf, err = ca.NewDeviceCert(fid.NodeID); err != nil {
			return nil, fmt.Errorf("device %d: %w", i, err)
		}
	case result.BadUnregistered:
		id.NodeID = unregisteredPrefix + fid.NodeID
		if leaf, err = ca.NewDeviceCert(id.NodeID); err != nil {
			return nil, fmt.Errorf("device %d: %w", i, err)
		}
	case result.BadUnknownCA:
		if leaf, err = stranger.NewDeviceCert(fid.NodeID); err != nil {
			return nil, fmt.Errorf("device %d: %w", i, err)
		}
		id.CACert = stranger.Cert
	}
	id.ProductID, id.DeviceID = o.ProductID, fleet.DeviceID(o.ProductID, id.NodeID)
	id.Cert = leaf.TLSCertificate()
	return id, nil
}

// KeyExchange names a key-exchange preference (tls.Config.CurvePreferences).
type KeyExchange string

// Key exchanges.
const (
	KexHybrid KeyExchange = "hybrid" // X25519MLKEM768 first, then X25519, P-256: Go 1.26's default, pinned
	KexX25519 KeyExchange = "x25519"
	KexP256   KeyExchange = "p256"
)

// Curves returns the CurvePreferences of a key exchange.
func (k KeyExchange) Curves() ([]tls.CurveID, error) {
	switch k {
	case "", KexHybrid:
		return []tls.CurveID{tls.X25519MLKEM768, tls.X25519, tls.CurveP256}, nil
	case KexX25519:
		return []tls.CurveID{tls.X25519}, nil
	case KexP256:
		return []tls.CurveID{tls.CurveP256}, nil
	}
	return nil, fmt.Errorf("key exchange %q: want %s, %s or %s", k, KexHybrid, KexX25519, KexP256)
}

// ParseTLSVersion maps "1.2", "1.3" or "" (auto: 1.2 or newer) to
// (MinVersion, MaxVersion).
func ParseTLSVersion(s string) (minV, maxV uint16, err error) {
	switch strings.TrimPrefix(strings.ToLower(s), "tls") {
	case "", "auto":
		return tls.VersionTLS12, 0, nil
	case "1.2", "12":
		return tls.VersionTLS12, tls.VersionTLS12, nil
	case "1.3", "13":
		return tls.VersionTLS13, tls.VersionTLS13, nil
	}
	return 0, 0, fmt.Errorf("TLS version %q: want 1.2, 1.3 or auto", s)
}

func tlsVersionName(v uint16) string {
	switch v {
	case tls.VersionTLS12:
		return "1.2"
	case tls.VersionTLS13:
		return "1.3"
	case 0:
		return ""
	}
	return tls.VersionName(v)
}
