package firecracker

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"banger/internal/process"
	"banger/internal/vmm"
	"banger/internal/vmm/firecracker/fctest"
)

func TestBootRequestSequence(t *testing.T) {
	bin := fctest.Build(t)
	record := filepath.Join(t.TempDir(), "record.jsonl")
	t.Setenv("FAKEFC_RECORD", record)
	spec := fakeSpec(t)
	spec.Initrd = spec.WorkDisk // any existing file will do for the fake
	spec.IdentityDisk = spec.WorkDisk
	spec.Tap, spec.MAC = "bgtest0", "02:fc:00:00:00:01"
	d := New(Config{Binary: bin})
	p := launchFake(t, d, spec)
	if err := d.Boot(context.Background(), spec, p); err != nil {
		t.Fatalf("Boot: %v", err)
	}
	if err := d.Shutdown(context.Background(), p); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if err := process.WaitExit(context.Background(), p.PID, p.StartTime, 5*time.Second); err != nil {
		t.Fatalf("fake did not exit after Shutdown: %v", err)
	}

	put := func(path string, v any) fctest.Request {
		return fctest.Request{Method: "PUT", Path: path, Body: body(t, v), Status: 204}
	}
	want := []fctest.Request{
		{Method: "GET", Path: "/", Status: 200},
		put("/metrics", map[string]any{"metrics_path": spec.MetricsPath}),
		put("/machine-config", map[string]any{"vcpu_count": 2, "mem_size_mib": 256, "smt": false}),
		put("/boot-source", map[string]any{"kernel_image_path": spec.Kernel, "boot_args": spec.BootArgs, "initrd_path": spec.Initrd}),
		put("/drives/rootfs", map[string]any{"drive_id": "rootfs", "path_on_host": "drives/rootfs", "is_root_device": true, "is_read_only": false}),
		put("/drives/work", map[string]any{"drive_id": "work", "path_on_host": "drives/work", "is_root_device": false, "is_read_only": false}),
		put("/drives/identity", map[string]any{"drive_id": "identity", "path_on_host": "drives/identity", "is_root_device": false, "is_read_only": true}),
		put("/network-interfaces/eth0", map[string]any{"iface_id": "eth0", "host_dev_name": "bgtest0", "guest_mac": "02:fc:00:00:00:01"}),
		put("/vsock", map[string]any{"guest_cid": 3, "uds_path": spec.VsockPath}),
		put("/actions", map[string]any{"action_type": "InstanceStart"}),
		put("/actions", map[string]any{"action_type": "SendCtrlAltDel"}),
	}
	if diff := cmp.Diff(want, readRecord(t, record), jsonBody); diff != "" {
		t.Errorf("requests (-want +got):\n%s", diff)
	}

	console, err := os.ReadFile(spec.ConsoleLog)
	if err != nil || !strings.Contains(string(console), "fake guest: ready") {
		t.Errorf("console log (%v) lacks the guest's boot output:\n%s", err, console)
	}
	if info, err := os.Stat(spec.ConsoleLog); err != nil || info.Mode().Perm() != 0o600 {
		t.Errorf("console log mode: %v, %v; want 0600", info.Mode().Perm(), err)
	}
	if vmmLog, err := os.ReadFile(spec.VMMLog); err != nil || len(vmmLog) == 0 {
		t.Errorf("vmm log (%v) is empty: the logger was not configured", err)
	}
}

func TestBootFailedRequest(t *testing.T) {
	bin := fctest.Build(t)
	tests := []struct {
		name     string
		fail     string          // FAKEFC_FAIL
		mutate   func(*vmm.Spec) // a spec Firecracker itself rejects
		wantErr  string
		wantReqs []string
	}{
		{
			name:     "drive-rejected",
			fail:     "PUT /drives/rootfs",
			wantErr:  "boot step drive-rootfs: firecracker rejected PUT /drives/rootfs: ",
			wantReqs: []string{"GET / 200", "PUT /metrics 204", "PUT /machine-config 204", "PUT /boot-source 204", "PUT /drives/rootfs 400"},
		},
		{
			name: "kernel-not-elf",
			mutate: func(s *vmm.Spec) {
				if err := os.WriteFile(s.Kernel, []byte("MZ compressed bzImage"), 0o600); err != nil {
					t.Fatal(err)
				}
			},
			wantErr: "boot step instance-start: firecracker rejected PUT /actions: Start microvm error: Cannot load kernel",
			wantReqs: []string{"GET / 200", "PUT /metrics 204", "PUT /machine-config 204", "PUT /boot-source 204",
				"PUT /drives/rootfs 204", "PUT /drives/work 204", "PUT /vsock 204", "PUT /actions 400"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			record := filepath.Join(t.TempDir(), "record.jsonl")
			t.Setenv("FAKEFC_RECORD", record)
			t.Setenv("FAKEFC_FAIL", tc.fail)
			spec := fakeSpec(t)
			if tc.mutate != nil {
				tc.mutate(&spec)
			}
			d := New(Config{Binary: bin})
			p := launchFake(t, d, spec)
			err := d.Boot(context.Background(), spec, p)
			var apiErr *APIError
			if !errors.As(err, &apiErr) || !strings.HasPrefix(err.Error(), tc.wantErr) {
				t.Fatalf("Boot = %v, want an error starting %q", err, tc.wantErr)
			}
			if got, want := apiErr.StatusCode, 400; got != want {
				t.Errorf("status = %d, want %d", got, want)
			}
			var got []string
			for _, r := range readRecord(t, record) {
				got = append(got, r.Method+" "+r.Path+" "+strconv.Itoa(r.Status))
			}
			if diff := cmp.Diff(tc.wantReqs, got); diff != "" {
				t.Errorf("requests (-want +got):\n%s", diff)
			}
		})
	}
}
