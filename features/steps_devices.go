package features

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/cucumber/godog"

	"github.com/certlab/certlab/iotda"
	"github.com/certlab/certlab/sim/pki"
)

// serviceCapabilities is the device model of every product the suite creates.
var serviceCapabilities = json.RawMessage(`[{"service_id":"meter","service_type":"meter","properties":[` +
	`{"property_name":"reading","data_type":"int","required":false,"method":"R"},` +
	`{"property_name":"alive","data_type":"int","required":false,"method":"R"}]}]`)

func (w *world) deviceSteps(sc *godog.ScenarioContext) {
	sc.Step(`^an MQTT product$`, func(ctx context.Context) error { return w.aProduct(ctx, iotda.ProtocolMQTT) })
	sc.Step(`^a product with protocol_type "([^"]*)"$`, w.aProduct)

	sc.Step(`^a registered device "([^"]*)" with a certificate from CA "([^"]*)"$`, func(ctx context.Context, name, ca string) error {
		return w.aRegisteredCertDevice(ctx, name, name, ca, pki.VariantValid)
	})
	sc.Step(`^a registered device "([^"]*)" with node_id "([^"]*)" and a certificate from CA "([^"]*)"$`, func(ctx context.Context, name, node, ca string) error {
		return w.aRegisteredCertDevice(ctx, name, node, ca, pki.VariantValid)
	})
	sc.Step(`^a registered device "([^"]*)" with a "([^"]*)" certificate from CA "([^"]*)"$`, func(ctx context.Context, name, variant, ca string) error {
		v, err := pki.ParseVariant(variant)
		if err != nil {
			return err
		}
		return w.aRegisteredCertDevice(ctx, name, name, ca, v)
	})
	sc.Step(`^a registered device "([^"]*)" with node_id "([^"]*)"$`, w.aRegisteredDeviceWithNode)
	sc.Step(`^device "([^"]*)" holds a certificate from CA "([^"]*)"$`, w.deviceHoldsCert)
	sc.Step(`^device "([^"]*)" also holds a certificate "([^"]*)" from CA "([^"]*)"$`, w.deviceAlsoHolds)
	sc.Step(`^device "([^"]*)" is registered without a fingerprint$`, w.registeredWithoutFingerprint)
	sc.Step(`^I register device "([^"]*)" with the (SHA-1|SHA-256) fingerprint of its certificate in (lower|upper) case$`, w.iRegisterWithAlgorithm)
	sc.Step(`^I register device "([^"]*)" with fingerprint "([^"]*)"$`, w.iRegisterWithFingerprint)

	sc.Step(`^I register a device with node_id "([^"]*)"$`, func(ctx context.Context, node string) error {
		return w.iRegister(ctx, iotda.AddDevice{NodeID: node})
	})
	sc.Step(`^I register a device with node_id "([^"]*)" and a device_id of my choice$`, func(ctx context.Context, node string) error {
		w.chosenID = w.unique("bdd-chosen-")
		return w.iRegister(ctx, iotda.AddDevice{NodeID: node, DeviceID: &w.chosenID})
	})
	sc.Step(`^I register a device with node_id "([^"]*)" and the device_id of "([^"]*)"$`, func(ctx context.Context, node, other string) error {
		d, err := w.registered(other)
		if err != nil {
			return err
		}
		id := d.id
		return w.iRegister(ctx, iotda.AddDevice{NodeID: node, DeviceID: &id})
	})
	sc.Step(`^I register a (CERTIFICATES|SECRET) device with node_id "([^"]*)"$`, w.iRegisterAuthType)
	sc.Step(`^the device_id is the one I chose$`, func() error { return w.deviceIDIs(w.chosenID) })
	sc.Step(`^the device_id is the product_id, an underscore and "([^"]*)"$`, func(node string) error {
		if w.product == nil {
			return errors.New("no product")
		}
		return w.deviceIDIs(w.product.id + "_" + node)
	})
	sc.Step(`^the device shows node_id "([^"]*)"$`, w.deviceShowsNodeID)
	sc.Step(`^the device shows auth_type "([^"]*)"$`, w.deviceShowsAuthType)
	sc.Step(`^(\d+) clients register a device with node_id "([^"]*)" at the same time$`, w.concurrentRegistrations)
	sc.Step(`^exactly (\d+) registrations? succeeds? and (\d+) (?:is|are) refused with error code "([^"]*)"$`, w.exactlyRegistrations)
	sc.Step(`^the product lists (\d+) devices? with node_id "([^"]*)"$`, w.productListsNode)

	sc.Step(`^I set the (PRIMARY|SECONDARY) fingerprint of device "([^"]*)" to that of its certificate "([^"]*)"$`, w.iSetFingerprint)
	sc.Step(`^device "([^"]*)" shows the fingerprint of its certificate$`, w.deviceShowsFingerprint)
	sc.Step(`^device "([^"]*)" has status "([^"]*)"$`, func(ctx context.Context, name, status string) error {
		return w.deviceHasStatus(ctx, name, status, 0)
	})
	sc.Step(`^device "([^"]*)" has status "([^"]*)" within (\d+) seconds$`, func(ctx context.Context, name, status string, s int) error {
		return w.deviceHasStatus(ctx, name, status, time.Duration(s)*time.Second)
	})
	sc.Step(`^I (freeze|unfreeze) device "([^"]*)"$`, w.iFreeze)
	sc.Step(`^I send the message "([^"]*)" to device "([^"]*)"$`, w.iSendMessage)
}

