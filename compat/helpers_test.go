package compat

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/certlab/certlab/iotda"
	"github.com/certlab/certlab/platform"
	"github.com/certlab/certlab/platform/platformtest"
	"github.com/certlab/certlab/sim/pki"
)

// toolTimeout bounds every external client process.
const toolTimeout = 20 * time.Second

const productID = "compat-product"

// fixture is a running platform with a verified CA and an MQTT product.
type fixture struct {
	target *iotda.Target
	client *iotda.Client
	ca     *pki.CA
	caFile string // the platform's server CA (PEM), for the clients' --cafile
	host   string
	port   string
	dir    string // device files
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	p := platformtest.Start(t)
	f := &fixture{target: p.Target(), client: platformtest.Client(t, p),
		caFile: filepath.Join(filepath.Dir(p.TargetPath()), platform.ServerCAFile), dir: t.TempDir()}
	var err error
	if f.host, f.port, err = net.SplitHostPort(f.target.MQTTAddress()); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	f.ca, _ = f.enrolCA(t, "compat CA")
	pid := productID
	if _, err := f.client.CreateProduct(ctx, iotda.AddProduct{ProductID: &pid, Name: "compat", DeviceType: "sensor", ProtocolType: iotda.ProtocolMQTT, DataFormat: "json"}); err != nil {
		t.Fatalf("create product: %v", err)
	}
	return f
}

// enrolCA uploads a new device CA and verifies it (proof of possession); it
// returns the CA and its certificate ID.
func (f *fixture) enrolCA(t *testing.T, name string) (*pki.CA, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 15*time.Second)
	defer cancel()
	ca, err := pki.NewRootCA(name)
	if err != nil {
		t.Fatal(err)
	}
	up, err := f.client.AddCertificate(ctx, iotda.CreateCertificateDto{Content: string(pki.CertPEM(ca.Cert))})
	if err != nil {
		t.Fatalf("upload CA: %v", err)
	}
	v, err := ca.NewVerificationCert(up.VerifyCode)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.client.CheckCertificate(ctx, up.CertificateID, iotda.VerifyCertificateDto{VerifyContent: string(pki.CertPEM(v.Cert))}); err != nil {
		t.Fatalf("verify CA: %v", err)
	}
	return ca, up.CertificateID
}

// identity is what a device's MQTT client is configured with.
type identity struct {
	deviceID string
	clientID string // {device_id}_0_0_{YYYYMMDDHH}
	cert     string // PEM file: the device certificate
	key      string // PEM file: its private key
}

// Kinds of identity a case logs in with.
const (
	good             = "good"              // registered, fingerprint matches
	unknownCA        = "unknown-ca"        // issued by a CA nobody uploaded
	wrongFingerprint = "wrong-fingerprint" // issued by the CA, another certificate's fingerprint registered
)

// identity registers a device (node) and returns the files of a certificate of the given kind for it.
func (f *fixture) identity(t *testing.T, node, kind string) identity {
	t.Helper()
	return f.identityOf(t, f.ca, node, kind)
}

// identityOf is identity with a certificate issued by ca.
func (f *fixture) identityOf(t *testing.T, ca *pki.CA, node, kind string) identity {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 15*time.Second)
	defer cancel()
	deviceID := productID + "_" + node
	leaf, err := ca.NewDeviceCert(deviceID)
	if err != nil {
		t.Fatal(err)
	}
	registered := leaf
	switch kind {
	case unknownCA:
		stranger, err := pki.NewRootCA("compat stranger CA")
		if err != nil {
			t.Fatal(err)
		}
		if leaf, err = stranger.NewDeviceCert(deviceID); err != nil {
			t.Fatal(err)
		}
	case wrongFingerprint:
		if registered, err = ca.NewDeviceCert(deviceID + " registered"); err != nil {
			t.Fatal(err)
		}
	}
	auth, fp := iotda.AuthCertificates, registered.FingerprintSHA256()
	if _, err := f.client.AddDevice(ctx, iotda.AddDevice{NodeID: node, ProductID: productID, AuthInfo: &iotda.AuthInfo{AuthType: &auth, Fingerprint: &fp}}); err != nil {
		t.Fatalf("add device %s: %v", node, err)
	}
	if err := leaf.WriteFiles(f.dir, node); err != nil {
		t.Fatal(err)
	}
	return identity{
		deviceID: deviceID,
		clientID: iotda.ClientIDFor(deviceID, time.Now()),
		cert:     filepath.Join(f.dir, node+pki.CertSuffix),
		key:      filepath.Join(f.dir, node+pki.KeySuffix),
	}
}

