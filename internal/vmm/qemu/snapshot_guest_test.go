package qemu_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"banger/internal/process"
	"banger/internal/vmm"
	"banger/internal/vmm/qemu"
	"banger/internal/vmm/qemu/qemutest"
)

// echo sends msg over the agent channel of spec and checks it comes back.
func echo(t *testing.T, d *qemu.Driver, spec vmm.Spec, msg string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	conn, err := d.DialAgent(ctx, spec, vmm.AgentPort)
	cancel()
	if err != nil {
		t.Fatalf("DialAgent: %v", err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(20 * time.Second))
	if _, err := conn.Write([]byte(msg)); err != nil {
		t.Fatalf("write: %v", err)
	}
	buf := make([]byte, len(msg))
	for n := 0; n < len(buf); {
		m, err := conn.Read(buf[n:])
		if err != nil {
			t.Fatalf("read echo after %q: %v", buf[:n], err)
		}
		n += m
	}
	if string(buf) != msg {
		t.Errorf("echo = %q, want %q", buf, msg)
	}
}

// TestRestoredGuestKeepsAgentChannel: a guest restored from a snapshot in a
// new qemu, on copies of its disks and with its own sockets, answers on the
// agent channel of the new VMM (the virtio-serial port reconnects to the
// new host socket), while the original goes on answering on its own.
func TestRestoredGuestKeepsAgentChannel(t *testing.T) {
	qemutest.Binary(t)
	ctx := context.Background()
	d := qemu.New(qemu.Config{Accel: qemu.AccelTCG})
	spec := guestSpec(t)
	p := startGuest(t, d, spec)
	waitConsole(t, spec, qemutest.AgentEchoing)
	echo(t, d, spec, "before the snapshot\n")

	if err := d.Pause(ctx, p); err != nil {
		t.Fatalf("Pause: %v", err)
	}
	dir := t.TempDir()
	files := vmm.SnapshotFiles{State: filepath.Join(dir, "state")}
	start := time.Now()
	if err := d.Snapshot(ctx, p, files); err != nil {
		t.Fatalf("Snapshot: %v", err)
	}
	fi, err := os.Stat(files.State)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("snapshot of %d MiB guest: %d MiB in %s", spec.MemoryMiB, fi.Size()>>20, time.Since(start).Round(time.Millisecond))
	clone := guestSpec(t)
	clone.Restore = true
	for src, dst := range map[string]string{spec.RootDisk: clone.RootDisk, spec.WorkDisk: clone.WorkDisk} {
		data, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(dst, data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := d.Resume(ctx, p); err != nil {
		t.Fatalf("Resume of the original: %v", err)
	}

	q, err := d.Launch(ctx, clone)
	if err != nil {
		t.Fatalf("Launch for restore: %v", err)
	}
	t.Cleanup(func() { _ = process.Kill(context.Background(), q.PID, q.StartTime, killTimeout) })
	start = time.Now()
	if err := d.Restore(ctx, clone, q, files); err != nil {
		vmmLog, _ := os.ReadFile(clone.VMMLog)
		t.Fatalf("Restore: %v\nvmm log:\n%s", err, vmmLog)
	}
	if err := d.Resume(ctx, q); err != nil {
		t.Fatalf("Resume of the restored guest: %v", err)
	}
	t.Logf("restore to running: %s", time.Since(start).Round(time.Millisecond))
	echo(t, d, clone, "from the restored guest\n")
	echo(t, d, spec, "the original still answers\n")
}
