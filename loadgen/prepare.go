package loadgen

import (
	"context"
	"fmt"

	"github.com/certlab/certlab/iotda"
	"github.com/certlab/certlab/loadgen/result"
	"github.com/certlab/certlab/sim/fleet"
)

// Defaults of PrepareOptions.
const (
	DefaultProductName    = "certlab load generator"
	DefaultPrepareWorkers = 8
	DefaultMaxFailures    = 20
)

// PrepareOptions configure Prepare.
type PrepareOptions struct {
	ProductID   string       // default DefaultProductID
	ProductName string       // default DefaultProductName
	Devices     int          // register fleet devices 0..Devices-1; 0 = all
	Shard       result.Shard // register only this shard's devices (each pod prepares its own)
	Workers     int          // concurrent API calls; default 8
	MaxFailures int          // failed devices listed in the report; default 20
}

// Prepare registers this shard of a fleet on a target so its devices can log
// in, with fleet.Enrol (the one registration): every fleet CA uploaded and
// verified [CA-UPLOAD, CA-VERIFY], an MQTT product [PROTO-MQTT-ONLY], and each
// selected device registered as a CERTIFICATES device with its SHA-256
// fingerprint [DEV-FINGERPRINT] under device ID {product}_{node} [DEV-ID]. It
// is idempotent: anything that already exists is fine, and a device
// registered with another fingerprint (a re-minted fleet) gets its
// fingerprint reset (EnrolReport.Updated). Bad identities need no
// preparation: they are minted by BuildIdentities.
//
// A device the platform refuses is counted in the report; a CA it refuses
// is an error (no device of that CA could log in), returned with the report.
func Prepare(ctx context.Context, t *iotda.Target, f *fleet.Fleet, o PrepareOptions) (fleet.EnrolReport, error) {
	if o.ProductID == "" {
		o.ProductID = DefaultProductID
	}
	if o.ProductName == "" {
		o.ProductName = DefaultProductName
	}
	if o.Workers <= 0 {
		o.Workers = DefaultPrepareWorkers
	}
	if o.MaxFailures <= 0 {
		o.MaxFailures = DefaultMaxFailures
	}
	c, err := t.Client()
	if err != nil {
		return fleet.EnrolReport{}, fmt.Errorf("prepare: %w", err)
	}
	n := f.Len()
	if o.Devices > 0 && o.Devices < n {
		n = o.Devices
	}
	rep, err := fleet.Enrol(ctx, c, f, fleet.EnrolOptions{
		ProductID: o.ProductID, ProductName: o.ProductName, Indices: o.Shard.Indexes(n),
		ResetFingerprints: true, Concurrency: o.Workers, MaxFailures: o.MaxFailures,
	})
	if err != nil {
		return rep, fmt.Errorf("prepare: %w", err)
	}
	if err := rep.CAErrors(); err != nil {
		return rep, fmt.Errorf("prepare: %w", err)
	}
	return rep, nil
}