func (id identity) topic(suffix string) string { return iotda.DeviceTopic(id.deviceID, suffix) }

// sendDown sends a message to the device through the API (CreateMessage).
func (f *fixture) sendDown(t *testing.T, deviceID, text string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 15*time.Second)
	defer cancel()
	if _, err := f.client.CreateMessage(ctx, deviceID, iotda.DeviceMessage{Message: text}); err != nil {
		t.Fatalf("create message for %s: %v", deviceID, err)
	}
}

// propertiesReport is an IoTDA properties report naming the client that sent it.
func propertiesReport(client string) string {
	return fmt.Sprintf(`{"services":[{"service_id":"compat","properties":{"client":%q,"temperature":21.5}}]}`, client)
}

// requireShadow waits until the device's shadow reports the client's properties.
func (f *fixture) requireShadow(t *testing.T, deviceID, client string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	var last string
	for {
		sh, err := f.client.ShowDeviceShadow(ctx, deviceID)
		if err == nil {
			for _, s := range sh.Shadow {
				if s.ServiceID == "compat" && s.Reported != nil && s.Reported.Properties["client"] == client {
					if s.Reported.Properties["temperature"] != 21.5 {
						t.Errorf("shadow temperature %v, want 21.5", s.Reported.Properties["temperature"])
					}
					return
				}
			}
			last = fmt.Sprintf("%+v", sh.Shadow)
		} else {
			last = err.Error()
		}
		select {
		case <-ctx.Done():
			t.Fatalf("the shadow of %s never showed the report of %s; last: %s", deviceID, client, last)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// process is a running external client whose output is read line by line.
type process struct {
	cmd    *exec.Cmd
	lines  chan string
	mu     sync.Mutex
	output bytes.Buffer // stdout and stderr, for failure messages
	done   chan struct{}
	exit   int
}

// start runs name with args under toolTimeout; the process is killed when the test ends.
func start(t *testing.T, name string, args ...string) *process {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), toolTimeout)
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.WaitDelay = 2 * time.Second
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	p := &process{cmd: cmd, lines: make(chan string, 256), done: make(chan struct{})}
	cmd.Stderr = writerFunc(func(b []byte) (int, error) {
		p.mu.Lock()
		defer p.mu.Unlock()
		return p.output.Write(b)
	})
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatalf("start %s: %v", name, err)
	}
	go func() {
		defer cancel()
		defer close(p.done)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			line := sc.Text()
			p.mu.Lock()
			p.output.WriteString(line + "\n")
			p.mu.Unlock()
			select {
			case p.lines <- line:
			default: // nobody waits for it; it is in output
			}
		}
		err := cmd.Wait()
		p.exit = 0
		if ee, ok := errors.AsType[*exec.ExitError](err); ok {
			p.exit = ee.ExitCode()
		} else if err != nil {
			p.exit = -1
		}
		close(p.lines)
	}()
	t.Cleanup(func() {
		cancel()
		<-p.done
	})
	return p
}

type writerFunc func([]byte) (int, error)

func (w writerFunc) Write(b []byte) (int, error) { return w(b) }

// waitLine waits for an output line containing s.
func (p *process) waitLine(t *testing.T, s string) string {
	t.Helper()
	timeout := time.After(toolTimeout)
	for {
		select {
		case line, ok := <-p.lines:
			if !ok {
				t.Fatalf("%s exited (status %d) before printing %q:\n%s", p.cmd.Path, p.exit, s, p.text())
			}
			if strings.Contains(line, s) {
				return line
			}
		case <-timeout:
			t.Fatalf("%s printed no %q within %s:\n%s", p.cmd.Path, s, toolTimeout, p.text())
		}
	}
}

// wait waits for the process to exit and returns its status and output.
func (p *process) wait(t *testing.T) (int, string) {
	t.Helper()
	for range p.lines { // drain
	}
	<-p.done
	return p.exit, p.text()
}

func (p *process) text() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.output.String()
}

func mustAtoi(t *testing.T, s string) int {
	t.Helper()
	n, err := strconv.Atoi(s)
	if err != nil {
		t.Fatalf("port %q: %v", s, err)
	}
	return n
}

func splitLines(s string) []string { return strings.Split(strings.TrimSpace(s), "\n") }
