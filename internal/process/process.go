// Package process identifies, signals and waits for host processes by pid
// and start time, so that a pid recorded before a daemon restart is never
// confused with an unrelated process that later reused it. It reads /proc
// and sends signals; it never starts processes.
package process

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// ErrTimeout is returned by WaitExit when the process outlives the timeout.
var ErrTimeout = errors.New("timed out waiting for process to exit")

// StartTime returns the start time of pid in clock ticks since boot (field
// 22 of /proc/<pid>/stat) and whether the process is a zombie.
func StartTime(pid int) (start uint64, zombie bool, err error) {
	if pid <= 0 {
		return 0, false, fmt.Errorf("invalid pid %d", pid)
	}
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, false, err
	}
	// The command name (field 2) is in parentheses and may itself contain
	// spaces and parentheses: parse from the last ')'.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, false, fmt.Errorf("malformed /proc/%d/stat", pid)
	}
	fields := strings.Fields(string(b[i+1:]))
	// fields[0] is field 3 (state); field 22 is fields[19].
	if len(fields) < 20 {
		return 0, false, fmt.Errorf("malformed /proc/%d/stat", pid)
	}
	start, err = strconv.ParseUint(fields[19], 10, 64)
	if err != nil {
		return 0, false, fmt.Errorf("malformed /proc/%d/stat: %w", pid, err)
	}
	state := fields[0]
	return start, state == "Z" || state == "X", nil
}

// Alive reports whether the process pid with the given start time is running
// (and not a zombie). A startTime of 0 matches any start time.
//
// A process is gone once all its threads are: a thread-group leader that
// exits while other threads run (or before they finish exiting, as after
// SIGKILL) is a zombie that still holds the process's files, such as the
// disk images and their locks a killed qemu's vCPU threads keep for a
// moment, so it counts as running until its last thread has exited.
func Alive(pid int, startTime uint64) bool {
	if pid <= 0 {
		return false
	}
	st, zombie, err := StartTime(pid)
	if err != nil || zombie && !otherThreads(pid) {
		return false
	}
	return startTime == 0 || st == startTime
}

// otherThreads reports whether process pid has a thread other than its
// leader (/proc/<pid>/task lists the threads that have not exited).
func otherThreads(pid int) bool {
	tasks, err := os.ReadDir("/proc/" + strconv.Itoa(pid) + "/task")
	if err != nil {
		return false
	}
	for _, t := range tasks {
		if t.Name() != strconv.Itoa(pid) {
			return true
		}
	}
	return false
}

// Signal sends sig to pid if it is still the process that started at
// startTime. It returns nil when the process is already gone.
func Signal(pid int, startTime uint64, sig syscall.Signal) error {
	if !Alive(pid, startTime) {
		return nil
	}
	if err := syscall.Kill(pid, sig); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("signal %v to pid %d: %w", sig, pid, err)
	}
	return nil
}

// WaitExit waits until the process is gone, ctx is done or timeout passes.
// It is woken by the kernel through a pidfd the moment the process exits,
// and falls back to polling where pidfds are unavailable.
func WaitExit(ctx context.Context, pid int, startTime uint64, timeout time.Duration) error {
	if !Alive(pid, startTime) {
		return nil
	}
	wctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	err := waitPidfd(wctx, pid, startTime)
	if errors.Is(err, errNoPidfd) {
		err = poll(wctx, pid, startTime)
	}
	if err != nil && ctx.Err() == nil {
		return ErrTimeout // only our own timeout ended the wait
	}
	return err
}

// pollTimeout is how long one poll may block, in milliseconds: at most
// 100, and never negative (to poll(2) a negative timeout means forever), so
// a deadline that passed while this goroutine waited for a CPU ends the
// wait instead of making it endless.
func pollTimeout(ctx context.Context) int {
	d, ok := ctx.Deadline()
	if !ok {
		return 100
	}
	left := time.Until(d)
	switch {
	case left <= 0:
		return 0
	case left < 100*time.Millisecond:
		return int(left/time.Millisecond) + 1
	}
	return 100
}

// errNoPidfd reports that the kernel cannot give a pidfd for the process.
var errNoPidfd = errors.New("pidfd unavailable")

// waitPidfd blocks until the process behind pid exits or ctx is done. The
// pidfd is opened first and the identity checked after, so the fd is known
// to refer to the process that started at startTime.
func waitPidfd(ctx context.Context, pid int, startTime uint64) error {
	fd, err := unix.PidfdOpen(pid, 0)
	if err != nil {
		if errors.Is(err, unix.ESRCH) {
			return nil
		}
		return errNoPidfd
	}
	defer unix.Close(fd)
	if !Alive(pid, startTime) {
		return nil
	}
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		ms := pollTimeout(ctx)
		fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
		n, err := unix.Poll(fds, ms)
		if err != nil && !errors.Is(err, unix.EINTR) {
			return errNoPidfd
		}
		// The pidfd turns readable once every thread has exited, and so
		// does a zombie child; Alive treats both as gone.
		if n > 0 || !Alive(pid, startTime) {
			return nil
		}
		if err := ctx.Err(); err != nil {
			return err
		}
	}
}

// poll checks the process with a short, growing delay.
func poll(ctx context.Context, pid int, startTime uint64) error {
	delay := time.Millisecond
	for {
		if !Alive(pid, startTime) {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(delay):
		}
		if delay < 5*time.Millisecond {
			delay *= 2
		}
	}
}

// Kill sends SIGKILL and waits up to timeout for the process to go away.
func Kill(ctx context.Context, pid int, startTime uint64, timeout time.Duration) error {
	if err := Signal(pid, startTime, syscall.SIGKILL); err != nil {
		return err
	}
	return WaitExit(ctx, pid, startTime, timeout)
}

// FindByArg returns the pids of live processes with an argument that
// contains arg (a VMM's socket path, unique per VM: it may stand alone, as
// in "--api-sock PATH", or inside an option, as in qemu's
// "unix:PATH,server=on"). It is how a restarted daemon finds a VMM whose
// pid was never recorded because the daemon died right after starting it.
func FindByArg(arg string) ([]int, error) {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil, err
	}
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		cmdline, err := os.ReadFile("/proc/" + e.Name() + "/cmdline")
		if err != nil {
			continue
		}
		for _, a := range bytes.Split(cmdline, []byte{0}) {
			if bytes.Contains(a, []byte(arg)) {
				if Alive(pid, 0) {
					pids = append(pids, pid)
				}
				break
			}
		}
	}
	return pids, nil
}
