package host

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"strconv"

	"golang.org/x/sys/unix"
)

// CPUSplit divides the CPUs this process may run on between a server under
// test on this machine (the lower half) and the generator (the upper half):
// docs/performance.md's method (taskset -c 0 for the server, -c 1 for the
// generator on two CPUs), done by loadgen itself so that a child platform
// and baseline started later land on the server's half too.
//
// Pinned, the server stops competing with the generator for a CPU: on 2
// shared cores its CPU per login dropped from 330–370 µs to 280–300 µs and
// varied less between runs, which is what a platform/baseline ratio needs.
type CPUSplit struct {
	Server, Generator []int
}

// SplitCPUs splits the CPUs in this process's affinity mask; it needs two.
func SplitCPUs() (CPUSplit, error) {
	cpus, err := ProcessCPUs(0)
	if err != nil {
		return CPUSplit{}, fmt.Errorf("split CPUs: %w", err)
	}
	if len(cpus) < 2 {
		return CPUSplit{}, fmt.Errorf("split CPUs: this process may run on %d CPU(s); pinning needs at least 2", len(cpus))
	}
	half := len(cpus) / 2
	return CPUSplit{Server: cpus[:half], Generator: cpus[half:]}, nil
}

func cpuSet(cpus []int) unix.CPUSet {
	var set unix.CPUSet
	for _, c := range cpus {
		set.Set(c)
	}
	return set
}

// PinProcess sets the affinity of every thread of this process to cpus.
// Threads the runtime creates later inherit it from their creator.
func PinProcess(cpus []int) error {
	set := cpuSet(cpus)
	tasks, err := os.ReadDir("/proc/self/task")
	if err != nil {
		return fmt.Errorf("pin generator: %w", err)
	}
	var errs []error
	for _, t := range tasks {
		tid, err := strconv.Atoi(t.Name())
		if err != nil {
			continue
		}
		if err := unix.SchedSetaffinity(tid, &set); err != nil && !errors.Is(err, unix.ESRCH) {
			errs = append(errs, err) // ESRCH: the thread has exited meanwhile
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("pin generator: %w", err)
	}
	return nil
}

// StartOn runs start (an exec.Cmd's Start) on an OS thread pinned to cpus
// for the duration, so that the child process inherits that affinity from
// birth (fork copies the calling thread's mask), before any of its threads
// exist. The thread's own mask is restored afterwards. With no cpus it just
// runs start.
func StartOn(cpus []int, start func() error) error {
	if len(cpus) == 0 {
		return start()
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	var saved unix.CPUSet
	if err := unix.SchedGetaffinity(0, &saved); err != nil {
		return fmt.Errorf("pin child: %w", err)
	}
	set := cpuSet(cpus)
	if err := unix.SchedSetaffinity(0, &set); err != nil {
		return fmt.Errorf("pin child: %w", err)
	}
	err := start()
	if rerr := unix.SchedSetaffinity(0, &saved); rerr != nil && err == nil {
		err = fmt.Errorf("pin child: restore the thread's CPUs: %w", rerr)
	}
	return err
}

// ProcessCPUs lists the CPUs process pid's main thread may run on (pid 0:
// the calling thread).
func ProcessCPUs(pid int) ([]int, error) {
	var set unix.CPUSet
	if err := unix.SchedGetaffinity(pid, &set); err != nil {
		return nil, fmt.Errorf("CPUs of process %d: %w", pid, err)
	}
	var cpus []int
	for c := range 1024 {
		if set.IsSet(c) {
			cpus = append(cpus, c)
		}
	}
	return cpus, nil
}
