package vmmproc

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"banger/internal/errdefs"
	"banger/internal/process"
	"banger/internal/testtier"
)

// statField returns field n (1-based, as in proc(5)) of /proc/<pid>/stat.
func statField(t *testing.T, pid, n int) string {
	t.Helper()
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	return strings.Fields(s[strings.LastIndexByte(s, ')')+1:])[n-3]
}

func TestStartWaitsForSocket(t *testing.T) {
	r := newFakeRun(t)
	// A socket a crashed run left behind must not fool the wait.
	if err := os.WriteFile(r.socket, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	c := r.command(t, 10*time.Second, "serve", "300ms", r.socket)
	c.Reset = []string{filepath.Join(r.logs, "own.log")}
	if err := os.WriteFile(c.Reset[0], []byte("a longer earlier run\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var probes atomic.Int32
	ready := c.Ready
	c.Ready = func(ctx context.Context) error { probes.Add(1); return ready(ctx) }

	p, err := Start(context.Background(), c)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() { _ = process.Kill(context.Background(), p.PID, p.StartTime, 5*time.Second) })
	if p.PID != r.fakePID(t) || p.APISocket != r.socket {
		t.Errorf("Start = %+v, want pid %d and socket %s", p, r.fakePID(t), r.socket)
	}
	if st, _, err := process.StartTime(p.PID); err != nil || st != p.StartTime {
		t.Errorf("StartTime(%d) = %d, %v; Start said %d", p.PID, st, err, p.StartTime)
	}
	if n := probes.Load(); n < 2 {
		t.Errorf("Ready was asked %d times; the fake listens only after a delay, so Start returned before it could answer", n)
	}
	if err := greet(context.Background(), r.socket); err != nil {
		t.Errorf("the fake does not answer after Start returned: %v", err)
	}
	if sid := statField(t, p.PID, 6); sid != strconv.Itoa(p.PID) {
		t.Errorf("session id = %s, want %d: the VMM must lead its own session", sid, p.PID)
	}
	if stdin, err := os.Readlink("/proc/" + strconv.Itoa(p.PID) + "/fd/0"); err != nil || stdin != os.DevNull {
		t.Errorf("stdin = %q, %v; want %s", stdin, err, os.DevNull)
	}
	console, _ := os.ReadFile(c.Stdout)
	vmmLog, _ := os.ReadFile(c.Stderr)
	if got, want := string(console), "fake vmm stdout: serve 300ms "+r.socket+"\n"; got != want {
		t.Errorf("stdout log = %q, want %q", got, want)
	}
	if got, want := string(vmmLog), "fake vmm stderr\n"; got != want {
		t.Errorf("stderr log = %q, want %q", got, want)
	}
	for _, f := range []string{c.Stdout, c.Stderr, c.Reset[0]} {
		if info, err := os.Stat(f); err != nil || info.Mode().Perm() != 0o600 {
			t.Errorf("%s: %v; want mode 0600", f, err)
		}
	}
	if b, err := os.ReadFile(c.Reset[0]); err != nil || len(b) != 0 {
		t.Errorf("Reset file holds %q, %v; want it emptied before the start", b, err)
	}

	// Start reaps its child: once killed, it leaves no zombie.
	if err := syscall.Kill(p.PID, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	waitGone(t, p.PID)
}

func TestStartEarlyExitQuotesLog(t *testing.T) {
	r := newFakeRun(t)
	c := r.command(t, 10*time.Second)
	agent := filepath.Join(r.dir, "agent.sock")
	c.MoreSockets = []string{agent}
	c.Args = append(c.Args, "exit", "3", agent, "30")
	if err := os.WriteFile(c.Stderr, []byte("an earlier run\n"), 0o600); err != nil {
		t.Fatal(err)
	}

	_, err := Start(context.Background(), c)
	if err == nil {
		t.Fatal("Start succeeded with a VMM that exits")
	}
	for _, want := range []string{
		"fakevmm for vm vm-1 exited during start-up (exit status 3)",
		"the last lines of " + c.Stderr + ":\n",
		"fake vmm line 11\n", "fake vmm line 30",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("Start error does not contain %q:\n%v", want, err)
		}
	}
	for _, notWant := range []string{"an earlier run", "fake vmm line 10\n", "fake vmm stdout"} {
		if strings.Contains(err.Error(), notWant) {
			t.Errorf("Start error quotes %q: only the last 20 lines this launch wrote to stderr belong there:\n%v", notWant, err)
		}
	}
	for _, s := range []string{r.socket, agent} {
		if _, err := os.Lstat(s); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("socket %s left behind: %v", s, err)
		}
	}
	waitGone(t, r.fakePID(t))
}

func TestStartDeadlineKills(t *testing.T) {
	r := newFakeRun(t)
	// The fake ignores SIGTERM and never listens. The deadline leaves the
	// fake (this test binary run again) time to start and write its pid
	// on a loaded machine: with 200 ms a CI run killed it before that.
	c := r.command(t, 2*time.Second, "hang")
	_, err := Start(context.Background(), c)
	if err == nil {
		t.Fatal("Start succeeded with a VMM that never answers")
	}
	for _, want := range []string{"fakevmm api socket " + r.socket + " did not answer within 2s", "check " + c.Stderr} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("Start error does not contain %q:\n%v", want, err)
		}
	}
	pid := r.fakePID(t)
	if pid == 0 {
		t.Fatal("the fake never started")
	}
	waitGone(t, pid)
}

