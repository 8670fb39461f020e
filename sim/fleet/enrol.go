package fleet

// enrol.go: registering a fleet on a platform through its REST API (the one
// implementation, used by `certlab sim` and, through loadgen.Prepare, by the
// load generator): upload and verify the fleet's device CAs, create the MQTT
// product, register every device (or the selected ones) as a CERTIFICATES
// device bound to its SHA-256 fingerprint. Re-running it on the same fleet and
// platform changes nothing and reports the existing registrations; with
// ResetFingerprints it also re-binds devices of a fleet re-minted in place.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/certlab/certlab/iotda"
	"github.com/certlab/certlab/sim/pki"
)

// ErrTargetUnreachable means the platform's API answered none of a run of
// consecutive requests (connection refused, TLS failure, timeout): a harness
// fault that aborts Enrol.
var ErrTargetUnreachable = errors.New("target unreachable")

// Defaults of EnrolOptions.
const (
	DefaultEnrolConcurrency = 16
	// unreachableAfter consecutive transport failures with no API answer in
	// between abort Enrol.
	unreachableAfter = 32
	// maxListPages bounds the certificate listing that finds an uploaded CA
	// (100 CAs at 50 a page is 2 pages).
	maxListPages = 20
)

// Error keys of EnrolReport.Failed besides IoTDA error codes.
const (
	// FailTransport counts requests that got no HTTP answer.
	FailTransport = "transport"
	// FailOtherFingerprint counts devices that already exist with another
	// certificate fingerprint (another fleet registered the same device ID)
	// when EnrolOptions.ResetFingerprints is off.
	FailOtherFingerprint = "exists_other_fingerprint"
)

// SensorServiceID is the service of the fleet's product; devices report
// their properties under it.
const SensorServiceID = "Sensor"

// DefaultProductID is the product a fleet's devices are registered under
// unless the caller names one: "certlab-fleet-" + the fleet ID. Node IDs
// repeat per index across fleets, so a product per fleet keeps two fleets'
// device IDs apart on one platform.
func DefaultProductID(f *Fleet) string { return "certlab-fleet-" + f.ID }

// DeviceID is IoTDA's device_id of a node: product_id + "_" + node_id. [DEV-ID]
func DeviceID(productID, nodeID string) string { return productID + "_" + nodeID }

// DeviceID returns the device_id of device i under productID, without
// reading the identity from disk.
func (f *Fleet) DeviceID(productID string, i int) string {
	return DeviceID(productID, NodeID(f.Spec.NodeIDPrefix, i))
}

// EnrolOptions tune Enrol.
type EnrolOptions struct {
	// ProductID is the MQTT product the devices are registered under;
	// default DefaultProductID(f). It is created when missing.
	ProductID string
	// ProductName is the name of the product when Enrol creates it;
	// default ProductID.
	ProductName string
	// Indices selects the devices to register by fleet index (each in
	// 0..f.Len()-1; e.g. one shard of the fleet); nil registers every device.
	Indices []int
	// ResetFingerprints re-binds a device that already exists with another
	// fingerprint (a fleet re-minted in place): its primary fingerprint is
	// reset to the fleet's, with force_disconnect, and it counts as Updated.
	// Off, such a device is a failure (FailOtherFingerprint).
	ResetFingerprints bool
	// Concurrency is the number of device registrations in flight; default 16.
	Concurrency int
	// MaxFailures is how many failed devices EnrolReport.Failures lists
	// (the first ones); default 0: none, the counts in Failed remain.
	MaxFailures int
	// OnProgress, if set, is called after each device with the number of
	// devices done and the total. Calls are serialised.
	OnProgress func(done, total int)
}

func (o EnrolOptions) withDefaults(f *Fleet) EnrolOptions {
	if o.ProductID == "" {
		o.ProductID = DefaultProductID(f)
	}
	if o.ProductName == "" {
		o.ProductName = o.ProductID
	}
	if o.Concurrency <= 0 {
		o.Concurrency = DefaultEnrolConcurrency
	}
	return o
}

// CAEnrolment is what Enrol did with one of the fleet's device CAs.
type CAEnrolment struct {
	Index         int    `json:"index"`
	CertificateID string `json:"certificate_id,omitempty"`
	Uploaded      bool   `json:"uploaded"` // false: it was already in the project
	Verified      bool   `json:"verified"` // status is true (verified now or before)
	Error         string `json:"error,omitempty"`
}

