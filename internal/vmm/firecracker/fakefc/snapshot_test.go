package main

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// wantFault sends a request that must fail with 400 and a fault_message
// containing want.
func (f *fake) wantFault(method, path, body, want string) {
	f.t.Helper()
	status, resp := f.do(method, path, body)
	if status != http.StatusBadRequest || !strings.Contains(resp, want) {
		f.t.Errorf("%s %s %s: got %d %s, want 400 containing %q", method, path, body, status, resp, want)
	}
}

// TestSnapshotCreate: PUT /snapshot/create is refused before boot and while
// the vCPUs run, with Firecracker's messages, checks its body, and once
// paused writes the state and a memory file the size of guest memory.
func TestSnapshotCreate(t *testing.T) {
	f := startFake(t)
	state, mem := filepath.Join(f.dir, "state"), filepath.Join(f.dir, "mem")
	create := fmt.Sprintf(`{"snapshot_type":"Full","snapshot_path":%s,"mem_file_path":%s}`, jsonString(state), jsonString(mem))
	f.wantFault("PUT", "/snapshot/create", create, "The requested operation is not supported before starting the microVM.")
	f.mustPut("/machine-config", `{"vcpu_count":1,"mem_size_mib":64}`)
	f.mustPut("/drives/rootfs", fmt.Sprintf(`{"drive_id":"rootfs","path_on_host":%s,"is_root_device":true,"is_read_only":false}`, jsonString(f.file("root.ext4", 1<<20))))
	f.boot()
	f.wantFault("PUT", "/snapshot/create", create, "Create snapshot error: Cannot save the microVM state: Operation not allowed: save/restore unavailable while running")
	if _, err := os.Stat(state); err == nil {
		t.Error("a refused snapshot left a state file")
	}
	if status, resp := f.do("PATCH", "/vm", `{"state":"Paused"}`); status != http.StatusNoContent {
		t.Fatalf("PATCH /vm: %d %s", status, resp)
	}
	f.wantFault("PUT", "/snapshot/create", fmt.Sprintf(`{"snapshot_path":%s}`, jsonString(state)), "missing field `mem_file_path`")
	f.wantFault("PUT", "/snapshot/create", fmt.Sprintf(`{"mem_file_path":%s}`, jsonString(mem)), "missing field `snapshot_path`")
	f.wantFault("PUT", "/snapshot/create", strings.Replace(create, `"Full"`, `"Partial"`, 1), "unknown variant `Partial`")
	f.wantFault("PUT", "/snapshot/create", strings.Replace(create, `"Full"`, `"Diff"`, 1), "Create snapshot error: Cannot get dirty bitmap")
	f.mustPut("/snapshot/create", create)
	if fi, err := os.Stat(mem); err != nil || fi.Size() != 64<<20 {
		t.Errorf("memory file: %v, %v; want 64 MiB", fi, err)
	}
	if fi, err := os.Stat(state); err != nil || fi.Size() == 0 {
		t.Errorf("state file: %v, %v", fi, err)
	}
	f.wantFault("PUT", "/snapshot/list", `{}`, "Invalid request type.")
	f.signal(syscall.SIGKILL)
	f.waitExit(5 * time.Second)
}

// snapshotOf boots a fake with a root drive, pauses and snapshots it, and
// kills it; it returns the state and memory files and the root drive.
func snapshotOf(t *testing.T) (state, mem, root string) {
	t.Helper()
	f := startFake(t)
	state, mem, root = filepath.Join(f.dir, "state"), filepath.Join(f.dir, "mem"), f.file("root.ext4", 1<<20)
	f.mustPut("/machine-config", `{"vcpu_count":2,"mem_size_mib":32}`)
	f.mustPut("/drives/rootfs", fmt.Sprintf(`{"drive_id":"rootfs","path_on_host":%s,"is_root_device":true,"is_read_only":false}`, jsonString(root)))
	f.boot()
	if status, resp := f.do("PATCH", "/vm", `{"state":"Paused"}`); status != http.StatusNoContent {
		t.Fatalf("PATCH /vm: %d %s", status, resp)
	}
	f.mustPut("/snapshot/create", fmt.Sprintf(`{"snapshot_path":%s,"mem_file_path":%s}`, jsonString(state), jsonString(mem)))
	f.signal(syscall.SIGKILL)
	f.waitExit(5 * time.Second)
	return state, mem, root
}

