package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// TestHappyPath configures every device the fake supports, boots, and
// checks the configuration, the instance state, the console and the
// devices' host side.
func TestHappyPath(t *testing.T) {
	f := startFake(t)
	kernel := f.kernel()
	initrd := f.file("initrd", 4096)
	rootfs := f.file("rootfs.ext4", 64<<20)
	work := f.file("work.ext4", 1<<20)
	logFile := f.file("vmm.log", 0)
	metricsFile := f.file("metrics.json", 0)
	vsockPath := filepath.Join(f.dir, "v.sock")

	if got, want := f.getJSON("/"), decodeJSON(t, `{"id":"test-vm","state":"Not started","vmm_version":"1.7.0","app_name":"Firecracker"}`); !cmp.Equal(got, want) {
		t.Errorf("GET / before boot (-got +want):\n%s", cmp.Diff(got, want))
	}
	if got, want := f.getJSON("/machine-config"), decodeJSON(t, `{"vcpu_count":1,"mem_size_mib":128,"smt":false,"track_dirty_pages":false,"huge_pages":"None"}`); !cmp.Equal(got, want) {
		t.Errorf("default machine config (-got +want):\n%s", cmp.Diff(got, want))
	}

	f.mustPut("/logger", fmt.Sprintf(`{"log_path":%s,"level":"Info","show_level":true,"show_log_origin":false}`, jsonString(logFile)))
	f.mustPut("/metrics", fmt.Sprintf(`{"metrics_path":%s}`, jsonString(metricsFile)))
	f.mustPut("/machine-config", `{"vcpu_count":2,"mem_size_mib":512,"smt":false,"track_dirty_pages":true}`)
	f.mustPut("/boot-source", fmt.Sprintf(`{"kernel_image_path":%s,"initrd_path":%s,"boot_args":"console=ttyS0 reboot=k"}`, jsonString(kernel), jsonString(initrd)))
	f.mustPut("/drives/work", fmt.Sprintf(`{"drive_id":"work","path_on_host":%s,"is_root_device":false,"is_read_only":false,"cache_type":"Writeback","io_engine":"Async"}`, jsonString(work)))
	f.mustPut("/drives/rootfs", fmt.Sprintf(`{"drive_id":"rootfs","path_on_host":%s,"is_root_device":true}`, jsonString(rootfs)))
	f.mustPut("/network-interfaces/eth0", `{"iface_id":"eth0","host_dev_name":"fctap0","guest_mac":"AA:FC:00:00:00:01","tx_rate_limiter":{"bandwidth":{"size":1000000,"refill_time":100}}}`)
	f.mustPut("/vsock", fmt.Sprintf(`{"guest_cid":3,"uds_path":%s}`, jsonString(vsockPath)))
	if !exists(vsockPath) {
		t.Errorf("vsock socket %s not bound after PUT /vsock", vsockPath)
	}

	wantConfig := decodeJSON(t, fmt.Sprintf(`{
		"balloon": null,
		"drives": [
			{"drive_id":"rootfs","partuuid":null,"is_root_device":true,"cache_type":"Unsafe","is_read_only":false,
			 "path_on_host":%s,"rate_limiter":null,"io_engine":"Sync","socket":null},
			{"drive_id":"work","partuuid":null,"is_root_device":false,"cache_type":"Writeback","is_read_only":false,
			 "path_on_host":%s,"rate_limiter":null,"io_engine":"Async","socket":null}
		],
		"boot-source": {"kernel_image_path":%s,"initrd_path":%s,"boot_args":"console=ttyS0 reboot=k"},
		"cpu-config": null,
		"logger": null,
		"machine-config": {"vcpu_count":2,"mem_size_mib":512,"smt":false,"track_dirty_pages":true,"huge_pages":"None"},
		"metrics": null,
		"mmds-config": null,
		"network-interfaces": [
			{"iface_id":"eth0","host_dev_name":"fctap0","guest_mac":"aa:fc:00:00:00:01","rx_rate_limiter":null,
			 "tx_rate_limiter":{"bandwidth":{"size":1000000,"one_time_burst":null,"refill_time":100},"ops":null}}
		],
		"vsock": {"guest_cid":3,"uds_path":%s},
		"entropy": null
	}`, jsonString(rootfs), jsonString(work), jsonString(kernel), jsonString(initrd), jsonString(vsockPath)))
	if got := f.getJSON("/vm/config"); !cmp.Equal(got, wantConfig) {
		t.Errorf("GET /vm/config before boot (-got +want):\n%s", cmp.Diff(got, wantConfig))
	}

	f.mustPut("/actions", `{"action_type":"InstanceStart"}`)

	if got, want := f.getJSON("/"), decodeJSON(t, `{"id":"test-vm","state":"Running","vmm_version":"1.7.0","app_name":"Firecracker"}`); !cmp.Equal(got, want) {
		t.Errorf("GET / after boot (-got +want):\n%s", cmp.Diff(got, want))
	}
	if got := f.getJSON("/vm/config"); !cmp.Equal(got, wantConfig) {
		t.Errorf("GET /vm/config after boot (-got +want):\n%s", cmp.Diff(got, wantConfig))
	}
	if got, want := f.getJSON("/version"), decodeJSON(t, `{"firecracker_version":"1.7.0"}`); !cmp.Equal(got, want) {
		t.Errorf("GET /version (-got +want):\n%s", cmp.Diff(got, want))
	}

	console := f.waitStdout("fake guest: ready\n")
	for _, want := range []string{
		"Linux version",
		"Command line: console=ttyS0 reboot=k root=/dev/vda rw\n",
		"smpboot: Allowing 2 CPUs",
		"[vda] 131072 512-byte logical blocks",
		"[vdb] 2048 512-byte logical blocks",
		"mac aa:fc:00:00:00:01",
		"Run /sbin/init as init process",
		"fake guest: ready\n",
	} {
		if !strings.Contains(console, want) {
			t.Errorf("console lacks %q; console:\n%s", want, console)
		}
	}
	if log, _ := os.ReadFile(logFile); !strings.Contains(string(log), `[test-vm:fc_api:INFO] The API server received a Put request on "/actions"`) {
		t.Errorf("VMM log lacks the InstanceStart request; log:\n%s", log)
	}

	f.mustPut("/actions", `{"action_type":"FlushMetrics"}`)
	checkMetricsLine(t, metricsFile)
	checkVsockRefusesConnect(t, vsockPath)
}

