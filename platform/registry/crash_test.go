package registry

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"
)

// crashChildEnv switches TestCrashChild on and names the database it writes.
const crashChildEnv = "REGISTRY_CRASH_CHILD"

// TestCrashChild is the child half of TestKill9Durability: it is skipped
// unless run by the parent. It registers devices from 4 goroutines and prints
// "ACK <device_id>" after each CreateDevice returns, until it is killed (or
// 30 s pass).
func TestCrashChild(t *testing.T) {
	path := os.Getenv(crashChildEnv)
	if path == "" {
		t.Skip("child process of TestKill9Durability")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	r, err := Open(ctx, path, Options{})
	if err != nil {
		fmt.Println("ERR", err)
		os.Exit(2)
	}
	p, ok := r.ProjectByName("crash")
	if !ok {
		fmt.Println("ERR no project")
		os.Exit(2)
	}
	var out sync.Mutex
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			for i := 0; ctx.Err() == nil; i++ {
				d, err := r.CreateDevice(ctx, p.ID, certDevice("prod", fmt.Sprintf("w%d-%d", w, i)))
				if err != nil {
					return
				}
				// Status changes are soft state: not acknowledged, not checked.
				_ = r.SetOnline(ctx, d.ID, true, time.Time{})
				out.Lock()
				fmt.Printf("ACK %s\n", d.ID) // os.Stdout is unbuffered
				out.Unlock()
			}
		})
	}
	wg.Wait()
	os.Exit(3) // never reached when killed
}

// TestKill9Durability re-executes the test binary as a child that registers
// devices, SIGKILLs it after ~200 acknowledgements, reopens the database and
// checks that every acknowledged device is there.
func TestKill9Durability(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns a child process")
	}
	path := t.TempDir() + "/crash.db"
	r := openAt(t, path, Options{})
	p := mustProject(t, r, "crash")
	mustProduct(t, r, p.ID, "prod", "MQTT")
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestCrashChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), crashChildEnv+"="+path)
	cmd.Stderr = os.Stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	const want = 200
	var acked []string
	sc := bufio.NewScanner(stdout)
	for len(acked) < want && sc.Scan() {
		line := sc.Text()
		if id, ok := strings.CutPrefix(line, "ACK "); ok {
			acked = append(acked, id)
		} else if strings.HasPrefix(line, "ERR") {
			t.Fatalf("child: %s", line)
		}
	}
	if err := cmd.Process.Kill(); err != nil { // SIGKILL
		t.Fatal(err)
	}
	// Acknowledgements already written to the pipe before the kill count too.
	for sc.Scan() {
		if id, ok := strings.CutPrefix(sc.Text(), "ACK "); ok {
			acked = append(acked, id)
		}
	}
	werr := cmd.Wait()
	if len(acked) < want {
		t.Fatalf("child acknowledged only %d devices (wait: %v)", len(acked), werr)
	}
	if ps := cmd.ProcessState; ps == nil || ps.Success() || ps.ExitCode() != -1 {
		t.Fatalf("child was not killed by a signal: %v", ps)
	}

	r = openAt(t, path, Options{})
	missing := 0
	for _, id := range acked {
		if _, ok := r.LookupDevice(id); !ok {
			missing++
			t.Errorf("acknowledged device %s lost after kill -9", id)
		}
	}
	_, _, _, _, n := r.Counts()
	t.Logf("child acknowledged %d devices before SIGKILL; %d in the database after reopen; %d missing", len(acked), n, missing)
	if n < len(acked) {
		t.Fatalf("database has %d devices, fewer than the %d acknowledged", n, len(acked))
	}
}
