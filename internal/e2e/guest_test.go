package e2e

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"banger/internal/imagebuild/imagetest"
	"banger/internal/kernelbuild/kerneltest"
	"banger/internal/testtier"
)

// guestTimeout bounds a command that boots a real guest under software
// emulation (a Debian guest with systemd takes tens of seconds here).
const guestTimeout = 5 * time.Minute

// newGuestWorld is a world whose daemon boots real guests with the qemu
// driver, from the banger kernel and the default image built once per
// machine by kerneltest and imagetest.
func newGuestWorld(t *testing.T) *world {
	t.Helper()
	return newGuestWorldWith(t, "", nil)
}

// newGuestWorldWith is newGuestWorld with extra TOML appended to the config
// and prepare run once the world exists, before its daemon starts.
// writeGuestConfig writes w's config for real guests under qemu: vm is
// the [vm] table's lines (and any tables after it). Warm start is off
// unless vm sets it: a background warm build after vm run would boot one
// more guest and show up in what tests count.
func (w *world) writeGuestConfig(vm string) {
	w.t.Helper()
	if !strings.Contains(vm, "warm_start") {
		vm = "warm_start = false\n" + vm
	}
	cfg := "[vmm]\ndriver = \"qemu\"\nstop_timeout = \"30s\"\n\n[vm]\n" + vm
	if err := os.WriteFile(w.path("config/banger/config.toml"), []byte(cfg), 0o600); err != nil {
		w.t.Fatal(err)
	}
}

func newGuestWorldWith(t *testing.T, extraConfig string, prepare func(*world)) *world {
	t.Helper()
	testtier.Guest(t)
	kernel := kerneltest.Vmlinux(t)
	rootfs := imagetest.RootFS(t)
	w := newWorld(t)
	if prepare != nil {
		prepare(w)
	}
	w.writeGuestConfig("vcpus = 2\nmemory = \"512M\"\ndisk_size = \"1G\"\n" + extraConfig)
	w.startDaemon()
	w.mustBanger("image", "register", "--name", "default", "--rootfs", rootfs, "--kernel", kernel)
	return w
}

// guestBanger runs the CLI with the long guest timeout.
func (w *world) guestBanger(stdin string, args ...string) (stdout, stderr string, exit int) {
	w.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), guestTimeout)
	defer cancel()
	cmd := w.command(ctx, w.bin.banger, args...)
	cmd.Stdin = strings.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	if ee, ok := err.(*exec.ExitError); ok {
		exit = ee.ExitCode()
	} else if err != nil {
		w.t.Fatalf("run banger %s: %v", strings.Join(args, " "), err)
	}
	if ctx.Err() != nil {
		w.t.Fatalf("banger %s did not finish within %v; stderr:\n%s\ndaemon log:\n%s", strings.Join(args, " "), guestTimeout, errb.String(), w.daemonLog())
	}
	return out.String(), errb.String(), exit
}

