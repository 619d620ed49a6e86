package e2e

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// runDaemonOnce runs another bangerd of this world with extraEnv added and
// returns what it printed and its exit status, for daemons that must exit
// at once.
func (w *world) runDaemonOnce(extraEnv ...string) (string, int) {
	w.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), commandTimeout)
	defer cancel()
	cmd := w.command(ctx, w.path("bin/bangerd"))
	cmd.Env = append(append([]string{}, w.env...), extraEnv...)
	out, err := cmd.CombinedOutput()
	if ctx.Err() != nil {
		w.t.Fatalf("a second bangerd did not exit within %v:\n%s", commandTimeout, out)
	}
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		w.t.Fatalf("run bangerd: %v", err)
	}
	return string(out), cmd.ProcessState.ExitCode()
}

// daemons lists the live bangerd processes of this world.
func (w *world) daemons() []proc {
	var out []proc
	for _, p := range w.processes() {
		if strings.Contains(p.cmdline, w.path("bin/bangerd")) {
			out = append(out, p)
		}
	}
	return out
}

// TestOneDaemonPerState: a second bangerd on the state of a running one,
// with the same or with another XDG_RUNTIME_DIR, exits at once with status
// 3 naming the running daemon's pid; the first keeps its socket and its
// VMs, and no VMM holds the daemon's lock.
func TestOneDaemonPerState(t *testing.T) {
	w := newWorld(t)
	w.startDaemon()
	w.registerImage()
	w.mustBanger(append([]string{"vm", "create", "--start", "a"}, vmFlags...)...)
	first := w.daemon.Process.Pid
	if err := os.Mkdir(w.path("run2"), 0o700); err != nil {
		t.Fatal(err)
	}
	for _, env := range [][]string{nil, {"XDG_RUNTIME_DIR=" + w.path("run2")}} {
		out, code := w.runDaemonOnce(env...)
		want := fmt.Sprintf("bangerd: bangerd is already running on state directory %s (pid %d): use that one, or stop it first with banger daemon stop\n", w.stateDir(), first)
		if code != 3 || out != want {
			t.Errorf("second bangerd (%v): exit %d, output %q; want exit 3 and %q", env, code, out, want)
		}
	}
	if e := entries(w.path("run2/banger")); len(e) != 0 {
		t.Errorf("the refused daemon made %v in its runtime directory", e)
	}
	if fi, err := os.Lstat(w.socket()); err != nil || fi.Mode()&os.ModeSocket == 0 {
		t.Fatalf("the first daemon's socket is gone: %v", err)
	}
	if vms := w.vms(); vms["a"].State != "running" {
		t.Errorf("after the refused daemons, a is %s, want running", vms["a"].State)
	}
	for _, p := range w.vmmProcesses() {
		fds, _ := filepath.Glob(fmt.Sprintf("/proc/%d/fd/*", p.pid))
		for _, fd := range fds {
			if target, _ := os.Readlink(fd); strings.HasSuffix(target, "bangerd.lock") {
				t.Errorf("VMM pid %d holds %s, the daemon's lock", p.pid, target)
			}
		}
	}
	if got := w.daemons(); len(got) != 1 || got[0].pid != first {
		t.Errorf("daemons running: %v, want only pid %d", got, first)
	}

	// A CLI whose runtime directory is another: the daemon it starts
	// loses, and it says which daemon holds the state.
	ctx, cancel := context.WithTimeout(context.Background(), commandTimeout)
	defer cancel()
	cmd := w.command(ctx, w.bin.banger, "vm", "list")
	cmd.Env = append(append([]string{}, w.env...), "XDG_RUNTIME_DIR="+w.path("run2"))
	out, err := cmd.CombinedOutput()
	want := fmt.Sprintf("banger: no bangerd answers on %s, and the one started for it exited: \n    bangerd: bangerd is already running on state directory %s (pid %d)",
		w.path("run2/banger/bangerd.sock"), w.stateDir(), first)
	if err == nil || !strings.Contains(string(out), want) {
		t.Errorf("banger vm list with another runtime directory: %v\n%s\nwant it to contain %q", err, out, want)
	}
	if got := w.daemons(); len(got) != 1 || got[0].pid != first {
		t.Errorf("daemons running: %v, want only pid %d", got, first)
	}
}

// TestParallelDaemons: daemons started together over a stale socket (a
// crashed daemon's) end as exactly one, which keeps serving on the socket
// after the others have exited, each with status 3.
func TestParallelDaemons(t *testing.T) {
	w := newWorld(t)
	w.startDaemon()
	if got := w.killDaemon(syscall.SIGKILL); got != -1 {
		t.Fatalf("daemon exit %d after SIGKILL", got)
	}
	if _, err := os.Lstat(w.socket()); err != nil {
		t.Fatalf("no stale socket after SIGKILL: %v", err)
	}
	const n = 6
	type result struct {
		out  string
		code int
	}
	results := make(chan result, n)
	var wg sync.WaitGroup
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cmd := w.command(context.Background(), w.path("bin/bangerd"))
			cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
			out, _ := cmd.CombinedOutput() // the winner keeps running: its output never ends
			results <- result{string(out), cmd.ProcessState.ExitCode()}
		}()
	}
	// The losers exit; the winner serves until the test stops it.
	var losers []result
	deadline := time.After(commandTimeout)
	for len(losers) < n-1 {
		select {
		case r := <-results:
			losers = append(losers, r)
		case <-deadline:
			t.Fatalf("only %d of %d parallel daemons exited: %v", len(losers), n-1, losers)
		}
	}
	for _, r := range losers {
		if r.code != 3 || !strings.Contains(r.out, "bangerd is already running on") {
			t.Errorf("a losing daemon exited %d with %q, want 3 and \"already running\"", r.code, r.out)
		}
	}
	daemons := w.daemons()
	if len(daemons) != 1 {
		t.Fatalf("daemons running: %v, want exactly one", daemons)
	}
	// The losers gave up at once; the winner may still be starting.
	for deadline := time.Now().Add(15 * time.Second); ; {
		if _, _, code := w.banger("daemon", "status"); code == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the winning daemon did not answer within 15s")
		}
		time.Sleep(20 * time.Millisecond)
	}
	out := w.mustBanger("daemon", "status", "--json")
	if !strings.Contains(out, fmt.Sprintf(`"pid": %d,`, daemons[0].pid)) {
		t.Errorf("daemon status does not name the one running daemon (pid %d):\n%s", daemons[0].pid, out)
	}
	w.mustBanger("daemon", "stop")
	wg.Wait()
	if r := <-results; r.code != 0 {
		t.Errorf("the winning daemon exited %d after banger daemon stop:\n%s", r.code, r.out)
	}
}