// TestSnapshotLoad: PUT /snapshot/load restores the saved machine paused
// (or resumed with resume_vm), only before boot and before any boot
// resource is configured; its memory backend is checked as Firecracker's
// parser does, and PATCH /drives swaps a restored drive's file.
func TestSnapshotLoad(t *testing.T) {
	state, mem, _ := snapshotOf(t)
	load := fmt.Sprintf(`{"snapshot_path":%s,"mem_backend":{"backend_type":"File","backend_path":%s}}`, jsonString(state), jsonString(mem))

	f := startFake(t)
	f.wantFault("PUT", "/snapshot/load", fmt.Sprintf(`{"snapshot_path":%s}`, jsonString(state)), "missing field: either `mem_backend` or `mem_file_path` is required")
	f.wantFault("PUT", "/snapshot/load", fmt.Sprintf(`{"snapshot_path":%s,"mem_file_path":%s,"mem_backend":{"backend_type":"File","backend_path":%s}}`,
		jsonString(state), jsonString(mem), jsonString(mem)), "too many fields: either `mem_backend` or `mem_file_path` exclusively is required")
	f.wantFault("PUT", "/snapshot/load", strings.Replace(load, `"File"`, `"Disk"`, 1), "unknown variant `Disk`")
	f.mustPut("/snapshot/load", load)
	info := f.getJSON("/").(map[string]any)
	if info["state"] != "Paused" {
		t.Errorf("state after load: %v, want Paused", info["state"])
	}
	cfg := f.getJSON("/machine-config").(map[string]any)
	if cfg["vcpu_count"] != 2.0 || cfg["mem_size_mib"] != 32.0 {
		t.Errorf("machine config after load: %v", cfg)
	}
	f.wantFault("PUT", "/snapshot/load", load, "The requested operation is not supported after starting the microVM.")
	clone := f.file("clone.ext4", 1<<20)
	if status, resp := f.do("PATCH", "/drives/rootfs", fmt.Sprintf(`{"drive_id":"rootfs","path_on_host":%s}`, jsonString(clone))); status != http.StatusNoContent {
		t.Fatalf("PATCH /drives/rootfs: %d %s", status, resp)
	}
	drives := f.getJSON("/vm/config").(map[string]any)["drives"].([]any)
	if got := drives[0].(map[string]any)["path_on_host"]; got != clone {
		t.Errorf("root drive after PATCH: %v, want %s", got, clone)
	}
	f.wantFault("PATCH", "/drives/work", `{"drive_id":"work","path_on_host":"/nonexistent"}`, "Unable to patch the block device")
	if status, resp := f.do("PATCH", "/vm", `{"state":"Resumed"}`); status != http.StatusNoContent {
		t.Fatalf("PATCH /vm Resumed: %d %s", status, resp)
	}
	f.signal(syscall.SIGKILL)
	f.waitExit(5 * time.Second)

	// A configured boot resource rules a load out.
	g := startFake(t)
	g.mustPut("/machine-config", `{"vcpu_count":1,"mem_size_mib":32}`)
	g.wantFault("PUT", "/snapshot/load", load, "Load snapshot error: Loading a microVM snapshot not allowed after configuring boot-specific resources.")
	g.signal(syscall.SIGKILL)
	g.waitExit(5 * time.Second)

	// resume_vm runs it at once.
	h := startFake(t)
	h.mustPut("/snapshot/load", strings.TrimSuffix(load, "}")+`,"resume_vm":true}`)
	if got := h.getJSON("/").(map[string]any)["state"]; got != "Running" {
		t.Errorf("state after load with resume_vm: %v, want Running", got)
	}
	h.signal(syscall.SIGKILL)
	h.waitExit(5 * time.Second)
}