// EnrolReport is the result of Enrol. A device's failure is counted here,
// by error code, and does not stop the others.
type EnrolReport struct {
	ProductID      string        `json:"product_id"`
	ProductCreated bool          `json:"product_created"`
	CAs            []CAEnrolment `json:"cas"`
	Devices        int           `json:"devices"`           // registrations attempted
	Registered     int           `json:"registered"`        // newly registered
	Existing       int           `json:"existing"`          // already registered with the same fingerprint
	Updated        int           `json:"updated,omitempty"` // already registered; fingerprint reset to the fleet's
	// Failed counts devices by IoTDA error code ("IOTDA.014031" ...),
	// "HTTP <status>" for an error without a code, FailTransport or
	// FailOtherFingerprint; FailureSamples keeps the first message of each.
	Failed         map[string]int    `json:"failed,omitempty"`
	FailureSamples map[string]string `json:"failure_samples,omitempty"`
	// Failures lists the first EnrolOptions.MaxFailures failed devices.
	Failures []DeviceFailure `json:"failures,omitempty"`
	Elapsed  time.Duration   `json:"elapsed_ns"`
}

// DeviceFailure is a device whose registration failed.
type DeviceFailure struct {
	Index  int    `json:"index"`
	NodeID string `json:"node_id,omitempty"`
	Error  string `json:"error"`
}

// Enrolled is the number of devices registered now or before (re-bound
// ones included): those that can log in with the fleet's certificates.
func (r EnrolReport) Enrolled() int { return r.Registered + r.Existing + r.Updated }

// FailedDevices is the number of devices that could not be registered.
func (r EnrolReport) FailedDevices() int {
	n := 0
	for _, c := range r.Failed {
		n += c
	}
	return n
}

// CAErrors returns the errors of the fleet's CAs that the platform refused
// (upload or verification), nil when every CA can authenticate devices.
func (r EnrolReport) CAErrors() error {
	var errs []error
	for _, c := range r.CAs {
		if c.Error != "" {
			errs = append(errs, fmt.Errorf("CA %d: %s", c.Index, c.Error))
		}
	}
	return errors.Join(errs...)
}

// VerifiedCAs is the number of the fleet's CAs that can authenticate devices.
func (r EnrolReport) VerifiedCAs() int {
	n := 0
	for _, c := range r.CAs {
		if c.Verified {
			n++
		}
	}
	return n
}

// Enrol registers fleet f on the platform behind client:
//
//  1. the MQTT product opts.ProductID is created (an existing one is reused
//     if its protocol is MQTT [PROTO-MQTT-ONLY]);
//  2. each device CA is uploaded [CA-UPLOAD] (one already in the project,
//     IOTDA.014303 [CA-DUPLICATE], is found with ListCertificates and reused)
//     and, unless verified already, verified with a proof-of-possession
//     certificate for its verify_code signed by the CA's key [CA-VERIFY];
//  3. every device (opts.Indices, when set) is registered as a CERTIFICATES
//     device with device_id product_id_node_id and its SHA-256 fingerprint
//     [DEV-ID] [DEV-FINGERPRINT]; one that already exists with the same
//     fingerprint counts as Existing, one with another fingerprint is reset
//     to the fleet's with opts.ResetFingerprints (Updated) or fails
//     (FailOtherFingerprint).
//
// "Already exists" is IoTDA's code where certlab defines one, or an error
// message saying "already exist" (other platforms).
//
// A CA or device refused by the API is a result in the report. Enrol
// returns an error (with the report so far) only for harness faults: ctx
// ended, an index of opts.Indices is out of range, the fleet's files cannot
// be read, the product can be neither created nor read, or the API answers
// none of a run of consecutive requests (ErrTargetUnreachable).
func Enrol(ctx context.Context, client *iotda.Client, f *Fleet, opts EnrolOptions) (EnrolReport, error) {
	opts = opts.withDefaults(f)
	start := time.Now()
	indices := opts.Indices
	if indices == nil {
		indices = make([]int, f.Len())
		for i := range indices {
			indices[i] = i
		}
	}
	for _, i := range indices {
		if i < 0 || i >= f.Len() {
			return EnrolReport{ProductID: opts.ProductID}, fmt.Errorf("enrol fleet %s: device index %d out of range 0..%d", f.ID, i, f.Len()-1)
		}
	}
	rep := EnrolReport{ProductID: opts.ProductID, Devices: len(indices)}
	e := &enroller{c: client, f: f, opts: opts, indices: indices, rep: &rep}
	err := e.run(ctx)
	rep.Elapsed = time.Since(start)
	if err != nil {
		return rep, fmt.Errorf("enrol fleet %s: %w", f.ID, err)
	}
	return rep, nil
}