// TestParallelAutoStart: CLIs run together over a stale socket all start
// a daemon if none answers; they end with exactly one daemon, all
// succeed, and none reports another daemon's log as its failure.
func TestParallelAutoStart(t *testing.T) {
	w := newWorld(t)
	w.startDaemon()
	if got := w.killDaemon(syscall.SIGKILL); got != -1 {
		t.Fatalf("daemon exit %d after SIGKILL", got)
	}
	const n = 6
	type result struct {
		stderr string
		err    error
	}
	results := make([]result, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), commandTimeout)
			defer cancel()
			cmd := w.command(ctx, w.bin.banger, "vm", "list")
			var stderr strings.Builder
			cmd.Stderr = &stderr
			err := cmd.Run()
			results[i] = result{stderr.String(), err}
		}()
	}
	wg.Wait()
	started := 0
	for i, r := range results {
		if r.err != nil {
			t.Errorf("banger %d: %v\n%s", i, r.err, r.stderr)
		}
		if strings.Contains(r.stderr, "started bangerd") {
			started++
		}
	}
	if started != 1 {
		t.Errorf("%d CLIs started a daemon, want 1", started)
	}
	if d := w.daemons(); len(d) != 1 {
		t.Errorf("daemons running: %v, want exactly one", d)
	}
	w.mustBanger("daemon", "stop")
	if d := w.daemons(); len(d) != 0 {
		t.Errorf("daemons still running after banger daemon stop: %v", d)
	}
}

// TestDaemonStatusAndStop: status shows the running daemon, stop ends it
// cleanly and waits for it, VMs keep running, and both commands say when
// no daemon runs without starting one.
func TestDaemonStatusAndStop(t *testing.T) {
	w := newWorld(t)
	w.startDaemon()
	w.registerImage()
	w.mustBanger(append([]string{"vm", "create", "--start", "a"}, vmFlags...)...)
	pid := w.daemon.Process.Pid
	vmm := w.vm("a").PID

	var st struct {
		Running       bool   `json:"running"`
		Socket        string `json:"socket"`
		PID           int    `json:"pid"`
		StateDir      string `json:"state_dir"`
		UptimeSeconds *int64 `json:"uptime_seconds"`
		VMs           int    `json:"vms"`
		VMsRunning    int    `json:"vms_running"`
	}
	w.decode(w.mustBanger("daemon", "status", "--json"), &st)
	if !st.Running || st.PID != pid || st.Socket != w.socket() || st.StateDir != w.stateDir() || st.VMs != 1 || st.VMsRunning != 1 {
		t.Errorf("daemon status = %+v, want running pid %d on %s, state %s, 1 VM running", st, pid, w.socket(), w.stateDir())
	}
	if out := w.mustBanger("daemon", "status"); !strings.Contains(out, "Status:    running\nPID:       "+fmt.Sprint(pid)+"\n") {
		t.Errorf("daemon status:\n%s", out)
	}

	out := w.mustBanger("daemon", "stop")
	if want := fmt.Sprintf("stopped bangerd (pid %d); VMs keep running\n", pid); out != want {
		t.Errorf("daemon stop printed %q, want %q", out, want)
	}
	// stop returned once the daemon had exited: it is no longer running
	// (at most not yet reaped by this test, its parent).
	if alive(pid) {
		t.Errorf("bangerd pid %d still runs after banger daemon stop", pid)
	}
	if code := w.waitDaemonExit(20 * time.Second); code != 0 {
		t.Errorf("bangerd exit status %d after banger daemon stop, want 0:\n%s", code, w.daemonLog())
	}
	if _, err := os.Lstat(w.socket()); err == nil {
		t.Errorf("socket %s still exists after banger daemon stop", w.socket())
	}
	if !alive(vmm) {
		t.Errorf("VMM of a (pid %d) died with the daemon", vmm)
	}

	stdout, _, code := w.banger("daemon", "status")
	if want := "bangerd is not running (no daemon answers on " + w.socket() + ")\n"; code != 3 || stdout != want {
		t.Errorf("daemon status without a daemon: exit %d, %q; want exit 3, %q", code, stdout, want)
	}
	stdout, _, code = w.banger("daemon", "stop")
	if code != 0 || !strings.Contains(stdout, "nothing to stop") {
		t.Errorf("daemon stop without a daemon: exit %d, %q; want exit 0 and nothing to stop", code, stdout)
	}
	if d := w.daemons(); len(d) != 0 {
		t.Errorf("daemon status or stop started a daemon: %v", d)
	}

	w.startDaemon()
	if v := w.vm("a"); v.State != "running" || v.PID != vmm {
		t.Errorf("after the restart a is %s with pid %d, want running with pid %d", v.State, v.PID, vmm)
	}
	w.mustBanger("vm", "delete", "a")
	w.assertClean()
}