// TestGuestRun boots real guests through banger vm run: a command's output
// and exit code come back, a missing command is reported, --rm leaves
// nothing behind, and without --rm vm run says the VM is still running.
func TestGuestRun(t *testing.T) {
	w := newGuestWorld(t)
	out, errs, code := w.guestBanger("", "vm", "run", "--rm", "--name", "r1", "--", "sh", "-c",
		"uname -a; grep -m1 '^model name' /proc/cpuinfo; echo aslr $(cat /proc/sys/kernel/randomize_va_space)")
	if code != 0 || !strings.Contains(out, "Linux r1 ") || !strings.Contains(out, "-banger") {
		t.Fatalf("vm run -- uname -a: exit %d\nstdout: %s\nstderr: %s\ndaemon log:\n%s", code, out, errs, w.daemonLog())
	}
	// Under software emulation (qemu names the CPU "QEMU TCG CPU") the
	// guest boots with norandmaps (vmm.tcg_aslr is false by default);
	// under KVM it keeps full randomization.
	wantASLR := "aslr 2\n"
	if strings.Contains(out, "TCG") {
		wantASLR = "aslr 0\n"
	}
	if !strings.Contains(out, wantASLR) {
		t.Errorf("vm run: guest output %q lacks %q", out, wantASLR)
	}
	if !strings.Contains(errs, "r1 ready in") {
		t.Errorf("vm run did not print the time to ready: %s", errs)
	}
	// An offline VM whose workspace declares tools gets a note, and the
	// command runs.
	tools := w.path("files/tools")
	toolsFixture(t, tools)
	_, errs, code = w.guestBanger("", "vm", "run", "--rm", "--offline", "--name", "r2", tools, "--", "sh", "-c", "exit 7")
	if code != 7 {
		t.Errorf("vm run -- sh -c 'exit 7': exit %d, want 7\nstderr: %s", code, errs)
	}
	if !strings.Contains(errs, offlineToolsNote("r2")) {
		t.Errorf("vm run --offline with declared tools: stderr %q lacks %q", errs, offlineToolsNote("r2"))
	}
	if strings.Contains(errs, "still running") {
		t.Errorf("vm run --rm said the VM is still running: %s", errs)
	}
	// Without --rm the VM outlives the command, and vm run says so.
	_, errs, code = w.guestBanger("", "vm", "run", "--name", "r3", "--", "no-such-command")
	if code != 127 || !strings.Contains(errs, "no-such-command") {
		t.Errorf("missing command: exit %d, want 127, stderr %q", code, errs)
	}
	if want := "banger: VM r3 is still running; get back in with banger vm exec r3 or banger vm ssh r3; delete it with banger vm delete r3\n"; !strings.HasSuffix(errs, want) {
		t.Errorf("vm run without --rm: stderr %q, want it to end with %q", errs, want)
	}
	w.mustGuestBanger("vm", "delete", "r3")
	if vms := w.vms(); len(vms) != 0 {
		t.Errorf("vm run --rm left VMs: %v", vms)
	}
	w.assertClean()
}

// TestGuestLifecycle keeps one guest through stdin, an interactive shell
// on a terminal, vm cp both ways (and to the stopped VM), stop/start persistence of /root, a daemon restart and
// delete.
func TestGuestLifecycle(t *testing.T) {
	w := newGuestWorld(t)
	out, errs, code := w.guestBanger("", "vm", "run", "-d", "--name", "g")
	if code != 0 || strings.TrimSpace(out) != "g" {
		t.Fatalf("vm run -d: exit %d, stdout %q, stderr %s", code, out, errs)
	}
	out, _, code = w.guestBanger("hello from stdin\n", "vm", "exec", "g", "--", "sh", "-c", "cat > /root/keep && cat /root/keep && echo stderr-line >&2")
	if code != 0 || out != "hello from stdin\n" {
		t.Fatalf("exec with stdin: exit %d, stdout %q", code, out)
	}

	t.Run("interactive shell", func(t *testing.T) {
		w.t = t
		got := w.interactive(t, "echo $((6*7)); tty; exit 3\n", "vm", "exec", "g")
		if !strings.Contains(got.out, "42") || !strings.Contains(got.out, "/dev/pts/") || got.code != 3 {
			t.Errorf("interactive shell: exit %d, output:\n%s", got.code, got.out)
		}
	})
	w.t = t

	t.Run("vm cp", func(t *testing.T) {
		w.t = t
		testCp(t, w, "g")
	})
	w.t = t

	w.mustGuestBanger("vm", "stop", "g")
	_, errs, code = w.guestBanger("", "vm", "cp", "/etc/hostname", "g:/root/")
	if code == 0 || !strings.Contains(errs, "VM g is stopped: start it with banger vm start g") {
		t.Errorf("vm cp to a stopped VM: exit %d, stderr %q", code, errs)
	}
	// The guest agent ended the guest: the stop did not fall back to a kill.
	if log := w.daemonLog(); strings.Contains(log, "did not shut down in time") || strings.Contains(log, "did not take the shutdown request") {
		t.Errorf("graceful stop fell back:\n%s", log)
	}
	w.mustGuestBanger("vm", "start", "g")
	w.mustGuestBanger("vm", "exec", "g", "--", "true") // waits for the agent via exec's own wait below
	out = w.mustGuestBanger("vm", "exec", "g", "--", "cat", "/root/keep")
	if out != "hello from stdin\n" {
		t.Errorf("/root/keep after stop and start = %q", out)
	}
	out = w.mustGuestBanger("vm", "exec", "g", "--", "sh", "-c", "test -e /var/tmp/marker && echo stale; touch /var/tmp/marker; echo ok")
	if out != "ok\n" {
		t.Errorf("root filesystem state = %q", out)
	}
	// The identity came on the identity disk, at this second boot too.
	checkIdentityDisk(t, w, "g")

	// The guest keeps running across a daemon crash and stays reachable;
	// a paused guest stays paused across one (see pauseAcrossRestart).
	pid := w.vm("g").PID
	pauseAcrossRestart(t, w, "g")
	if v := w.vm("g"); v.PID != pid || v.State != "running" {
		t.Fatalf("after daemon restart: %s pid %d, want running pid %d", v.State, v.PID, pid)
	}
	out = w.mustGuestBanger("vm", "exec", "g", "--", "cat", "/root/keep")
	if out != "hello from stdin\n" {
		t.Errorf("exec after daemon restart = %q", out)
	}
	snapshotRunning(t, w, "g")

	w.mustGuestBanger("vm", "delete", "g")
	w.assertClean()
}