type enroller struct {
	c       *iotda.Client
	f       *Fleet
	opts    EnrolOptions
	indices []int
	rep     *EnrolReport

	mu        sync.Mutex // guards rep's device counts and progress calls
	done      int
	transport atomic.Int32 // consecutive transport failures
	listed    []iotda.CACert
}

func (e *enroller) run(ctx context.Context) error {
	created, err := e.ensureProduct(ctx)
	if err != nil {
		return err
	}
	e.rep.ProductCreated = created
	for c := range e.f.CAs() {
		res, err := e.enrolCA(ctx, c)
		if err != nil {
			return err
		}
		e.rep.CAs = append(e.rep.CAs, res)
	}
	return e.registerDevices(ctx)
}

// harnessFault returns the fault when err means the harness failed rather
// than the platform judged: ctx ended, or no HTTP answer came back
// (ErrTargetUnreachable). It returns nil for an API error.
func harnessFault(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return context.Cause(ctx)
	}
	if _, isAPI := errors.AsType[*iotda.APIError](err); !isAPI {
		return fmt.Errorf("%w: %w", ErrTargetUnreachable, err)
	}
	return nil
}

// exists reports an "already exists" answer: certlab's code, or the text
// of another platform's answer.
func exists(err error, code string) bool {
	if iotda.IsCode(err, code) {
		return true
	}
	ae, ok := errors.AsType[*iotda.APIError](err)
	return ok && strings.Contains(strings.ToLower(ae.ErrorMsg), "already exist")
}

// errorKey names an API error for the report.
func errorKey(err error) string {
	ae, ok := errors.AsType[*iotda.APIError](err)
	switch {
	case !ok:
		return FailTransport
	case ae.ErrorCode != "":
		return ae.ErrorCode
	default:
		return fmt.Sprintf("HTTP %d", ae.StatusCode)
	}
}

// sensorCapabilities is the product model: one Sensor service whose
// properties the well-behaved device reports.
var sensorCapabilities = json.RawMessage(`[{"service_id":"` + SensorServiceID + `","service_type":"` + SensorServiceID + `","properties":[` +
	`{"property_name":"seq","data_type":"long","required":false,"method":"R"},` +
	`{"property_name":"temperature","data_type":"decimal","required":false,"method":"R","unit":"Cel"},` +
	`{"property_name":"humidity","data_type":"int","required":false,"method":"R","unit":"%"},` +
	`{"property_name":"battery","data_type":"int","required":false,"method":"R","unit":"%"}` +
	`],"commands":[]}]`)

// ensureProduct creates the product or reuses an existing MQTT one.
func (e *enroller) ensureProduct(ctx context.Context) (created bool, err error) {
	id := e.opts.ProductID
	desc := "certlab fleet " + e.f.ID
	_, cerr := e.c.CreateProduct(ctx, iotda.AddProduct{
		ProductID: &id, Name: e.opts.ProductName, DeviceType: SensorServiceID, ProtocolType: iotda.ProtocolMQTT,
		DataFormat: "json", ServiceCapabilities: sensorCapabilities, Description: &desc,
	})
	if cerr == nil {
		return true, nil
	}
	if fault := harnessFault(ctx, cerr); fault != nil {
		return false, fmt.Errorf("create product %s: %w", id, fault)
	}
	// Any API refusal: the product may exist (IOTDA.014310 on the reference
	// platform; real IoTDA's code is undocumented). Reuse it if it does.
	p, serr := e.c.ShowProduct(ctx, id)
	if serr != nil {
		return false, fmt.Errorf("create product %s: %w (and show product: %w)", id, cerr, serr)
	}
	if !strings.EqualFold(p.ProtocolType, iotda.ProtocolMQTT) { // [PROTO-MQTT-ONLY]
		return false, fmt.Errorf("product %s exists with protocol %s: certificate devices need an MQTT product", id, p.ProtocolType)
	}
	return false, nil
}

