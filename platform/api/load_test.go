package api_test

import (
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestLoadDeviceRegistration measures devices registered per second through
// the API (signed AddDevice over HTTPS, SQLite underneath) with 16 concurrent
// clients over kept-alive HTTPS connections, for loadDuration or loadDevices
// devices, whichever comes first.
// Run: go test -run TestLoadDeviceRegistration -v ./platform/api/
func TestLoadDeviceRegistration(t *testing.T) {
	if testing.Short() {
		t.Skip("load measurement; skipped with -short")
	}
	const (
		clients      = 16
		loadDevices  = 10000
		loadDuration = 5 * time.Second
	)
	tp := newTestPlatform(t)
	tp.createProduct("load", "MQTT")
	// Keep one TLS connection per client (the default keeps 2 idle per host,
	// which would measure handshakes instead of registrations).
	tr := tp.client.Transport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = clients
	tp.client = &http.Client{Transport: tr, Timeout: tp.client.Timeout}
	var next, created atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, clients)
	start := time.Now()
	deadline := start.Add(loadDuration)
	for range clients {
		wg.Go(func() {
			for time.Now().Before(deadline) {
				n := next.Add(1)
				if n > loadDevices {
					return
				}
				body := fmt.Sprintf(`{"node_id":"node%06d","product_id":"load","auth_info":{"auth_type":"CERTIFICATES","fingerprint":"%064x"}}`, n, n)
				r, err := tp.try("POST", tp.v5("/devices"), body, signed(creds(tp.proj)))
				if err == nil && r.status != http.StatusCreated {
					err = fmt.Errorf("device %d: status %d: %s", n, r.status, r.body)
				}
				if err != nil {
					errs <- err
					return
				}
				created.Add(1)
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if _, _, _, _, devices := tp.reg.Counts(); int64(devices) != created.Load() {
		t.Fatalf("registry holds %d devices, API acknowledged %d", devices, created.Load())
	}
	t.Logf("registered %d devices in %s with %d concurrent clients: %.0f devices/s",
		created.Load(), elapsed.Round(time.Millisecond), clients, float64(created.Load())/elapsed.Seconds())
}
