package process

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// sleeperEnv makes the test binary, run as a child, sleep instead of
// testing: a child that neither forks nor rewrites its argv, so exactly
// one process carries the marker.
const sleeperEnv = "BANGER_PROCESS_TEST_SLEEPER"

// leaderExitsEnv makes the test binary, run as a child, end its main
// thread alone (exit, not exit_group) while the runtime's other threads
// live on: its leader is a zombie and the process still runs.
const leaderExitsEnv = "BANGER_PROCESS_TEST_LEADER_EXITS"

// The main goroutine stays on the main thread, the thread-group leader,
// so that leaderExitsEnv's exit ends the leader.
func init() { runtime.LockOSThread() }

func TestMain(m *testing.M) {
	if os.Getenv(sleeperEnv) == "1" {
		time.Sleep(30 * time.Second)
		os.Exit(0)
	}
	if os.Getenv(leaderExitsEnv) == "1" {
		go func() {
			time.Sleep(30 * time.Second)
			os.Exit(0)
		}()
		_, _, _ = unix.RawSyscall(unix.SYS_EXIT, 0, 0, 0)
	}
	os.Exit(m.Run())
}

// TestZombieLeaderWithThreads: a process whose leader thread exited while
// others run (as a killed qemu is for a moment, its vCPU threads still
// holding the disk images' locks) is alive until the last thread is gone:
// WaitExit waits for it, and Kill ends it.
func TestZombieLeaderWithThreads(t *testing.T) {
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), leaderExitsEnv+"=1")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	t.Cleanup(func() { _ = cmd.Process.Kill(); <-done })
	pid := cmd.Process.Pid
	var start uint64
	for deadline := time.Now().Add(10 * time.Second); ; {
		st, zombie, err := StartTime(pid)
		if err != nil {
			t.Fatalf("StartTime(%d): %v", pid, err)
		}
		if zombie {
			start = st
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the child's leader thread did not exit")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if !otherThreads(pid) {
		t.Fatal("the child has no thread left besides its zombie leader")
	}
	if !Alive(pid, start) {
		t.Fatal("Alive = false for a process whose leader exited but whose other threads run")
	}
	if err := WaitExit(context.Background(), pid, start, 200*time.Millisecond); err != ErrTimeout {
		t.Fatalf("WaitExit = %v, want ErrTimeout while threads run", err)
	}
	if err := Kill(context.Background(), pid, start, 5*time.Second); err != nil {
		t.Fatalf("Kill: %v", err)
	}
	if Alive(pid, start) {
		t.Fatal("Alive after Kill")
	}
}

func TestLifecycle(t *testing.T) {
	// Unique per test process: another run of this test may be alive.
	marker := fmt.Sprintf("banger-process-test-%d-%s", os.Getpid(), t.Name())
	cmd := exec.Command(os.Args[0], "-test.run=^$", marker)
	cmd.Env = append(os.Environ(), sleeperEnv+"=1")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	pid := cmd.Process.Pid

	start, zombie, err := StartTime(pid)
	if err != nil || zombie {
		t.Fatalf("StartTime(%d) = %d, %v, %v", pid, start, zombie, err)
	}
	if !Alive(pid, start) {
		t.Fatal("Alive = false for a running process")
	}
	if Alive(pid, start+1) {
		t.Fatal("Alive = true for a different start time (pid reuse not detected)")
	}
	// Start returns once the child's close-on-exec pipe closes, which the
	// kernel does before it has set up the new argv; /proc/PID/cmdline can
	// still read empty for a moment, so look again until it shows.
	var pids []int
	for deadline := time.Now().Add(5 * time.Second); ; {
		pids, err = FindByArg(marker)
		if err != nil {
			t.Fatal(err)
		}
		if len(pids) > 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	if len(pids) != 1 || pids[0] != pid {
		t.Fatalf("FindByArg = %v, want [%d]", pids, pid)
	}
	if err := Kill(context.Background(), pid, start, 5*time.Second); err != nil {
		t.Fatalf("Kill: %v", err)
	}
	<-done
	if Alive(pid, start) {
		t.Fatal("Alive after Kill")
	}
	// Signalling a gone process is not an error.
	if err := Signal(pid, start, 9); err != nil {
		t.Fatalf("Signal of gone process: %v", err)
	}
}

func TestWaitExitTimeout(t *testing.T) {
	start, _, err := StartTime(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	err = WaitExit(context.Background(), os.Getpid(), start, 20*time.Millisecond)
	if err != ErrTimeout {
		t.Fatalf("WaitExit on self = %v, want ErrTimeout", err)
	}
}

func TestStartTimeInvalid(t *testing.T) {
	if _, _, err := StartTime(0); err == nil {
		t.Fatal("StartTime(0) succeeded")
	}
	if Alive(-1, 0) {
		t.Fatal("Alive(-1)")
	}
}

func TestWaitExitWakesOnExit(t *testing.T) {
	cmd := exec.Command("sleep", "0.2")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { _ = cmd.Wait() }()
	start, _, err := StartTime(cmd.Process.Pid)
	if err != nil {
		t.Fatal(err)
	}
	if err := WaitExit(context.Background(), cmd.Process.Pid, start, 10*time.Second); err != nil {
		t.Fatalf("WaitExit = %v", err)
	}
	if Alive(cmd.Process.Pid, start) {
		t.Fatal("WaitExit returned while the process lives")
	}
}

func TestWaitExitCancelled(t *testing.T) {
	start, _, err := StartTime(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := WaitExit(ctx, os.Getpid(), start, time.Second); err != context.Canceled {
		t.Fatalf("WaitExit with cancelled ctx = %v, want context.Canceled", err)
	}
}

func TestPollTimeoutIsNeverNegative(t *testing.T) {
	tests := []struct {
		name string
		ctx  func() (context.Context, context.CancelFunc)
		want func(int) bool
	}{
		{"no deadline", func() (context.Context, context.CancelFunc) { return context.WithCancel(context.Background()) },
			func(ms int) bool { return ms == 100 }},
		{"far deadline", func() (context.Context, context.CancelFunc) {
			return context.WithTimeout(context.Background(), time.Hour)
		},
			func(ms int) bool { return ms == 100 }},
		{"near deadline", func() (context.Context, context.CancelFunc) {
			return context.WithTimeout(context.Background(), 20*time.Millisecond)
		}, func(ms int) bool { return ms >= 1 && ms <= 21 }},
		{"deadline passed", func() (context.Context, context.CancelFunc) {
			return context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
		}, func(ms int) bool { return ms == 0 }},
	}
	for _, tt := range tests {
		ctx, cancel := tt.ctx()
		if got := pollTimeout(ctx); !tt.want(got) {
			t.Errorf("%s: pollTimeout = %d", tt.name, got)
		}
		cancel()
	}
}