// TestSnapshotLoadFailureExits: a restore that fails leaves Firecracker
// unusable, and it exits.
func TestSnapshotLoadFailureExits(t *testing.T) {
	state, mem, root := snapshotOf(t)
	if err := os.Remove(root); err != nil {
		t.Fatal(err)
	}
	f := startFake(t)
	f.wantFault("PUT", "/snapshot/load", fmt.Sprintf(`{"snapshot_path":%s,"mem_backend":{"backend_type":"File","backend_path":%s}}`, jsonString(state), jsonString(mem)),
		"Load snapshot error: Failed to restore from snapshot: Failed to build microVM from snapshot: Failed to restore devices: Block: Virtio backend error: Error manipulating the backing file: No such file or directory (os error 2) "+root)
	f.waitExit(5 * time.Second)
}

// TestSnapshotLoadOverrides: network_overrides and vsock_override are
// checked as Firecracker's parser does (required fields), and refused for
// devices the snapshot does not have; a failed restore exits.
func TestSnapshotLoadOverrides(t *testing.T) {
	state, mem, _ := snapshotOf(t)
	load := func(extra string) string {
		return fmt.Sprintf(`{"snapshot_path":%s,"mem_backend":{"backend_type":"File","backend_path":%s}%s}`, jsonString(state), jsonString(mem), extra)
	}
	f := startFake(t)
	f.wantFault("PUT", "/snapshot/load", load(`,"network_overrides":[{"iface_id":"eth0"}]`), "missing field `host_dev_name`")
	f.wantFault("PUT", "/snapshot/load", load(`,"vsock_override":{}`), "missing field `uds_path`")
	f.wantFault("PUT", "/snapshot/load", load(`,"network_overrides":[{"iface_id":"eth0","host_dev_name":"tap1"}]`), "Invalid network override")
	f.waitExit(5 * time.Second)

	g := startFake(t)
	g.wantFault("PUT", "/snapshot/load", load(`,"vsock_override":{"uds_path":"/tmp/x.sock"}`), "without a vsock device")
	g.waitExit(5 * time.Second)
}

// TestSnapshotLoadRelativeDrives: a drive given by a relative path is
// opened against the working directory, and the snapshot records the
// path as given, so a load in another working directory opens that
// directory's file, which FAKEFC_OPENED shows. PATCH /drives is refused
// before a microVM runs or is loaded, as Firecracker refuses it.
func TestSnapshotLoadRelativeDrives(t *testing.T) {
	f := startFake(t)
	f.file("root.ext4", 1<<20)
	state, mem := filepath.Join(f.dir, "state"), filepath.Join(f.dir, "mem")
	f.mustPut("/machine-config", `{"vcpu_count":1,"mem_size_mib":32}`)
	f.wantFault("PATCH", "/drives/rootfs", `{"drive_id":"rootfs","path_on_host":"root.ext4"}`, "not supported before starting the microVM")
	f.mustPut("/drives/rootfs", `{"drive_id":"rootfs","path_on_host":"root.ext4","is_root_device":true,"is_read_only":false}`)
	f.boot()
	if status, resp := f.do("PATCH", "/vm", `{"state":"Paused"}`); status != http.StatusNoContent {
		t.Fatalf("PATCH /vm: %d %s", status, resp)
	}
	f.mustPut("/snapshot/create", fmt.Sprintf(`{"snapshot_path":%s,"mem_file_path":%s}`, jsonString(state), jsonString(mem)))
	f.signal(syscall.SIGKILL)
	f.waitExit(5 * time.Second)
	if err := os.Remove(filepath.Join(f.dir, "root.ext4")); err != nil {
		t.Fatal(err)
	}

	opened := filepath.Join(t.TempDir(), "opened")
	g := startFake(t, "FAKEFC_OPENED="+opened)
	g.wantFault("PATCH", "/drives/rootfs", `{"drive_id":"rootfs","path_on_host":"root.ext4"}`, "not supported before starting the microVM")
	own := g.file("root.ext4", 1<<20)
	g.mustPut("/snapshot/load", fmt.Sprintf(`{"snapshot_path":%s,"mem_backend":{"backend_type":"File","backend_path":%s}}`, jsonString(state), jsonString(mem)))
	data, err := os.ReadFile(opened)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := string(data), "root.ext4\t"+own+"\n"; got != want {
		t.Errorf("FAKEFC_OPENED after the load = %q, want %q", got, want)
	}
	g.signal(syscall.SIGKILL)
	g.waitExit(5 * time.Second)
}