func TestStartCancelled(t *testing.T) {
	r := newFakeRun(t)
	ctx, cancel := context.WithCancel(context.Background())
	c := r.command(t, time.Minute, "hang")
	ready := c.Ready
	c.Ready = func(ctx context.Context) error {
		// Cancel once the fake runs, so the wait is what gets cancelled.
		if r.fakePID(t) != 0 {
			cancel()
		}
		return ready(ctx)
	}
	_, err := Start(ctx, c)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Start = %v, want context.Canceled", err)
	}
	waitGone(t, r.fakePID(t))

	// Cancelled before it begins, Start starts nothing.
	r = newFakeRun(t)
	_, err = Start(ctx, r.command(t, time.Minute, "hang"))
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Start with a cancelled context = %v, want context.Canceled", err)
	}
	if pid := r.fakePID(t); pid != 0 {
		waitGone(t, pid)
		t.Fatal("Start with a cancelled context started the VMM")
	}
}

func TestStartMissingExecutable(t *testing.T) {
	r := newFakeRun(t)
	c := r.command(t, time.Second, "hang")
	c.Path = filepath.Join(r.logs, "no-such-vmm")
	_, err := Start(context.Background(), c)
	if err == nil || !strings.Contains(err.Error(), "start "+c.Path+" for vm vm-1") {
		t.Fatalf("Start = %v, want an error naming the executable", err)
	}
}

func TestStartRefusesRuntimeDir(t *testing.T) {
	tests := []struct {
		name  string
		setup func(t *testing.T, dir string)
		want  string
	}{
		{"missing", func(t *testing.T, dir string) { mustRemove(t, dir) }, "does not exist"},
		{"symlink", func(t *testing.T, dir string) {
			// Even to a private directory of the same user: the link
			// itself may be someone else's plant.
			target := dir + ".target"
			if err := os.Mkdir(target, 0o700); err != nil {
				t.Fatal(err)
			}
			mustRemove(t, dir)
			if err := os.Symlink(target, dir); err != nil {
				t.Fatal(err)
			}
		}, "is a symlink"},
		{"file", func(t *testing.T, dir string) {
			mustRemove(t, dir)
			if err := os.WriteFile(dir, nil, 0o600); err != nil {
				t.Fatal(err)
			}
		}, "is not a directory"},
		{"group readable", func(t *testing.T, dir string) { mustChmod(t, dir, 0o750) }, "has mode 0750"},
		{"other searchable", func(t *testing.T, dir string) { mustChmod(t, dir, 0o701) }, "has mode 0701"},
		{"group writable", func(t *testing.T, dir string) { mustChmod(t, dir, 0o720) }, "has mode 0720"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := newFakeRun(t)
			tc.setup(t, r.dir)
			before, _ := os.Lstat(r.dir)
			checkRefused(t, r, tc.want)
			after, _ := os.Lstat(r.dir)
			if (before == nil) != (after == nil) || before != nil && before.Mode() != after.Mode() {
				t.Errorf("Start changed the runtime directory: %v, now %v", before, after)
			}
		})
	}
}

func TestStartRefusesRuntimeDirOfAnotherUser(t *testing.T) {
	testtier.Root(t)
	r := newFakeRun(t)
	if err := os.Chown(r.dir, 65534, 65534); err != nil {
		t.Fatal(err)
	}
	checkRefused(t, r, "is owned by uid 65534, not by uid 0")
}

// checkRefused checks that Start refuses r's runtime directory with a
// FailedPrecondition error containing want, before starting anything.
func checkRefused(t *testing.T, r fakeRun, want string) {
	t.Helper()
	c := r.command(t, time.Second, "serve", "0s", r.socket)
	// What the last run left must survive a refused launch.
	c.Reset = []string{filepath.Join(r.logs, "own.log")}
	if err := os.WriteFile(c.Reset[0], []byte("the last run's log\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := Start(context.Background(), c)
	if b, _ := os.ReadFile(c.Reset[0]); string(b) != "the last run's log\n" {
		t.Errorf("a refused launch emptied %s: it holds %q", c.Reset[0], b)
	}
	if got := errdefs.KindOf(err); got != errdefs.FailedPrecondition {
		t.Errorf("Start error kind = %q, want %q (%v)", got, errdefs.FailedPrecondition, err)
	}
	if err == nil || !strings.Contains(err.Error(), "runtime directory "+r.dir+" "+want) {
		t.Errorf("Start = %v, want an error saying the runtime directory %s", err, want)
	}
	if pid := r.fakePID(t); pid != 0 {
		_ = syscall.Kill(pid, syscall.SIGKILL)
		t.Error("Start launched the VMM into a runtime directory it should refuse")
	}
}

func TestCheckRuntimeDirAcceptsPrivateDir(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "run")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	mustChmod(t, dir, 0o700) // whatever the umask
	if err := CheckRuntimeDir(dir); err != nil {
		t.Errorf("CheckRuntimeDir(private dir) = %v", err)
	}
}

func mustRemove(t *testing.T, p string) {
	t.Helper()
	if err := os.Remove(p); err != nil {
		t.Fatal(err)
	}
}

func mustChmod(t *testing.T, p string, mode os.FileMode) {
	t.Helper()
	if err := os.Chmod(p, mode); err != nil {
		t.Fatal(err)
	}
}
