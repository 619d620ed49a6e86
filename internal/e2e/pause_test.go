package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// tickLine is what the guest's counter writes to its serial console.
var tickLine = regexp.MustCompile(`tick-(\d+)`)

// lastTick is the highest counter value in VM name's console log.
func lastTick(w *world, name string) int {
	w.t.Helper()
	last := 0
	for _, m := range tickLine.FindAllStringSubmatch(w.mustGuestBanger("vm", "logs", name), -1) {
		if n, _ := strconv.Atoi(m[1]); n > last {
			last = n
		}
	}
	return last
}

// pauseAcrossRestart starts a counter in the running guest name that
// writes to the serial console, which the host reads without the guest's
// help; pauses the VM and checks the counter stands still, that the guest
// agent is refused with a hint, that the VM stays paused with the same VMM
// across a daemon crash, and that after resume the counter goes on. It
// leaves the VM running, with the daemon restarted.
func pauseAcrossRestart(t *testing.T, w *world, name string) {
	t.Helper()
	w.mustGuestBanger("vm", "exec", name, "--", "sh", "-c",
		`setsid sh -c 'i=0; while :; do i=$((i+1)); echo tick-$i > /dev/ttyS0; sleep 0.2; done' </dev/null >/dev/null 2>&1 &`)
	waitTick := func(above int) int {
		t.Helper()
		deadline := time.Now().Add(time.Minute)
		for {
			if n := lastTick(w, name); n > above {
				return n
			}
			if time.Now().After(deadline) {
				t.Fatalf("the guest's counter did not pass %d within a minute; console:\n%s", above, w.mustGuestBanger("vm", "logs", name))
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	waitTick(0)
	pid := w.vm(name).PID
	if out := w.mustGuestBanger("vm", "pause", name); strings.TrimSpace(out) != "paused "+name {
		t.Errorf("vm pause printed %q", out)
	}
	if v := w.vm(name); v.State != "paused" || v.PID != pid {
		t.Fatalf("after vm pause: %s pid %d, want paused pid %d", v.State, v.PID, pid)
	}
	// Output already on its way to the console may still land: read the
	// counter once it settled, then again after many of its periods.
	time.Sleep(time.Second)
	frozen := lastTick(w, name)
	time.Sleep(3 * time.Second)
	if n := lastTick(w, name); n != frozen {
		t.Errorf("the counter advanced while paused: %d -> %d", frozen, n)
	}
	_, errs, code := w.guestBanger("", "vm", "exec", name, "--", "true")
	if code == 0 || !strings.Contains(errs, "VM "+name+" is paused: resume it with banger vm resume "+name) {
		t.Errorf("exec in a paused VM: exit %d, stderr %q", code, errs)
	}

	w.killDaemon(syscall.SIGKILL)
	w.startDaemon()
	if v := w.vm(name); v.State != "paused" || v.PID != pid {
		t.Fatalf("after daemon restart: %s pid %d, want paused pid %d", v.State, v.PID, pid)
	}
	if n := lastTick(w, name); n != frozen {
		t.Errorf("the counter advanced while paused across the daemon restart: %d -> %d", frozen, n)
	}
	w.mustGuestBanger("vm", "resume", name)
	waitTick(frozen)
	w.mustGuestBanger("vm", "exec", name, "--", "pkill", "-f", "tick-")
}

// snapshotRunning saves the running guest name: the snapshot holds the
// qemu migration stream and both disks as they were at that instant (a
// file the guest removes afterwards is still in the copy), and the guest
// runs on.
func snapshotRunning(t *testing.T, w *world, name string) {
	t.Helper()
	w.mustGuestBanger("vm", "exec", name, "--", "sh", "-c", "echo at-snapshot > /root/instant && sync")
	start := time.Now()
	w.mustGuestBanger("vm", "snapshot", name, "--name", name+"-snap")
	t.Logf("vm snapshot of a running %s: %s", name, time.Since(start).Round(time.Millisecond))
	s, ok := w.snapshots()[name+"-snap"]
	if !ok || s.State != "ready" || s.VM != name || s.Driver != "qemu" || s.SizeBytes <= 0 {
		t.Fatalf("snapshot after vm snapshot: %+v (found %v)", s, ok)
	}
	t.Logf("snapshot of %s: %d MiB on disk", name, s.SizeBytes>>20)
	for _, f := range []string{"vmm.state", "root.ext4", "work.ext4"} {
		if fi, err := os.Stat(filepath.Join(w.stateDir(), "snapshots", s.ID, f)); err != nil || fi.Size() == 0 {
			t.Errorf("snapshot file %s: %v", f, err)
		}
	}
	if v := w.vm(name); v.State != "running" {
		t.Errorf("%s after vm snapshot: %s, want running", name, v.State)
	}
	w.mustGuestBanger("vm", "exec", name, "--", "sh", "-c", "rm /root/instant && sync")
	// /root is the work disk (LABEL=work in the image's fstab).
	out, err := exec.Command("debugfs", "-R", "cat /instant", filepath.Join(w.stateDir(), "snapshots", s.ID, "work.ext4")).Output()
	if err != nil || string(out) != "at-snapshot\n" {
		t.Errorf("/root/instant in the snapshot's work disk = %q, %v; want the file as it was when saved", out, err)
	}
	if out := w.mustGuestBanger("vm", "exec", name, "--", "echo", "still here"); out != "still here\n" {
		t.Errorf("exec after vm snapshot = %q", out)
	}
	restoreSnapshot(t, w, name+"-snap")
	w.mustBanger("snapshot", "rm", name+"-snap")
	if e := entries(filepath.Join(w.stateDir(), "snapshots")); len(e) != 0 {
		t.Errorf("snapshot directories left after rm: %v", e)
	}
}

// restoreSnapshot makes a VM from snapshot snap with vm create
// --from-snapshot: it runs the saved guest (the file the original removed
// after the snapshot is there, its agent answers through the new VMM's
// socket), keeps the snapshot from being deleted, and is deleted.
func restoreSnapshot(t *testing.T, w *world, snap string) {
	t.Helper()
	// vm run resumes the saved guest as a VM of its own name.
	out := w.mustGuestBanger("vm", "run", "--rm", "--name", "run-restored", "--from-snapshot", snap, "--", "sh", "-c", "cat /root/instant; hostname")
	if out != "at-snapshot\nrun-restored\n" {
		t.Errorf("vm run --from-snapshot %s: %q, want the saved file and the VM's own host name", snap, out)
	}
	start := time.Now()
	w.mustGuestBanger("vm", "create", "--from-snapshot", snap, "restored")
	t.Logf("vm create --from-snapshot %s: %s", snap, time.Since(start).Round(time.Millisecond))
	if v := w.vm("restored"); v.State != "running" || v.Snapshot != snap {
		t.Errorf("restored: %s from snapshot %q, want running from %s", v.State, v.Snapshot, snap)
	}
	if out := w.mustGuestBanger("vm", "exec", "restored", "--", "sh", "-c", "cat /root/instant; hostname"); out != "at-snapshot\nrestored\n" {
		t.Errorf("/root/instant and the host name in the restored guest = %q, want the file as it was when saved and its own name", out)
	}
	if _, errs, code := w.banger("snapshot", "rm", snap); code == 0 || !strings.Contains(errs, "restored") {
		t.Errorf("snapshot rm of a snapshot in use: exit %d, stderr %q; want a refusal naming restored", code, errs)
	}
	w.mustGuestBanger("vm", "delete", "restored")
}
