package firecracker

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"banger/internal/errdefs"
	"banger/internal/process"
	"banger/internal/vmm"
	"banger/internal/vmm/vmmtest"
)

// script writes an executable shell script standing in for a firecracker
// binary that never serves the API, to drive Launch's failure paths.
func script(t *testing.T, body string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "firecracker")
	if err := os.WriteFile(path, []byte("#!/bin/sh\n"+body+"\n"), 0o700); err != nil {
		t.Fatal(err)
	}
	return path
}

// launchSpec is a spec with a short RuntimeDir for unix sockets.
func launchSpec(t *testing.T) vmm.Spec {
	t.Helper()
	spec := specFiles(t)
	_, spec.RuntimeDir = vmmtest.Dirs(t, "fc")
	return spec
}

func TestLaunchProcessExits(t *testing.T) {
	bin := script(t, `echo "args: $*"; echo "boom: /dev/kvm missing" >&2; exit 3`)
	spec := launchSpec(t)
	if err := os.WriteFile(spec.ConsoleLog, []byte("an earlier boot\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	// A socket left by a crashed earlier run.
	if err := os.WriteFile(APISocketPath(spec.RuntimeDir), nil, 0o600); err != nil {
		t.Fatal(err)
	}

	_, err := New(Config{Binary: bin}).Launch(context.Background(), spec)
	if err == nil {
		t.Fatal("Launch succeeded with a binary that exits")
	}
	for _, want := range []string{"exited during start-up", "exit status 3", "boom: /dev/kvm missing"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("Launch error does not contain %q:\n%v", want, err)
		}
	}
	if strings.Contains(err.Error(), "an earlier boot") {
		t.Errorf("Launch error shows console output from before this launch:\n%v", err)
	}
	console, _ := os.ReadFile(spec.ConsoleLog)
	wantArgs := "args: --api-sock " + APISocketPath(spec.RuntimeDir) + " --id " + spec.ID +
		" --log-path " + spec.VMMLog + " --level Info --show-level"
	if !strings.HasPrefix(string(console), "an earlier boot\n"+wantArgs+"\n") {
		t.Errorf("console log = %q, want the old content then %q", console, wantArgs)
	}
	if _, err := os.Stat(APISocketPath(spec.RuntimeDir)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("api socket left behind: %v", err)
	}
}

func TestLaunchTimeoutKills(t *testing.T) {
	// Writes its pid and start time where the test can find them, then
	// never opens the API socket.
	bin := script(t, `echo $$ > "$(dirname "$2")/pid"; exec sleep 30`)
	spec := launchSpec(t)
	d := New(Config{Binary: bin, LaunchTimeout: 200 * time.Millisecond})
	start := time.Now()
	_, err := d.Launch(context.Background(), spec)
	if err == nil || !strings.Contains(err.Error(), "did not answer within 200ms") {
		t.Fatalf("Launch = %v, want a timeout error", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("Launch took %s to time out", d)
	}
	b, rerr := os.ReadFile(filepath.Join(spec.RuntimeDir, "pid"))
	if rerr != nil {
		t.Fatal(rerr)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatal(err)
	}
	if process.Alive(pid, 0) {
		_ = process.Kill(context.Background(), pid, 0, time.Second)
		t.Fatalf("Launch left pid %d running after a timeout", pid)
	}
	if info, err := os.Stat(spec.ConsoleLog); err != nil || info.Mode().Perm() != 0o600 {
		t.Errorf("console log: %v; want mode 0600", err)
	}
}

func TestLaunchCancelled(t *testing.T) {
	bin := script(t, `exec sleep 30`)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	_, err := New(Config{Binary: bin}).Launch(ctx, launchSpec(t))
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Launch with an expiring context = %v, want DeadlineExceeded", err)
	}
}

func TestMissingBinary(t *testing.T) {
	abs := filepath.Join(t.TempDir(), "firecracker")
	tests := []struct {
		binary string
		want   string
	}{
		{"banger-no-such-firecracker", `firecracker binary "banger-no-such-firecracker" not found in PATH: install Firecracker (https://github.com/firecracker-microvm/firecracker/releases) or set vmm.firecracker_bin in the config`},
		{abs, `firecracker binary "` + abs + `" not found: install Firecracker (https://github.com/firecracker-microvm/firecracker/releases) or set vmm.firecracker_bin in the config`},
	}
	for _, tc := range tests {
		d := New(Config{Binary: tc.binary})
		_, lerr := d.Launch(context.Background(), launchSpec(t))
		_, cerr := d.Check(context.Background())
		for _, err := range []error{lerr, cerr} {
			if err == nil || err.Error() != tc.want {
				t.Errorf("error = %v\nwant %s", err, tc.want)
			}
			if got := errdefs.KindOf(err); got != errdefs.FailedPrecondition {
				t.Errorf("kind = %q, want %q", got, errdefs.FailedPrecondition)
			}
		}
	}
}

func TestLaunchInvalidSpecStartsNothing(t *testing.T) {
	marker := filepath.Join(t.TempDir(), "started")
	bin := script(t, `touch `+marker)
	spec := launchSpec(t)
	spec.ID = "bad id"
	_, err := New(Config{Binary: bin}).Launch(context.Background(), spec)
	if errdefs.KindOf(err) != errdefs.InvalidArgument {
		t.Fatalf("Launch = %v, want an invalid argument error", err)
	}
	if _, err := os.Stat(marker); !errors.Is(err, os.ErrNotExist) {
		t.Error("Launch started the binary for an invalid spec")
	}
}

// TestLaunchACPIKernelNeedsFirecracker18: a kernel that finds its devices
// only through ACPI is refused on a Firecracker older than 1.8.0 (which
// describes none there) before anything starts, and launches on a newer
// one.
func TestLaunchACPIKernelNeedsFirecracker18(t *testing.T) {
	marker := filepath.Join(t.TempDir(), "started")
	for _, tc := range []struct {
		version string
		refused bool
	}{{"1.7.0", true}, {"1.8.0", false}, {"1.10.1", false}} {
		bin := script(t, `if [ "$1" = --version ]; then echo "Firecracker v`+tc.version+`"; exit 0; fi; touch `+marker+`; exit 3`)
		_ = os.Remove(marker)
		spec := launchSpec(t)
		spec.ACPI = true
		_, err := New(Config{Binary: bin}).Launch(context.Background(), spec)
		_, statErr := os.Stat(marker)
		if tc.refused {
			if !errdefs.Is(err, errdefs.FailedPrecondition) || !strings.Contains(err.Error(), "from 1.8.0 on") {
				t.Errorf("%s: Launch = %v, want the ACPI version refusal", tc.version, err)
			}
			if statErr == nil {
				t.Errorf("%s: firecracker was started", tc.version)
			}
		} else if statErr != nil || strings.Contains(fmt.Sprint(err), "1.8.0") {
			t.Errorf("%s: Launch = %v, started = %v; want it launched", tc.version, err, statErr == nil)
		}
	}
}