func checkMetricsLine(t *testing.T, path string) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(data)), "\n")
	if len(lines) != 1 {
		t.Fatalf("metrics file has %d lines, want 1:\n%s", len(lines), data)
	}
	var m map[string]any
	if err := json.Unmarshal([]byte(lines[0]), &m); err != nil {
		t.Fatalf("metrics line is not JSON: %v: %s", err, lines[0])
	}
	if _, ok := m["utc_timestamp_ms"]; !ok {
		t.Errorf("metrics line lacks utc_timestamp_ms: %s", lines[0])
	}
}

// checkVsockRefusesConnect: with no guest listening, a host-initiated
// connection is closed after its CONNECT line.
func checkVsockRefusesConnect(t *testing.T, path string) {
	t.Helper()
	c, err := net.Dial("unix", path)
	if err != nil {
		t.Fatalf("dial vsock socket: %v", err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(c, "CONNECT 52\n"); err != nil {
		t.Fatalf("write CONNECT: %v", err)
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != io.EOF {
		t.Errorf("after CONNECT: got %q, %v; want the connection closed (EOF)", line, err)
	}
}

// TestDriveOrder checks Firecracker's ordering of block devices: the root
// device first, updates in place.
func TestDriveOrder(t *testing.T) {
	f := startFake(t)
	a, b, c := f.file("a", 512), f.file("b", 512), f.file("c", 512)
	put := func(id, path string, root bool) {
		f.mustPut("/drives/"+id, fmt.Sprintf(`{"drive_id":%q,"path_on_host":%s,"is_root_device":%t,"is_read_only":true}`, id, jsonString(path), root))
	}
	ids := func() []string {
		var cfg struct {
			Drives []struct {
				DriveID string `json:"drive_id"`
			} `json:"drives"`
		}
		_, resp := f.do("GET", "/vm/config", "")
		if err := json.Unmarshal([]byte(resp), &cfg); err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, d := range cfg.Drives {
			out = append(out, d.DriveID)
		}
		return out
	}
	put("a", a, false)
	put("b", b, false)
	put("c", c, true)
	if got, want := ids(), []string{"c", "a", "b"}; !cmp.Equal(got, want) {
		t.Errorf("after adding root c: got %v, want %v", got, want)
	}
	put("c", c, false) // no longer root: stays in place
	put("b", b, true)  // becomes root: swapped to the front
	if got, want := ids(), []string{"b", "a", "c"}; !cmp.Equal(got, want) {
		t.Errorf("after making b root: got %v, want %v", got, want)
	}
}

// TestInstanceStartChecks covers what InstanceStart itself rejects.
func TestInstanceStartChecks(t *testing.T) {
	f := startFake(t)
	status, resp := f.do("PUT", "/actions", `{"action_type":"InstanceStart"}`)
	if got, want := faultOf(t, resp), "Start microvm error: Cannot start microvm without kernel configuration."; status != 400 || got != want {
		t.Errorf("InstanceStart without boot source: got %d %q, want 400 %q", status, got, want)
	}

	bz := f.file("bzImage", 4096) // not an ELF vmlinux
	f.mustPut("/boot-source", fmt.Sprintf(`{"kernel_image_path":%s}`, jsonString(bz)))
	status, resp = f.do("PUT", "/actions", `{"action_type":"InstanceStart"}`)
	if got := faultOf(t, resp); status != 400 || !strings.Contains(got, "invalid kernel image") {
		t.Errorf("InstanceStart with a non-ELF kernel: got %d %q, want 400 invalid kernel image", status, got)
	}

	// No root drive is not an error for Firecracker; the guest finds out.
	f.mustPut("/boot-source", fmt.Sprintf(`{"kernel_image_path":%s}`, jsonString(f.kernel())))
	f.mustPut("/actions", `{"action_type":"InstanceStart"}`)
	f.waitStdout("Command line: " + defaultCmdline + "\n")
}