// enrolCA uploads and verifies device CA c. API refusals are results.
func (e *enroller) enrolCA(ctx context.Context, c int) (CAEnrolment, error) {
	ca := e.f.CA(c)
	res := CAEnrolment{Index: c}
	cert, err := e.c.AddCertificate(ctx, iotda.CreateCertificateDto{Content: string(pki.CertPEM(ca.Cert))})
	switch {
	case err == nil:
		res.Uploaded = true
	case exists(err, iotda.CodeCAExists): // [CA-DUPLICATE]
		cert, err = e.findCA(ctx, ca)
		if err != nil {
			if fault := harnessFault(ctx, err); fault != nil {
				return res, fmt.Errorf("find uploaded CA %d: %w", c, fault)
			}
			res.Error = fmt.Sprintf("find uploaded CA: %v", err)
			return res, nil
		}
	default:
		if fault := harnessFault(ctx, err); fault != nil {
			return res, fmt.Errorf("upload CA %d: %w", c, fault)
		}
		res.Error = fmt.Sprintf("upload: %v", err)
		return res, nil
	}
	res.CertificateID = cert.CertificateID
	if cert.Status {
		res.Verified = true
		return res, nil
	}
	// [CA-VERIFY] proof of possession: CN = verify_code, signed by the CA key.
	leaf, err := ca.NewVerificationCert(cert.VerifyCode)
	if err != nil {
		return res, fmt.Errorf("verify CA %d: %w", c, err)
	}
	err = e.c.CheckCertificate(ctx, cert.CertificateID, iotda.VerifyCertificateDto{VerifyContent: string(leaf.CertPEM())})
	if err != nil {
		if fault := harnessFault(ctx, err); fault != nil {
			return res, fmt.Errorf("verify CA %d: %w", c, fault)
		}
		// Another enrolment (a loadgen shard) may have verified it meanwhile.
		if again, serr := e.c.ShowCertificate(ctx, cert.CertificateID); serr == nil && again.Status {
			res.Verified = true
			return res, nil
		}
		res.Error = fmt.Sprintf("verify: %v", err)
		return res, nil
	}
	res.Verified = true
	return res, nil
}

// findCA finds ca among the project's uploaded CAs: by CN in the listing
// (read once; an entry without a CN is a candidate too), then by content
// when the platform shows it.
func (e *enroller) findCA(ctx context.Context, ca *pki.CA) (*iotda.CACert, error) {
	if e.listed == nil {
		var marker string
		for range maxListPages {
			page, err := e.c.ListCertificates(ctx, iotda.ListOptions{Limit: 50, Marker: marker})
			if err != nil {
				return nil, err
			}
			e.listed = append(e.listed, page.Certificates...)
			if len(page.Certificates) == 0 || page.Page.Marker == "" || page.Page.Marker == marker {
				break
			}
			marker = page.Page.Marker
		}
	}
	want := pki.FingerprintSHA256(ca.Cert)
	for _, cand := range e.listed {
		if cand.CnName != "" && cand.CnName != ca.Cert.Subject.CommonName {
			continue
		}
		shown, err := e.c.ShowCertificate(ctx, cand.CertificateID)
		if err != nil {
			return nil, err
		}
		if shown.Content != "" {
			certs, perr := pki.ParseCertsPEM([]byte(shown.Content))
			if perr != nil || pki.FingerprintSHA256(certs[0]) != want {
				continue // same CN, another certificate
			}
		} else if cand.CnName == "" {
			continue // neither CN nor content says it is this CA
		}
		if shown.VerifyCode == "" {
			shown.VerifyCode = cand.VerifyCode
		}
		return shown, nil
	}
	return nil, fmt.Errorf("the platform says CA %q is uploaded but no listed certificate matches it", ca.Cert.Subject.CommonName)
}

// registerDevices registers the selected devices, Concurrency at a time.
func (e *enroller) registerDevices(ctx context.Context) error {
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(e.opts.Concurrency)
	for _, i := range e.indices {
		if gctx.Err() != nil {
			break // g.Go blocks on the limit without watching ctx
		}
		g.Go(func() error { return e.registerDevice(gctx, i) })
	}
	if err := g.Wait(); err != nil {
		return err
	}
	if ctx.Err() != nil {
		return context.Cause(ctx)
	}
	return nil
}

