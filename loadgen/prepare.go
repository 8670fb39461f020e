package loadgen

import (
	"bytes"
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/certlab/certlab/iotda"
	"github.com/certlab/certlab/sim/fleet"
	"github.com/certlab/certlab/sim/pki"
)

// PrepareOptions configure Prepare.
type PrepareOptions struct {
	ProductID   string // default DefaultProductID
	ProductName string // default "certlab load generator"
	Devices     int    // register fleet devices 0..Devices-1; 0 = all
	Shard       Shard  // register only this shard's devices (each pod prepares its own)
	Workers     int    // concurrent API calls; default 8
	MaxFailures int    // failures kept in the result; default 20
}

// PrepareResult says what Prepare did. A device that could not be
// registered is counted here, not returned as an error.
type PrepareResult struct {
	ProductID  string
	CAs        []PreparedCA
	Registered int // newly registered devices
	Existing   int // already registered with the right fingerprint
	Updated    int // already registered; fingerprint reset to the fleet's
	Failed     int
	Failures   []DeviceFailure // the first MaxFailures
	Elapsed    time.Duration
}

// PreparedCA is one fleet CA on the target.
type PreparedCA struct {
	Index         int
	CertificateID string
	Uploaded      bool // false: it was already there
	Verified      bool // proof of possession done by this call
}

// DeviceFailure is a device whose registration failed.
type DeviceFailure struct {
	Index  int
	NodeID string
	Err    string
}

