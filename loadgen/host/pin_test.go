package host

import (
	"os/exec"
	"runtime"
	"slices"
	"testing"
)

// TestPinning splits the CPUs, starts a child pinned to the server half and
// pins this process to the generator half (then back), reading the masks
// the kernel reports.
func TestPinning(t *testing.T) {
	if runtime.NumCPU() < 2 {
		t.Skip("pinning needs 2 CPUs")
	}
	split, err := SplitCPUs()
	if err != nil {
		t.Fatal(err)
	}
	if len(split.Server) == 0 || len(split.Generator) == 0 || slices.ContainsFunc(split.Server, func(c int) bool { return slices.Contains(split.Generator, c) }) {
		t.Fatalf("split %+v: want two disjoint, non-empty halves", split)
	}
	mine, err := ProcessCPUs(0)
	if err != nil {
		t.Fatal(err)
	}

	cmd := exec.Command("sleep", "5")
	if err := StartOn(split.Server, cmd.Start); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	if got, err := ProcessCPUs(cmd.Process.Pid); err != nil || !slices.Equal(got, split.Server) {
		t.Errorf("child CPUs = %v (%v), want %v", got, err, split.Server)
	}
	runtime.LockOSThread()
	after, err := ProcessCPUs(0)
	runtime.UnlockOSThread()
	if err != nil || !slices.Equal(after, mine) {
		t.Errorf("after StartOn this thread may run on %v (%v), want %v restored", after, err, mine)
	}

	if err := PinProcess(split.Generator); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := PinProcess(mine); err != nil {
			t.Error(err)
		}
	})
	if got, err := ProcessCPUs(0); err != nil || !slices.Equal(got, split.Generator) {
		t.Errorf("pinned process CPUs = %v (%v), want %v", got, err, split.Generator)
	}
}
