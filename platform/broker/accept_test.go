package broker

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/certlab/certlab/iotda"
)

// [server_busy] With MaxConns open connections (here silent TCP peers that
// never start TLS), the next connection is closed at accept before any TLS
// work, counted and logged once at WARN; when one closes, a device logs in.
func TestMaxConnsRefusedAtAccept(t *testing.T) {
	d := newDir(t)
	var buf syncBuffer
	log := slog.New(slog.NewTextHandler(&buf, nil))
	const maxConns = 3
	b := startBroker(t, d, func(c *Config) { c.MaxConns = maxConns; c.Logger = log; c.ConnectTimeout = 30 * time.Second })

	held := make([]net.Conn, maxConns)
	for i := range held {
		c, err := net.Dial("tcp", b.Addr())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		held[i] = c
	}
	eventually(t, "the held connections to be accepted", func() bool { return b.ln.openConns() == maxConns })

	for i := range 5 {
		c, err := net.Dial("tcp", b.Addr())
		if err != nil {
			t.Fatal(err)
		}
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
		n, err := c.Read(make([]byte, 1))
		c.Close()
		if n != 0 || !(errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET)) {
			t.Fatalf("connection %d beyond the limit: read %d bytes, %v; want it closed at once", i, n, err)
		}
	}
	if v := counterValue(t, b.reg, "certlab_platform_mqtt_accept_refused_total"); v != 5 {
		t.Errorf("mqtt_accept_refused_total = %v, want 5", v)
	}
	if v := counterValue(t, b.reg, "certlab_platform_logins_total", "reason", string(iotda.ReasonServerBusy)); v != 5 {
		t.Errorf("logins_total{server_busy} = %v, want 5", v)
	}
	if v := counterValue(t, b.reg, "certlab_platform_mqtt_open_connections"); v != maxConns {
		t.Errorf("mqtt_open_connections = %v, want %d", v, maxConns)
	}
	if v := counterValue(t, b.reg, "certlab_platform_mqtt_max_connections"); v != maxConns {
		t.Errorf("mqtt_max_connections = %v, want %d", v, maxConns)
	}
	var warns []string
	for _, l := range strings.Split(buf.String(), "\n") {
		if strings.Contains(l, "level=WARN") && strings.Contains(l, "MQTT connection limit reached") {
			warns = append(warns, l)
		}
	}
	if len(warns) != 1 || !strings.Contains(warns[0], fmt.Sprintf("max_conns=%d", maxConns)) {
		t.Errorf("WARN lines %q, want exactly one naming max_conns=%d (the rest held back)", warns, maxConns)
	}

	held[0].Close()
	eventually(t, "a slot to free", func() bool { return b.ln.openConns() < maxConns })
	dev := addDevice(t, d, getFixture(t).caA, "prod-mqtt_after-busy", nil)
	loginRaw(t, b.Addr(), dev, 5)
}

func TestAcceptCause(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want string
	}{
		{&net.OpError{Op: "accept", Err: os.NewSyscallError("accept4", syscall.EMFILE)}, acceptEMFILE},
		{&net.OpError{Op: "accept", Err: os.NewSyscallError("accept4", syscall.ENFILE)}, acceptENFILE},
		{&net.OpError{Op: "accept", Err: os.NewSyscallError("accept4", syscall.ENOBUFS)}, acceptNoMem},
		{errors.New("something else"), acceptOther},
	} {
		if got := acceptCause(tc.err); got != tc.want {
			t.Errorf("acceptCause(%v) = %q, want %q", tc.err, got, tc.want)
		}
	}
}
