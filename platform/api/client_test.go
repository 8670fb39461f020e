package api_test

import (
	"context"
	"crypto/x509"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/certlab/certlab/iotda"
	"github.com/certlab/certlab/sim/pki"
)

// TestWithIotdaClient drives the API with the typed iotda client, the way
// the BDD suite, the fleet simulator and the load generator will: upload and
// verify a CA, register a product and a device, send a message, page lists,
// and read typed errors (with the request ID) back.
func TestWithIotdaClient(t *testing.T) {
	tp := newTestPlatform(t)
	pool := x509.NewCertPool()
	pool.AddCert(tp.srv.Certificate())
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()

	for _, c := range []iotda.Credentials{
		creds(tp.proj),
		{AccessKey: tp.proj.AccessKey, SecretKey: tp.proj.SecretKey, ProjectID: tp.proj.ID, Derived: true, Region: "cn-north-4"},
		{Token: tp.proj.Token, ProjectID: tp.proj.ID},
	} {
		cl := iotda.NewClient(tp.srv.URL, c, iotda.WithRootCAs(pool))
		if _, err := cl.ListCertificates(ctx, iotda.ListOptions{Limit: 1}); err != nil {
			t.Fatalf("list with %+v: %v", c, err)
		}
	}

	cl := iotda.NewClient(tp.srv.URL, creds(tp.proj), iotda.WithRootCAs(pool))
	ca := newCA(t, "Client CA")
	added, err := cl.AddCertificate(ctx, iotda.CreateCertificateDto{Content: string(pki.CertPEM(ca.Cert))})
	if err != nil {
		t.Fatalf("AddCertificate: %v", err)
	}
	vc, err := ca.NewVerificationCert(added.VerifyCode)
	if err != nil {
		t.Fatal(err)
	}
	if err := cl.CheckCertificate(ctx, added.CertificateID, iotda.VerifyCertificateDto{VerifyContent: string(vc.CertPEM())}); err != nil {
		t.Fatalf("CheckCertificate: %v", err)
	}
	shown, err := cl.ShowCertificate(ctx, added.CertificateID)
	if err != nil || !shown.Status || shown.Content == "" {
		t.Fatalf("ShowCertificate = %+v, %v; want verified with content", shown, err)
	}

	if _, err := cl.CreateProduct(ctx, iotda.AddProduct{Name: "Meter", DeviceType: "meter", ProtocolType: iotda.ProtocolMQTT, DataFormat: "json"}); err != nil {
		t.Fatalf("CreateProduct: %v", err)
	}
	products, err := cl.ListProducts(ctx, iotda.ListOptions{})
	if err != nil || len(products.Products) != 1 {
		t.Fatalf("ListProducts = %+v, %v", products, err)
	}
	productID := products.Products[0].ProductID
	leaf, err := ca.NewDeviceCert("dev")
	if err != nil {
		t.Fatal(err)
	}
	fp, certs := leaf.FingerprintSHA256(), iotda.AuthCertificates
	dev, err := cl.AddDevice(ctx, iotda.AddDevice{NodeID: "0A1B2C3D4E5F", ProductID: productID,
		AuthInfo: &iotda.AuthInfo{AuthType: &certs, Fingerprint: &fp}})
	if err != nil {
		t.Fatalf("AddDevice: %v", err)
	}
	if dev.DeviceID != productID+"_0A1B2C3D4E5F" || dev.AuthInfo.Fingerprint != fp || dev.Status != iotda.StatusInactive {
		t.Fatalf("AddDevice = %+v", dev)
	}
	if err := cl.FreezeDevice(ctx, dev.DeviceID); err != nil {
		t.Fatalf("FreezeDevice: %v", err)
	}
	if got, err := cl.ShowDevice(ctx, dev.DeviceID); err != nil || got.Status != iotda.StatusFrozen {
		t.Fatalf("ShowDevice after freeze = %+v, %v", got, err)
	}
	if err := cl.UnfreezeDevice(ctx, dev.DeviceID); err != nil {
		t.Fatalf("UnfreezeDevice: %v", err)
	}

	// A typed error: the device is offline (409), with the request ID.
	_, err = cl.CreateMessage(ctx, dev.DeviceID, iotda.DeviceMessage{Message: map[string]any{"k": "v"}})
	var ae *iotda.APIError
	if !errors.As(err, &ae) || ae.StatusCode != http.StatusConflict || ae.ErrorCode != iotda.CodeDeviceNotOnline || len(ae.RequestID) != 32 {
		t.Fatalf("CreateMessage offline: %v, want *APIError 409 %s with a request ID", err, iotda.CodeDeviceNotOnline)
	}
	tp.devices.mu.Lock()
	tp.devices.online[dev.DeviceID] = true
	tp.devices.mu.Unlock()
	if _, err := cl.CreateMessage(ctx, dev.DeviceID, iotda.DeviceMessage{Message: "ping"}); err != nil {
		t.Fatalf("CreateMessage online: %v", err)
	}

	list, err := cl.ListDevices(ctx, iotda.DeviceListOptions{ProductID: productID})
	if err != nil || list.Page.Count != 1 || len(list.Devices) != 1 {
		t.Fatalf("ListDevices = %+v, %v", list, err)
	}
	if _, err := cl.ShowDevice(ctx, "missing"); !iotda.IsCode(err, iotda.CodeNotFound) {
		t.Fatalf("ShowDevice(missing) = %v, want %s", err, iotda.CodeNotFound)
	}
	if err := cl.DeleteDevice(ctx, dev.DeviceID); err != nil {
		t.Fatalf("DeleteDevice: %v", err)
	}
	if err := cl.DeleteCertificate(ctx, added.CertificateID); err != nil {
		t.Fatalf("DeleteCertificate: %v", err)
	}

	admin := iotda.NewClient(tp.srv.URL, iotda.Credentials{}, iotda.WithRootCAs(pool))
	pc, err := admin.AddProject(ctx, adminToken, "tenant-client")
	if err != nil {
		t.Fatalf("AddProject: %v", err)
	}
	other := iotda.NewClient(tp.srv.URL, iotda.Credentials{AccessKey: pc.AccessKey, SecretKey: pc.SecretKey, ProjectID: tp.proj.ID}, iotda.WithRootCAs(pool))
	if _, err := other.ListDevices(ctx, iotda.DeviceListOptions{}); !iotda.IsCode(err, iotda.CodeForbidden) || iotda.StatusCode(err) != http.StatusForbidden {
		t.Fatalf("new project's keys on another project's path: %v, want 403 %s", err, iotda.CodeForbidden)
	}
}