// mustGuestBanger runs the CLI with the guest timeout and fails unless it
// exits 0.
func (w *world) mustGuestBanger(args ...string) string {
	w.t.Helper()
	out, errs, code := w.guestBanger("", args...)
	if code != 0 {
		w.t.Fatalf("banger %s: exit %d\nstdout: %s\nstderr: %s\ndaemon log:\n%s", strings.Join(args, " "), code, out, errs, w.daemonLog())
	}
	return out
}

type ptyResult struct {
	out  string
	code int
}

// interactive runs banger on a pseudo-terminal, types input and returns
// what the terminal showed and the exit code.
func (w *world) interactive(t *testing.T, input string, args ...string) ptyResult {
	t.Helper()
	master, slave := openPTY(t)
	defer master.Close()
	ctx, cancel := context.WithTimeout(context.Background(), guestTimeout)
	defer cancel()
	cmd := w.command(ctx, w.bin.banger, args...)
	cmd.Env = append(w.env, "TERM=dumb")
	cmd.Stdin, cmd.Stdout, cmd.Stderr = slave, slave, slave
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	slave.Close()
	var out bytes.Buffer
	done := make(chan struct{})
	go func() {
		_, _ = io.Copy(&out, master)
		close(done)
	}()
	// Give the shell a moment to start, then type.
	time.Sleep(2 * time.Second)
	_, _ = io.WriteString(master, input)
	err := cmd.Wait()
	master.Close()
	<-done
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("interactive banger: %v", err)
	}
	return ptyResult{out: out.String(), code: code}
}

// openPTY opens a pseudo-terminal pair.
func openPTY(t *testing.T) (master, slave *os.File) {
	t.Helper()
	m, err := os.OpenFile("/dev/ptmx", os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("needs /dev/ptmx for a terminal: %v", err)
	}
	if err := unix.IoctlSetPointerInt(int(m.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		t.Fatal(err)
	}
	n, err := unix.IoctlGetInt(int(m.Fd()), unix.TIOCGPTN)
	if err != nil {
		t.Fatal(err)
	}
	s, err := os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	return m, s
}