func (w *world) aProduct(ctx context.Context, protocol string) error {
	id := w.unique("bdd-")
	name := id
	_, err := w.proj.client.CreateProduct(ctx, iotda.AddProduct{
		ProductID: &id, Name: name, DeviceType: "meter", ProtocolType: protocol,
		DataFormat: "json", ServiceCapabilities: serviceCapabilities,
	})
	if err != nil {
		return fmt.Errorf("create %s product: %w", protocol, err)
	}
	p := w.proj
	w.product = &productRec{id: id, protocol: protocol, proj: p}
	w.onCleanup(p, func(ctx context.Context) error { return p.client.DeleteProduct(ctx, id) })
	return nil
}

// dev returns the named device, creating its record (not registered).
func (w *world) dev(name string) (*deviceRec, error) {
	if d, ok := w.devices[name]; ok {
		return d, nil
	}
	if w.product == nil {
		return nil, errors.New("no product: start with \"an MQTT product\"")
	}
	d := &deviceRec{name: name, nodeID: name, product: w.product, certs: map[string]*pki.Leaf{}}
	d.id = w.product.id + "_" + name
	w.devices[name] = d
	return d, nil
}

func (w *world) registered(name string) (*deviceRec, error) {
	d, ok := w.devices[name]
	if !ok || d.id == "" {
		return nil, fmt.Errorf("no registered device %q in this scenario", name)
	}
	return d, nil
}

// mint issues a certificate of the variant for device d from CA ca.
func (w *world) mint(d *deviceRec, caName string, v pki.Variant) (*pki.Leaf, error) {
	c, err := w.caNamed(caName)
	if err != nil {
		return nil, err
	}
	return c.ca.NewVariant(v, d.id)
}

// register registers d (in d's product's project); the outcome goes to
// w.lastErr and w.lastDevice.
func (w *world) register(ctx context.Context, d *deviceRec, auth *iotda.AuthInfo) error {
	p := d.product.proj
	in := iotda.AddDevice{NodeID: d.nodeID, ProductID: d.product.id, AuthInfo: auth}
	got, err := p.client.AddDevice(ctx, in)
	w.lastErr, w.lastDevice = err, got
	if err != nil {
		return err
	}
	d.id = got.DeviceID
	id := got.DeviceID
	w.onCleanup(p, func(ctx context.Context) error { return p.client.DeleteDevice(ctx, id) })
	return nil
}

func certAuth(fingerprint string) *iotda.AuthInfo {
	at := iotda.AuthCertificates
	a := &iotda.AuthInfo{AuthType: &at}
	if fingerprint != "" {
		a.Fingerprint = &fingerprint
	}
	return a
}

func (w *world) aRegisteredCertDevice(ctx context.Context, name, node, caName string, v pki.Variant) error {
	if _, ok := w.devices[name]; ok {
		return fmt.Errorf("device %q already exists in this scenario", name)
	}
	d, err := w.dev(name)
	if err != nil {
		return err
	}
	d.nodeID = node
	d.id = w.product.id + "_" + node
	if d.cert, err = w.mint(d, caName, v); err != nil {
		return err
	}
	if err := w.register(ctx, d, certAuth(d.cert.FingerprintSHA256())); err != nil {
		return fmt.Errorf("register device %q: %w", name, err)
	}
	return nil
}

func (w *world) aRegisteredDeviceWithNode(ctx context.Context, name, node string) error {
	d, err := w.dev(name)
	if err != nil {
		return err
	}
	d.nodeID = node
	if err := w.register(ctx, d, nil); err != nil {
		return fmt.Errorf("register device %q: %w", name, err)
	}
	return nil
}

