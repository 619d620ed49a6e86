package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"banger/internal/vmm/firecracker/fctest"
)

// boot configures a kernel and starts the guest.
func (f *fake) boot() {
	f.t.Helper()
	f.mustPut("/boot-source", fmt.Sprintf(`{"kernel_image_path":%s}`, jsonString(f.kernel())))
	f.mustPut("/actions", `{"action_type":"InstanceStart"}`)
}

func TestSendCtrlAltDelExits(t *testing.T) {
	f := startFake(t)
	f.boot()
	f.mustPut("/actions", `{"action_type":"SendCtrlAltDel"}`)
	st := f.waitExit(5 * time.Second)
	if !st.Exited() || st.ExitCode() != 0 {
		t.Errorf("exit after SendCtrlAltDel: got %v, want exit status 0", st)
	}
	f.waitStdout("reboot: Restarting system\n")
	if exists(f.sock) {
		t.Errorf("API socket %s left behind after a clean exit", f.sock)
	}
}

func TestIgnoreCtrlAltDel(t *testing.T) {
	f := startFake(t, "FAKEFC_IGNORE_CTRLALTDEL=1")
	f.boot()
	f.mustPut("/actions", `{"action_type":"SendCtrlAltDel"}`)
	select {
	case <-f.exited:
		t.Fatalf("fake exited although FAKEFC_IGNORE_CTRLALTDEL=1: %v", f.state)
	case <-time.After(4 * guestShutdownDelay):
	}
	if got := f.getJSON("/").(map[string]any)["state"]; got != "Running" {
		t.Errorf("state after ignored CTRL+ALT+DEL: got %v, want Running", got)
	}
	if out := f.waitStdout("guest ignored CTRL+ALT+DEL"); strings.Contains(out, "Restarting system") {
		t.Errorf("console shows a reset although the guest ignores CTRL+ALT+DEL; stdout:\n%s", out)
	}
	f.signal(syscall.SIGKILL)
	f.waitExit(5 * time.Second)
}

// TestSignals: SIGTERM and SIGINT end the process, which dies of the
// signal like Firecracker, after removing its API socket.
func TestSignals(t *testing.T) {
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGINT} {
		t.Run(sig.String(), func(t *testing.T) {
			f := startFake(t)
			f.boot()
			f.signal(sig)
			st := f.waitExit(5 * time.Second)
			ws := st.Sys().(syscall.WaitStatus)
			if !ws.Signaled() || ws.Signal() != sig {
				t.Errorf("wait status: got %v, want killed by %v", st, sig)
			}
			if exists(f.sock) {
				t.Errorf("API socket %s left behind after %v", f.sock, sig)
			}
		})
	}
}

func TestExistingSocketRefused(t *testing.T) {
	dir := shortDir(t)
	sock := filepath.Join(dir, "api.sock")
	if err := os.WriteFile(sock, []byte("keep"), 0o600); err != nil {
		t.Fatal(err)
	}
	f := spawn(t, dir, []string{"--api-sock", sock})
	st := f.waitExit(5 * time.Second)
	if st.ExitCode() != 1 {
		t.Errorf("exit code: got %d, want 1", st.ExitCode())
	}
	if !strings.Contains(f.stderr.String(), "Failed to open the API socket at: "+sock) {
		t.Errorf("stderr lacks the bind error: %q", f.stderr.String())
	}
	if data, err := os.ReadFile(sock); err != nil || string(data) != "keep" {
		t.Errorf("existing file at the socket path was touched: %q, %v", data, err)
	}
}

// TestStartDelay: the API socket appears only after FAKEFC_START_DELAY.
func TestStartDelay(t *testing.T) {
	const delay = 300 * time.Millisecond
	dir := shortDir(t)
	start := time.Now()
	f := spawn(t, dir, nil, "FAKEFC_START_DELAY="+delay.String())
	time.Sleep(delay / 3)
	if exists(f.sock) {
		t.Fatalf("API socket exists %v after start, before FAKEFC_START_DELAY=%v", time.Since(start), delay)
	}
	f.waitReady()
	if elapsed := time.Since(start); elapsed < delay {
		t.Errorf("API answered after %v, before FAKEFC_START_DELAY=%v", elapsed, delay)
	}
}

