package qemu

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"banger/internal/vmm"
	"banger/internal/vmm/vmmtest"
)

// launchSpec is validSpec with its runtime directory, logs and agent
// socket under a short private directory, as the VM lifecycle makes it.
func launchSpec(t *testing.T) vmm.Spec {
	t.Helper()
	spec := validSpec(t)
	dir, run := vmmtest.Dirs(t, "qm")
	spec.RuntimeDir = run
	spec.VsockPath = filepath.Join(spec.RuntimeDir, "agent.sock")
	spec.ConsoleLog = filepath.Join(dir, "console.log")
	spec.VMMLog = filepath.Join(dir, "vmm.log")
	return spec
}

// qemuScript writes an executable shell script standing in for qemu that
// never serves QMP, to drive Launch's failure paths.
func qemuScript(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "qemu-system-x86_64")
	if err := os.WriteFile(p, []byte("#!/bin/sh\n"+body+"\n"), 0o700); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestLaunchProcessExits(t *testing.T) {
	// Like qemu, the script writes the guest console to stdout and its
	// own complaints to stderr, and binds the agent socket.
	bin := qemuScript(t, `echo "guest console"; echo "args: $*" >&2; echo "qemu: could not open /dev/kvm" >&2; exit 1`)
	spec := launchSpec(t)
	// Sockets left by a crashed earlier run.
	for _, s := range []string{QMPSocketPath(spec.RuntimeDir), spec.VsockPath} {
		if err := os.WriteFile(s, nil, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	_, err := New(Config{Binary: bin, Accel: AccelTCG}).Launch(context.Background(), spec)
	if err == nil {
		t.Fatal("Launch succeeded with a binary that exits")
	}
	for _, want := range []string{
		"qemu for vm " + spec.ID + " exited during start-up (exit status 1)",
		"the last lines of " + spec.VMMLog,
		"args: " + strings.Join(Args(spec, AccelTCG, false), " "),
		"qemu: could not open /dev/kvm",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("Launch error does not contain %q:\n%v", want, err)
		}
	}
	if strings.Contains(err.Error(), "guest console") {
		t.Errorf("Launch error quotes the console instead of qemu's log:\n%v", err)
	}
	if console, _ := os.ReadFile(spec.ConsoleLog); string(console) != "guest console\n" {
		t.Errorf("console log = %q, want the script's stdout", console)
	}
	for _, s := range []string{QMPSocketPath(spec.RuntimeDir), spec.VsockPath} {
		if _, err := os.Lstat(s); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("socket %s left behind: %v", s, err)
		}
	}
}

func TestLaunchTimeout(t *testing.T) {
	bin := qemuScript(t, `exec sleep 30`)
	spec := launchSpec(t)
	_, err := New(Config{Binary: bin, Accel: AccelTCG, LaunchTimeout: 200 * time.Millisecond}).Launch(context.Background(), spec)
	want := "qemu qmp socket " + QMPSocketPath(spec.RuntimeDir) + " did not answer within 200ms"
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("Launch = %v, want %q", err, want)
	}
}