func (w *world) deviceHoldsCert(name, caName string) error {
	d, err := w.dev(name)
	if err != nil {
		return err
	}
	d.cert, err = w.mint(d, caName, pki.VariantValid)
	return err
}

func (w *world) deviceAlsoHolds(name, certName, caName string) error {
	d, err := w.dev(name)
	if err != nil {
		return err
	}
	leaf, err := w.mint(d, caName, pki.VariantValid)
	if err != nil {
		return err
	}
	d.certs[certName] = leaf
	return nil
}

func (w *world) registeredWithoutFingerprint(ctx context.Context, name string) error {
	d, err := w.dev(name)
	if err != nil {
		return err
	}
	if err := w.register(ctx, d, certAuth("")); err != nil {
		return fmt.Errorf("register device %q without a fingerprint: %w", name, err)
	}
	return nil
}

func (w *world) iRegisterWithAlgorithm(ctx context.Context, name, alg, letterCase string) error {
	d, err := w.dev(name)
	if err != nil {
		return err
	}
	if d.cert == nil {
		return fmt.Errorf("device %q holds no certificate", name)
	}
	fp := d.cert.FingerprintSHA256()
	if alg == "SHA-1" {
		fp = d.cert.FingerprintSHA1()
	}
	if letterCase == "upper" {
		fp = strings.ToUpper(fp)
	} else {
		fp = strings.ToLower(fp)
	}
	_ = w.register(ctx, d, certAuth(fp))
	return nil
}

func (w *world) iRegisterWithFingerprint(ctx context.Context, name, fp string) error {
	d, err := w.dev(name)
	if err != nil {
		return err
	}
	_ = w.register(ctx, d, certAuth(fp))
	return nil
}

// iRegister registers a device under the current product; fields of in that
// are empty are filled from the product.
func (w *world) iRegister(ctx context.Context, in iotda.AddDevice) error {
	if w.product == nil {
		return errors.New("no product")
	}
	in.ProductID = w.product.id
	p := w.product.proj
	got, err := p.client.AddDevice(ctx, in)
	w.lastErr, w.lastDevice = err, got
	if err == nil {
		id := got.DeviceID
		w.onCleanup(p, func(ctx context.Context) error { return p.client.DeleteDevice(ctx, id) })
	}
	return nil
}