func TestVersion(t *testing.T) {
	bin := fctest.Build(t)
	tests := []struct {
		env  []string
		want string
	}{
		{nil, "Firecracker v1.7.0\n"},
		{[]string{"FAKEFC_VERSION=1.4.0"}, "Firecracker v1.4.0\n"},
		{[]string{"FAKEFC_VERSION=v1.10.1"}, "Firecracker v1.10.1\n"},
	}
	for _, tt := range tests {
		cmd := exec.Command(bin, "--version")
		cmd.Env = append(os.Environ(), tt.env...)
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("%v --version: %v", tt.env, err)
		}
		if got := strings.TrimRight(string(out), "\n") + "\n"; got != tt.want {
			t.Errorf("%v --version: got %q, want %q", tt.env, got, tt.want)
		}
	}

	f := startFake(t, "FAKEFC_VERSION=1.4.0")
	if got := f.getJSON("/version").(map[string]any)["firecracker_version"]; got != "1.4.0" {
		t.Errorf("GET /version: got %v, want 1.4.0", got)
	}
	if got := f.getJSON("/").(map[string]any)["vmm_version"]; got != "1.4.0" {
		t.Errorf("GET / vmm_version: got %v, want 1.4.0", got)
	}
}

// TestCommandLine runs the binary with real and bad flags.
func TestCommandLine(t *testing.T) {
	dir := shortDir(t)
	logFile := filepath.Join(dir, "fc.log")
	metricsFile := filepath.Join(dir, "metrics")
	for _, p := range []string{logFile, metricsFile} {
		if err := os.WriteFile(p, nil, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	missing := filepath.Join(dir, "missing")
	tests := []struct {
		name     string
		args     []string
		wantCode int // -1: starts and serves
		stderr   string
	}{
		{"real flags accepted", []string{"--id", "vm-1", "--log-path", logFile, "--level", "Debug", "--show-level", "--metrics-path", metricsFile, "--boot-timer", "--no-seccomp", "--", "ignored"}, -1, ""},
		{"unknown flag", []string{"--bogus"}, 153, "Found argument 'bogus' which wasn't expected"},
		{"equals form", []string{"--id=vm-1"}, 153, "Found argument 'id=vm-1' which wasn't expected"},
		{"positional", []string{"vm-1"}, 153, "Found argument 'vm-1' which wasn't expected"},
		{"missing value", []string{"--id"}, 153, "The argument 'id' requires a value"},
		{"flag as value", []string{"--id", "--boot-timer"}, 153, "The argument 'id' requires a value"},
		{"duplicate", []string{"--boot-timer", "--boot-timer"}, 153, "provided more than once"},
		{"invalid instance id", []string{"--id", "vm_1"}, 1, "invalid instance id"},
		{"bad level", []string{"--level", "loud"}, 152, "Failed to parse string to level filter: loud"},
		{"missing log file", []string{"--log-path", missing}, 1, "Failed to open target file: No such file or directory"},
		{"missing metrics file", []string{"--metrics-path", missing}, 1, "No such file or directory"},
		{"unimplemented flag", []string{"--config-file", missing}, 1, "fakefc does not implement --config-file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := spawn(t, shortDir(t), tt.args)
			if tt.wantCode < 0 {
				f.waitReady()
				return
			}
			st := f.waitExit(5 * time.Second)
			if st.ExitCode() != tt.wantCode {
				t.Errorf("exit code: got %d, want %d; stderr: %s", st.ExitCode(), tt.wantCode, f.stderr.String())
			}
			if !strings.Contains(f.stderr.String(), tt.stderr) {
				t.Errorf("stderr %q does not contain %q", f.stderr.String(), tt.stderr)
			}
			if exists(f.sock) {
				t.Errorf("API socket created although start-up failed")
			}
		})
	}
	// The flags took effect: the log went to the file, with levels.
	if data, _ := os.ReadFile(logFile); !strings.Contains(string(data), "[vm-1:main:INFO] Running Firecracker v1.7.0") {
		t.Errorf("--log-path file lacks the start-up line: %q", data)
	}
}
