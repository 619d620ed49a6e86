package firecracker

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"banger/internal/process"
	"banger/internal/vmm"
)

func TestBootStepNames(t *testing.T) {
	full := vmm.Spec{WorkDisk: "/w", IdentityDisk: "/i", Tap: "tap0", VsockPath: "/v", MetricsPath: "/m"}
	tests := []struct {
		name string
		spec vmm.Spec
		want []string
	}{
		{"minimal", vmm.Spec{}, []string{"machine-config", "boot-source", "drive-links", "drive-rootfs", "instance-start"}},
		{"full", full, []string{"metrics", "machine-config", "boot-source", "drive-links", "drive-rootfs", "drive-work", "drive-identity", "network-eth0", "vsock", "instance-start"}},
	}
	for _, tc := range tests {
		var got []string
		for _, s := range bootSteps(tc.spec) {
			got = append(got, s.name)
		}
		if diff := cmp.Diff(tc.want, got); diff != "" {
			t.Errorf("%s: steps (-want +got):\n%s", tc.name, diff)
		}
	}
}

// selfProcess is a live vmm.Process (the test binary itself) pointing at
// the socket of a stand-in API server.
func selfProcess(t *testing.T, socket string) vmm.Process {
	t.Helper()
	start, _, err := process.StartTime(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	return vmm.Process{PID: os.Getpid(), StartTime: start, APISocket: socket}
}

func TestBootFailedStep(t *testing.T) {
	s := newAPIServer(t, map[string]reply{
		"PUT /machine-config": {400, `{"fault_message":"Invalid memory size"}`},
	})
	spec := specFiles(t)
	err := New(Config{}).Boot(context.Background(), spec, selfProcess(t, s.socket))
	var apiErr *APIError
	if !errors.As(err, &apiErr) || !strings.HasPrefix(err.Error(), "boot step machine-config: firecracker rejected PUT /machine-config: Invalid memory size") {
		t.Fatalf("Boot = %v, want a machine-config step error", err)
	}
	var paths []string
	for _, c := range s.received() {
		paths = append(paths, c.Method+" "+c.Path)
	}
	if diff := cmp.Diff([]string{"PUT /metrics", "PUT /machine-config"}, paths); diff != "" {
		t.Errorf("requests (-want +got):\n%s", diff)
	}
	// The metrics file was created before it was handed over.
	for _, f := range []string{spec.MetricsPath} {
		if info, err := os.Stat(f); err != nil || info.Mode().Perm() != 0o600 {
			t.Errorf("%s: %v, mode %v; want an existing 0600 file", f, err, info.Mode().Perm())
		}
	}
}

func TestBootRejectsBeforeAnyRequest(t *testing.T) {
	s := newAPIServer(t, nil)
	spec := specFiles(t)
	spec.Kernel += ".missing"
	spec.VCPUs = 0
	err := New(Config{}).Boot(context.Background(), spec, selfProcess(t, s.socket))
	if err == nil || !strings.Contains(err.Error(), "Kernel: ") || !strings.Contains(err.Error(), "VCPUs: ") {
		t.Fatalf("Boot = %v, want both problems reported", err)
	}
	if got := s.received(); len(got) != 0 {
		t.Errorf("Boot sent %d requests for an invalid spec: %v", len(got), got)
	}
}

func TestBootDeadProcess(t *testing.T) {
	s := newAPIServer(t, nil)
	p := selfProcess(t, s.socket)
	p.StartTime++ // some other process that once had this pid
	err := New(Config{}).Boot(context.Background(), specFiles(t), p)
	if !errors.Is(err, vmm.ErrNotRunning) {
		t.Fatalf("Boot of a gone process = %v, want ErrNotRunning", err)
	}
}