func randomFingerprint() string {
	var b [32]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func (w *world) iRegisterAuthType(ctx context.Context, authType, node string) error {
	if authType == iotda.AuthCertificates {
		return w.iRegister(ctx, iotda.AddDevice{NodeID: node, AuthInfo: certAuth(randomFingerprint())})
	}
	at, secret := iotda.AuthSecret, "bddsecret"+w.suffix
	return w.iRegister(ctx, iotda.AddDevice{NodeID: node, AuthInfo: &iotda.AuthInfo{AuthType: &at, Secret: &secret}})
}

func (w *world) deviceIDIs(want string) error {
	if w.lastDevice == nil {
		return fmt.Errorf("no device was registered (last error: %v)", w.lastErr)
	}
	if w.lastDevice.DeviceID != want {
		return fmt.Errorf("device_id is %q, want %q", w.lastDevice.DeviceID, want)
	}
	return nil
}

func (w *world) shownLastDevice(ctx context.Context) (*iotda.Device, error) {
	if w.lastDevice == nil {
		return nil, fmt.Errorf("no device was registered (last error: %v)", w.lastErr)
	}
	c := w.proj.client
	if w.product != nil {
		c = w.product.proj.client
	}
	got, err := c.ShowDevice(ctx, w.lastDevice.DeviceID)
	if err != nil {
		return nil, fmt.Errorf("show device %s: %w", w.lastDevice.DeviceID, err)
	}
	return got, nil
}

func (w *world) deviceShowsNodeID(ctx context.Context, node string) error {
	got, err := w.shownLastDevice(ctx)
	if err != nil {
		return err
	}
	if got.NodeID != node {
		return fmt.Errorf("node_id is %q, want %q", got.NodeID, node)
	}
	return nil
}

func (w *world) deviceShowsAuthType(ctx context.Context, at string) error {
	got, err := w.shownLastDevice(ctx)
	if err != nil {
		return err
	}
	if got.AuthInfo.AuthType != at {
		return fmt.Errorf("auth_type is %q, want %q", got.AuthInfo.AuthType, at)
	}
	return nil
}

// concurrentRegistrations sends n identical AddDevice requests at once. [DEV-ID]
func (w *world) concurrentRegistrations(ctx context.Context, n int, node string) error {
	if w.product == nil {
		return errors.New("no product")
	}
	p := w.product.proj
	in := iotda.AddDevice{NodeID: node, ProductID: w.product.id}
	w.bulk = bulkResult{refused: map[string]int{}}
	var mu sync.Mutex
	var wg sync.WaitGroup
	start := make(chan struct{})
	for range n {
		wg.Go(func() {
			<-start
			got, err := p.client.AddDevice(ctx, in)
			mu.Lock()
			defer mu.Unlock()
			w.bulk.add(err)
			if err == nil {
				id := got.DeviceID
				w.onCleanup(p, func(ctx context.Context) error { return p.client.DeleteDevice(ctx, id) })
			}
		})
	}
	close(start)
	wg.Wait()
	return nil
}

func (w *world) exactlyRegistrations(ok, refused int, code string) error {
	b := w.bulk
	if b.ok != ok || b.refused[code] != refused || len(b.refused) != min(refused, 1) || len(b.other) > 0 {
		return fmt.Errorf("want %d registrations to succeed and %d refused with %s: %s", ok, refused, code, b)
	}
	return nil
}

func (w *world) productListsNode(ctx context.Context, n int, node string) error {
	got, err := w.product.proj.client.ListDevices(ctx, iotda.DeviceListOptions{ProductID: w.product.id, NodeID: node,
		ListOptions: iotda.ListOptions{Limit: 50}})
	if err != nil {
		return fmt.Errorf("list devices: %w", err)
	}
	if len(got.Devices) != n || got.Page.Count != int64(n) {
		return fmt.Errorf("the product lists %d devices (count %d) with node_id %q, want %d", len(got.Devices), got.Page.Count, node, n)
	}
	return nil
}

// ---- fingerprints, status, freeze ----

func (w *world) iSetFingerprint(ctx context.Context, kind, name, certName string) error {
	d, err := w.registered(name)
	if err != nil {
		return err
	}
	leaf, ok := d.certs[certName]
	if !ok {
		return fmt.Errorf("device %q holds no certificate %q", name, certName)
	}
	fp := leaf.FingerprintSHA256()
	_, w.lastErr = d.product.proj.client.ResetFingerprint(ctx, d.id, iotda.ResetFingerprint{Fingerprint: &fp, FingerprintType: &kind})
	return nil
}

func (w *world) deviceShowsFingerprint(ctx context.Context, name string) error {
	d, err := w.registered(name)
	if err != nil {
		return err
	}
	got, err := d.product.proj.client.ShowDevice(ctx, d.id)
	if err != nil {
		return fmt.Errorf("show device %q: %w", name, err)
	}
	fp := strings.ToLower(got.AuthInfo.Fingerprint)
	if fp != d.cert.FingerprintSHA256() && fp != d.cert.FingerprintSHA1() {
		return fmt.Errorf("device %q shows fingerprint %q, want its certificate's %s (SHA-256) or %s (SHA-1)",
			name, got.AuthInfo.Fingerprint, d.cert.FingerprintSHA256(), d.cert.FingerprintSHA1())
	}
	return nil
}

func (w *world) deviceHasStatus(ctx context.Context, name, status string, within time.Duration) error {
	d, err := w.registered(name)
	if err != nil {
		return err
	}
	last := ""
	err = eventually(ctx, within, func() error {
		got, err := d.product.proj.client.ShowDevice(ctx, d.id)
		if err != nil {
			return fmt.Errorf("show device %q: %w", name, err)
		}
		last = got.Status
		if got.Status != status {
			return fmt.Errorf("device %q has status %q, want %q", name, got.Status, status)
		}
		return nil
	})
	if err != nil && within > 0 && last != "" {
		return fmt.Errorf("%w after %s", err, within)
	}
	return err
}

func (w *world) iFreeze(ctx context.Context, action, name string) error {
	d, err := w.registered(name)
	if err != nil {
		return err
	}
	c := d.product.proj.client
	if action == "freeze" {
		w.lastErr = c.FreezeDevice(ctx, d.id)
	} else {
		w.lastErr = c.UnfreezeDevice(ctx, d.id)
	}
	return nil
}

func (w *world) iSendMessage(ctx context.Context, msg, name string) error {
	d, err := w.registered(name)
	if err != nil {
		return err
	}
	_, w.lastErr = d.product.proj.client.CreateMessage(ctx, d.id, iotda.DeviceMessage{Message: msg})
	return nil
}
