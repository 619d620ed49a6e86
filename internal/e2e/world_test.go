package e2e

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"banger/internal/testtier"
)

// commandTimeout bounds one banger command.
const commandTimeout = 90 * time.Second

// world is one private banger installation: its own XDG directories,
// config file, daemon and VMs, all under root.
type world struct {
	t    *testing.T // the running test or subtest; subtests set it
	top  *testing.T // the test that owns the world and its cleanup
	bin  binaries
	root string
	env  []string

	daemon   *exec.Cmd     // the daemon started with startDaemon, if running
	exited   chan struct{} // closed when daemon has exited
	exitErr  error         // daemon's wait result, valid once exited is closed
	daemonNo int           // how many daemons startDaemon has run
	netns    string        // the network namespace everything of this world runs in
	runAs    []string      // a command prefix that runs the CLI and daemon as another user; nil: root
}

// newWorld creates a world with a config that points at the fake
// Firecracker. The root is short so that socket paths stay well under
// the 108-byte limit of unix socket addresses.
func newWorld(t *testing.T) *world {
	t.Helper()
	testtier.Root(t) // a network namespace per world, taps, other uids
	bin := build(t)
	root, err := os.MkdirTemp("", "bge")
	if err != nil {
		t.Fatalf("create world root: %v", err)
	}
	w := &world{t: t, top: t, bin: bin, root: root, netns: newNetns(t)}
	t.Cleanup(w.cleanup)
	for _, d := range []string{"config/banger", "state", "cache", "run", "bin", "files"} {
		if err := os.MkdirAll(w.path(d), 0o700); err != nil {
			t.Fatalf("create %s: %v", d, err)
		}
	}
	// The daemon runs through a link inside the root, so every process of
	// this world (daemon and VMMs) names the root on its command line.
	if err := os.Symlink(bin.bangerd, w.path("bin/bangerd")); err != nil {
		t.Fatalf("link bangerd: %v", err)
	}
	cfg := fmt.Sprintf("[vmm]\ndriver = \"firecracker\"\nfirecracker_bin = %q\nstop_timeout = \"5s\"\n\n[vm]\nvcpus = 1\nmemory = \"128M\"\ndisk_size = \"256M\"\n", bin.firecracker)
	if err := os.WriteFile(w.path("config/banger/config.toml"), []byte(cfg), 0o600); err != nil {
		t.Fatalf("write config: %v", err)
	}
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(name, "XDG_") || strings.HasPrefix(name, "BANGER") || strings.HasPrefix(name, "FAKEFC_") {
			continue
		}
		w.env = append(w.env, kv)
	}
	w.env = append(w.env,
		"XDG_CONFIG_HOME="+w.path("config"),
		"XDG_STATE_HOME="+w.path("state"),
		"XDG_CACHE_HOME="+w.path("cache"),
		"XDG_RUNTIME_DIR="+w.path("run"),
		"BANGERD="+w.path("bin/bangerd"),
	)
	return w
}

// path joins rel to the world root.
func (w *world) path(rel string) string { return filepath.Join(w.root, rel) }

func (w *world) socket() string    { return w.path("run/banger/bangerd.sock") }
func (w *world) stateDir() string  { return w.path("state/banger") }
func (w *world) vmsDir() string    { return w.path("state/banger/vms") }
func (w *world) runVMsDir() string { return w.path("run/banger/vms") }

// banger runs the CLI and returns what it printed and its exit status.
func (w *world) banger(args ...string) (stdout, stderr string, exit int) {
	w.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), commandTimeout)
	defer cancel()
	cmd := w.command(ctx, w.bin.banger, args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		exit = ee.ExitCode()
	default:
		w.t.Fatalf("run banger %s: %v", strings.Join(args, " "), err)
	}
	if ctx.Err() != nil {
		w.t.Fatalf("banger %s did not finish within %v; stderr:\n%s", strings.Join(args, " "), commandTimeout, errb.String())
	}
	return out.String(), errb.String(), exit
}