// regState is what became of one device.
type regState int

const (
	regNew      regState = iota // registered now
	regExisting                 // registered before with the fleet's fingerprint
	regUpdated                  // registered before; fingerprint reset to the fleet's
)

// registerDevice registers device i. It returns an error only for a harness fault.
func (e *enroller) registerDevice(ctx context.Context, i int) error {
	id, err := e.f.Device(i)
	if err != nil {
		return err // the fleet's files cannot be read: a harness fault
	}
	st, err := e.addDevice(ctx, id)
	return e.record(ctx, i, id.NodeID, err, st)
}

// addDevice registers one identity, or finds (and with ResetFingerprints
// re-binds) its existing registration.
func (e *enroller) addDevice(ctx context.Context, id Identity) (regState, error) {
	deviceID := DeviceID(e.opts.ProductID, id.NodeID)
	authType, fp, secure := iotda.AuthCertificates, id.FingerprintSHA256, true
	name := id.NodeID
	_, err := e.c.AddDevice(ctx, iotda.AddDevice{
		DeviceID: &deviceID, NodeID: id.NodeID, DeviceName: &name, ProductID: e.opts.ProductID,
		AuthInfo: &iotda.AuthInfo{AuthType: &authType, Fingerprint: &fp, SecureAccess: &secure},
	})
	if err == nil {
		return regNew, nil
	}
	if !exists(err, iotda.CodeDeviceExists) {
		return regNew, err
	}
	// A re-run: fine if it is this device, bound to this certificate.
	d, serr := e.c.ShowDevice(ctx, deviceID)
	switch {
	case serr != nil:
		return regNew, errors.Join(err, serr)
	case strings.EqualFold(d.AuthInfo.Fingerprint, fp) || strings.EqualFold(d.AuthInfo.SecondaryFingerprint, fp):
		return regExisting, nil
	case !e.opts.ResetFingerprints:
		return regNew, fmt.Errorf("%w: device %s is registered with fingerprint %s, the fleet's certificate has %s",
			errOtherFingerprint, deviceID, d.AuthInfo.Fingerprint, fp)
	}
	// [DEV-FINGERPRINT] re-bind to the fleet's certificate; live sessions of
	// the old certificate end.
	typ, force := iotda.FingerprintPrimary, true
	if _, err := e.c.ResetFingerprint(ctx, deviceID, iotda.ResetFingerprint{Fingerprint: &fp, FingerprintType: &typ, ForceDisconnect: &force}); err != nil {
		return regNew, fmt.Errorf("reset fingerprint of %s: %w", deviceID, err)
	}
	return regUpdated, nil
}

var errOtherFingerprint = errors.New(FailOtherFingerprint)

// record counts one device's outcome and reports progress.
func (e *enroller) record(ctx context.Context, i int, nodeID string, err error, st regState) error {
	if ctx.Err() != nil {
		return context.Cause(ctx)
	}
	key := ""
	switch {
	case err == nil:
		e.transport.Store(0)
	case errors.Is(err, errOtherFingerprint):
		e.transport.Store(0)
		key = FailOtherFingerprint
	default:
		key = errorKey(err)
		if key != FailTransport {
			e.transport.Store(0)
		} else if n := e.transport.Add(1); n >= unreachableAfter {
			return fmt.Errorf("%w: %d consecutive requests got no answer, the last: %w", ErrTargetUnreachable, n, err)
		}
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	switch {
	case key != "":
		if e.rep.Failed == nil {
			e.rep.Failed, e.rep.FailureSamples = map[string]int{}, map[string]string{}
		}
		if e.rep.Failed[key] == 0 {
			e.rep.FailureSamples[key] = err.Error()
		}
		e.rep.Failed[key]++
		if len(e.rep.Failures) < e.opts.MaxFailures {
			e.rep.Failures = append(e.rep.Failures, DeviceFailure{Index: i, NodeID: nodeID, Error: err.Error()})
		}
	case st == regExisting:
		e.rep.Existing++
	case st == regUpdated:
		e.rep.Updated++
	default:
		e.rep.Registered++
	}
	e.done++
	if e.opts.OnProgress != nil {
		e.opts.OnProgress(e.done, e.rep.Devices)
	}
	return nil
}