// Prepare registers a fleet on a target so its devices can log in: every
// fleet CA uploaded and verified (proof of possession) [CA-UPLOAD, CA-VERIFY],
// an MQTT product [PROTO-MQTT-ONLY], and each device of the shard registered
// as a CERTIFICATES device with its SHA-256 fingerprint [DEV-FINGERPRINT],
// under device ID {product}_{node} [DEV-ID]. It is idempotent: anything that
// already exists is fine, and a device registered with another fingerprint
// (a re-minted fleet) gets its fingerprint reset. Bad identities need no
// preparation: they are minted by BuildIdentities.
func Prepare(ctx context.Context, t *iotda.Target, f *fleet.Fleet, o PrepareOptions) (*PrepareResult, error) {
	began := time.Now()
	if o.ProductID == "" {
		o.ProductID = DefaultProductID
	}
	if o.ProductName == "" {
		o.ProductName = "certlab load generator"
	}
	if o.Workers <= 0 {
		o.Workers = 8
	}
	if o.MaxFailures <= 0 {
		o.MaxFailures = 20
	}
	c, err := t.Client()
	if err != nil {
		return nil, fmt.Errorf("prepare: %w", err)
	}
	res := &PrepareResult{ProductID: o.ProductID}
	for i, ca := range f.CAs() {
		pc, err := prepareCA(ctx, c, ca)
		if err != nil {
			return nil, fmt.Errorf("prepare: CA %d: %w", i, err)
		}
		pc.Index = i
		res.CAs = append(res.CAs, pc)
	}
	if err := prepareProduct(ctx, c, o); err != nil {
		return nil, fmt.Errorf("prepare: %w", err)
	}

	n := f.Len()
	if o.Devices > 0 && o.Devices < n {
		n = o.Devices
	}
	var mu sync.Mutex
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(o.Workers)
	for _, i := range o.Shard.Indexes(n) {
		if gctx.Err() != nil {
			break // g.Go blocks on the limit without watching ctx
		}
		g.Go(func() error {
			st, nodeID, err := registerDevice(gctx, c, f, i, o.ProductID)
			if err != nil && gctx.Err() != nil {
				return context.Cause(gctx) // cancelled: a harness stop, not a device failure
			}
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err != nil:
				res.Failed++
				if len(res.Failures) < o.MaxFailures {
					res.Failures = append(res.Failures, DeviceFailure{Index: i, NodeID: nodeID, Err: err.Error()})
				}
			case st == regNew:
				res.Registered++
			case st == regUpdated:
				res.Updated++
			default:
				res.Existing++
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return res, fmt.Errorf("prepare: %w", err)
	}
	res.Elapsed = time.Since(began)
	return res, nil
}

// exists reports an "already exists" answer (certlab's codes, or the text
// of another platform's).
func exists(err error, code string) bool {
	if iotda.IsCode(err, code) {
		return true
	}
	var ae *iotda.APIError
	return errors.As(err, &ae) && strings.Contains(strings.ToLower(ae.ErrorMsg), "already exist")
}

func prepareCA(ctx context.Context, c *iotda.Client, ca *pki.CA) (PreparedCA, error) {
	var pc PreparedCA
	cert, err := c.AddCertificate(ctx, iotda.CreateCertificateDto{Content: string(pki.CertPEM(ca.Cert))})
	switch {
	case err == nil:
		pc.Uploaded = true
	case exists(err, iotda.CodeCAExists): // [CA-DUPLICATE]: a re-run
		if cert, err = findCA(ctx, c, ca.Cert); err != nil {
			return pc, err
		}
	default:
		return pc, fmt.Errorf("upload: %w", err)
	}
	pc.CertificateID = cert.CertificateID
	if cert.Status {
		return pc, nil
	}
	vc, err := ca.NewVerificationCert(cert.VerifyCode) // [CA-VERIFY]
	if err != nil {
		return pc, err
	}
	if err := c.CheckCertificate(ctx, cert.CertificateID, iotda.VerifyCertificateDto{VerifyContent: string(vc.CertPEM())}); err != nil {
		// Another shard may have verified it meanwhile.
		if again, serr := c.ShowCertificate(ctx, cert.CertificateID); serr == nil && again.Status {
			return pc, nil
		}
		return pc, fmt.Errorf("verify: %w", err)
	}
	pc.Verified = true
	return pc, nil
}

// findCA finds an uploaded CA by its content.
func findCA(ctx context.Context, c *iotda.Client, want *x509.Certificate) (*iotda.CACert, error) {
	marker := ""
	for page := 0; page < 10; page++ {
		list, err := c.ListCertificates(ctx, iotda.ListOptions{Limit: 50, Marker: marker})
		if err != nil {
			return nil, fmt.Errorf("list certificates: %w", err)
		}
		for _, cc := range list.Certificates {
			if cc.CnName != "" && cc.CnName != want.Subject.CommonName {
				continue
			}
			full, err := c.ShowCertificate(ctx, cc.CertificateID)
			if err != nil {
				return nil, fmt.Errorf("show certificate: %w", err)
			}
			certs, err := pki.ParseCertsPEM([]byte(full.Content))
			if err == nil && bytes.Equal(certs[0].Raw, want.Raw) {
				if full.VerifyCode == "" {
					full.VerifyCode = cc.VerifyCode
				}
				return full, nil
			}
		}
		if len(list.Certificates) < 50 || list.Page.Marker == "" || list.Page.Marker == marker {
			break
		}
		marker = list.Page.Marker
	}
	return nil, fmt.Errorf("CA %q is reported as uploaded but not listed", want.Subject.CommonName)
}

func prepareProduct(ctx context.Context, c *iotda.Client, o PrepareOptions) error {
	id := o.ProductID
	_, err := c.CreateProduct(ctx, iotda.AddProduct{
		ProductID:    &id,
		Name:         o.ProductName,
		DeviceType:   "loadgen",
		ProtocolType: iotda.ProtocolMQTT, // [PROTO-MQTT-ONLY]
		DataFormat:   "json",
	})
	if err == nil {
		return nil
	}
	if !exists(err, iotda.CodeProductExists) {
		return fmt.Errorf("create product: %w", err)
	}
	p, err := c.ShowProduct(ctx, id)
	if err != nil {
		return fmt.Errorf("show product: %w", err)
	}
	if !strings.EqualFold(p.ProtocolType, iotda.ProtocolMQTT) {
		return fmt.Errorf("product %s exists with protocol %s; certificate devices need MQTT [PROTO-MQTT-ONLY]", id, p.ProtocolType)
	}
	return nil
}

type regState int

const (
	regNew regState = iota
	regExisting
	regUpdated
)

func registerDevice(ctx context.Context, c *iotda.Client, f *fleet.Fleet, i int, productID string) (regState, string, error) {
	fid, err := f.Device(i)
	if err != nil {
		return 0, "", err
	}
	deviceID := DeviceID(productID, fid.NodeID)
	auth, fp, secure := iotda.AuthCertificates, fid.FingerprintSHA256, true
	_, err = c.AddDevice(ctx, iotda.AddDevice{
		DeviceID:  &deviceID,
		NodeID:    fid.NodeID,
		ProductID: productID,
		AuthInfo:  &iotda.AuthInfo{AuthType: &auth, Fingerprint: &fp, SecureAccess: &secure},
	})
	if err == nil {
		return regNew, fid.NodeID, nil
	}
	if !exists(err, iotda.CodeDeviceExists) {
		return 0, fid.NodeID, fmt.Errorf("add device: %w", err)
	}
	d, err := c.ShowDevice(ctx, deviceID)
	if err != nil {
		return 0, fid.NodeID, fmt.Errorf("show device: %w", err)
	}
	if strings.EqualFold(d.AuthInfo.Fingerprint, fp) {
		return regExisting, fid.NodeID, nil
	}
	typ, force := iotda.FingerprintPrimary, true
	if _, err := c.ResetFingerprint(ctx, deviceID, iotda.ResetFingerprint{Fingerprint: &fp, FingerprintType: &typ, ForceDisconnect: &force}); err != nil {
		return 0, fid.NodeID, fmt.Errorf("reset fingerprint: %w", err)
	}
	return regUpdated, fid.NodeID, nil
}
