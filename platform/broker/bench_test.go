package broker

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/certlab/certlab/platform/internal/proccpu"
	"github.com/certlab/certlab/sim/pki"
)

// withCAs adds n-1 more verified CAs to project B so the snapshot holds n CAs
// besides the fixture's.
func withCAs(b testing.TB, d *memDir, n int) {
	b.Helper()
	for i := range n - 1 {
		ca, err := pki.NewRootCA(fmt.Sprintf("Filler CA %03d", i))
		if err != nil {
			b.Fatal(err)
		}
		d.addCA(projectB, fmt.Sprintf("%024x", 0xf000+i), ca.Cert, true)
	}
}

// BenchmarkLogin measures one full device login (TCP + TLS 1.3 mutual
// handshake + CONNECT/CONNACK + close) with client and server in this
// process, next to a bare crypto/tls server doing the same handshake plus one
// byte. Compare the two in one run; cpu-us/login counts both sides.
func BenchmarkLogin(b *testing.B) {
	d := newDir(b)
	f := getFixture(b)
	dev := addDevice(b, d, f.caA, "prod-mqtt_bench", nil)
	clientCfg := tlsConfig(b, dev.Leaf, tls.VersionTLS13)
	clientCfg.CurvePreferences = []tls.CurveID{tls.X25519} // pinned, as load profiles do

	run := func(b *testing.B, addr string, login func(c *tls.Conn) error) {
		b.Helper()
		b.ReportAllocs()
		cpu := proccpu.Start(b)
		b.ResetTimer()
		for b.Loop() {
			raw, err := net.Dial("tcp", addr)
			if err != nil {
				b.Fatal(err)
			}
			c := tls.Client(raw, clientCfg)
			if err := login(c); err != nil {
				b.Fatal(err)
			}
			_ = c.Close()
		}
		b.StopTimer()
		cpu.Report("cpu-us/login")
	}

	b.Run("bare crypto/tls", func(b *testing.B) {
		pool := x509.NewCertPool()
		pool.AddCert(f.caA.Cert)
		srvCfg := &tls.Config{Certificates: []tls.Certificate{f.serverCert}, ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: pool}
		ln, err := tls.Listen("tcp", "127.0.0.1:0", srvCfg)
		if err != nil {
			b.Fatal(err)
		}
		var wg sync.WaitGroup
		wg.Go(func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				_ = c.SetDeadline(time.Now().Add(5 * time.Second))
				if _, err := c.Write([]byte{1}); err == nil {
					_, _ = io.Copy(io.Discard, c)
				}
				_ = c.Close()
			}
		})
		defer func() { _ = ln.Close(); wg.Wait() }()
		one := make([]byte, 1)
		run(b, ln.Addr().String(), func(c *tls.Conn) error {
			_, err := io.ReadFull(c, one)
			return err
		})
	})

	for _, bc := range []struct {
		name       string
		cas        int
		sendCAList bool
	}{
		{"broker MQTT 3.1.1", 1, false},
		{"broker MQTT 3.1.1, 100 CAs", 100, false},
		{"broker MQTT 3.1.1, 100 CAs, CA list sent", 100, true},
	} {
		b.Run(bc.name, func(b *testing.B) {
			d := newDir(b)
			withCAs(b, d, bc.cas)
			dev := addDevice(b, d, f.caA, "prod-mqtt_bench", nil)
			clientCfg.Certificates = []tls.Certificate{dev.Leaf.TLSCertificate()}
			br := startBroker(b, d, func(c *Config) { c.SendCAList = bc.sendCAList })
			connect := []byte{}
			{
				var buf connBuf
				rc := newRawClient(b, &buf, 4)
				if err := rc.sendConnect(connectOpts{clientID: clientID(dev.ID), username: dev.ID, keepalive: 120}); err != nil {
					b.Fatal(err)
				}
				connect = buf.b
			}
			ack := make([]byte, 4)
			run(b, br.Addr(), func(c *tls.Conn) error {
				if _, err := c.Write(connect); err != nil {
					return err
				}
				if _, err := io.ReadFull(c, ack); err != nil {
					return err
				}
				if ack[3] != 0 {
					return fmt.Errorf("CONNACK % x", ack)
				}
				return nil
			})
		})
	}
}

// connBuf is a net.Conn that only records writes (to pre-encode a CONNECT).
type connBuf struct {
	net.Conn
	b []byte
}

func (c *connBuf) Write(p []byte) (int, error)      { c.b = append(c.b, p...); return len(p), nil }
func (c *connBuf) SetWriteDeadline(time.Time) error { return nil }
func (c *connBuf) SetReadDeadline(time.Time) error  { return nil }
func (c *connBuf) SetDeadline(time.Time) error      { return nil }
func (c *connBuf) Read([]byte) (int, error)         { return 0, io.EOF }
func (c *connBuf) Close() error                     { return nil }
func (c *connBuf) LocalAddr() net.Addr              { return &net.TCPAddr{} }
func (c *connBuf) RemoteAddr() net.Addr             { return &net.TCPAddr{} }

// BenchmarkVerifyChain measures the per-connection chain check
// (VerifyConnection: fingerprints, chain verification, anchor lookup)
// against a trust snapshot of 1 and of 100 CAs.
func BenchmarkVerifyChain(b *testing.B) {
	f := getFixture(b)
	leaf, err := f.caA.NewDeviceCert("prod-mqtt_verify")
	if err != nil {
		b.Fatal(err)
	}
	for _, n := range []int{1, 100} {
		b.Run(fmt.Sprintf("%d CAs", n), func(b *testing.B) {
			d := newMemDir()
			d.addCA(projectA, caAID, f.caA.Cert, true)
			withCAs(b, d, n)
			br, err := New(Config{Certificate: f.serverCert, Directory: d})
			if err != nil {
				b.Fatal(err)
			}
			defer func() { _ = br.Close() }()
			cs := tls.ConnectionState{PeerCertificates: []*x509.Certificate{leaf.Cert}}
			b.ReportAllocs()
			for b.Loop() {
				st := &connState{}
				if err := br.verifyConnection(st, cs); err != nil || len(st.login.anchors) != 1 {
					b.Fatalf("verify: %v %v", err, st.login.anchors)
				}
			}
		})
	}
}

// BenchmarkConfigClone measures the per-connection tls.Config clone.
func BenchmarkConfigClone(b *testing.B) {
	d := newDir(b)
	br, err := New(Config{Certificate: getFixture(b).serverCert, Directory: d})
	if err != nil {
		b.Fatal(err)
	}
	defer func() { _ = br.Close() }()
	st := &connState{}
	b.ReportAllocs()
	for b.Loop() {
		cfg := br.base.Clone()
		cfg.VerifyConnection = func(cs tls.ConnectionState) error { return br.verifyConnection(st, cs) }
		if cfg.ClientAuth != tls.RequireAnyClientCert {
			b.Fatal("clone lost ClientAuth")
		}
	}
}