// mustBanger runs the CLI and fails the test unless it exits 0.
func (w *world) mustBanger(args ...string) string {
	w.t.Helper()
	out, errs, code := w.banger(args...)
	if code != 0 {
		w.t.Fatalf("banger %s: exit %d\nstdout:\n%s\nstderr:\n%s\ndaemon log:\n%s", strings.Join(args, " "), code, out, errs, w.daemonLog())
	}
	return out
}

// startDaemon runs bangerd as a child of the test with extraEnv added to
// the world's environment and waits until its socket answers.
func (w *world) startDaemon(extraEnv ...string) {
	w.t.Helper()
	if w.daemon != nil {
		w.t.Fatalf("startDaemon: a daemon is already running (pid %d)", w.daemon.Process.Pid)
	}
	w.daemonNo++
	logPath := w.path(fmt.Sprintf("daemon-%d.log", w.daemonNo))
	logf, err := os.OpenFile(logPath, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		w.t.Fatalf("open daemon log: %v", err)
	}
	defer logf.Close()
	cmd := w.command(context.Background(), w.path("bin/bangerd"))
	cmd.Env = append(append([]string{}, w.env...), extraEnv...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		w.t.Fatalf("start bangerd: %v", err)
	}
	w.daemon, w.exited = cmd, make(chan struct{})
	exited := w.exited
	go func() {
		w.exitErr = cmd.Wait()
		close(exited)
	}()
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-exited:
			w.daemon = nil
			w.t.Fatalf("bangerd exited at start (%v):\n%s", w.exitErr, w.daemonLog())
		case <-time.After(20 * time.Millisecond):
		}
		if c, err := net.Dial("unix", w.socket()); err == nil {
			c.Close()
			return
		}
	}
	w.t.Fatalf("bangerd did not listen on %s within 15s:\n%s", w.socket(), w.daemonLog())
}

// killDaemon signals the daemon started by startDaemon, waits for it to
// exit and returns its exit status (-1 when a signal ended it).
func (w *world) killDaemon(sig syscall.Signal) int {
	w.t.Helper()
	if w.daemon == nil {
		w.t.Fatal("killDaemon: no daemon is running")
	}
	if err := w.daemon.Process.Signal(sig); err != nil {
		w.t.Fatalf("signal bangerd: %v", err)
	}
	return w.waitDaemonExit(20 * time.Second)
}

// waitDaemonExit waits for the daemon started by startDaemon to exit on
// its own and returns its exit status (-1 when a signal ended it).
func (w *world) waitDaemonExit(timeout time.Duration) int {
	w.t.Helper()
	if w.daemon == nil {
		w.t.Fatal("waitDaemonExit: no daemon is running")
	}
	select {
	case <-w.exited:
	case <-time.After(timeout):
		w.t.Fatalf("bangerd (pid %d) did not exit within %v", w.daemon.Process.Pid, timeout)
	}
	code := w.daemon.ProcessState.ExitCode()
	w.daemon = nil
	return code
}

// daemonLog returns the log of the most recent daemon, for failure messages.
func (w *world) daemonLog() string {
	name := w.path(fmt.Sprintf("daemon-%d.log", w.daemonNo))
	if w.daemonNo == 0 {
		name = filepath.Join(w.stateDir(), "bangerd.log")
	}
	b, err := os.ReadFile(name)
	if err != nil {
		return "(no daemon log: " + err.Error() + ")"
	}
	return string(b)
}

// cleanup kills every process of this world (the daemon first, so it
// cannot start more VMMs, then the VMMs) and removes the root.
func (w *world) cleanup() {
	if w.daemon != nil {
		_ = w.daemon.Process.Kill()
		<-w.exited
		w.daemon = nil
	}
	for range 3 {
		procs := w.processes()
		if len(procs) == 0 {
			break
		}
		for _, p := range procs {
			_ = syscall.Kill(p.pid, syscall.SIGKILL)
		}
		waitGone(procs, 5*time.Second)
	}
	if left := w.processes(); len(left) > 0 {
		w.top.Errorf("cleanup: processes of %s survived SIGKILL: %v", w.root, left)
	}
	if err := os.RemoveAll(w.root); err != nil {
		w.top.Errorf("cleanup: %v", err)
	}
}
