package main

import (
	"fmt"
	"net"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestValidation sends one invalid request per rule to a configured,
// not-yet-started fake and checks the 400 and its fault_message; at the
// end the configuration must be unchanged.
func TestValidation(t *testing.T) {
	f := startFake(t)
	kernel := f.kernel()
	rootfs := f.file("rootfs", 4096)
	disk := f.file("disk", 4096)
	taken := f.file("taken", 0) // an existing path a socket cannot be bound to
	missing := filepath.Join(f.dir, "missing")
	f.mustPut("/boot-source", fmt.Sprintf(`{"kernel_image_path":%s}`, jsonString(kernel)))
	f.mustPut("/drives/rootfs", fmt.Sprintf(`{"drive_id":"rootfs","path_on_host":%s,"is_root_device":true,"is_read_only":false}`, jsonString(rootfs)))
	f.mustPut("/network-interfaces/eth0", `{"iface_id":"eth0","host_dev_name":"fctap0","guest_mac":"06:00:00:00:00:01"}`)
	before := f.getJSON("/vm/config")

	deser := "An error occurred when deserializing the json body of a request: "
	tests := []struct {
		name         string
		method, path string
		body         string
		want         string // substring of the fault_message
	}{
		// Request framing and routing.
		{"unknown path", "PUT", "/foo", `{}`, "Invalid request method and/or path: PUT foo."},
		{"unknown GET path", "GET", "/foo", "", "Invalid request method and/or path: GET foo."},
		{"vm without config", "GET", "/vm", "", "Invalid request method and/or path: GET vm."},
		{"put without body", "PUT", "/machine-config", "", "Empty PUT request."},
		{"get with body", "GET", "/", `{}`, "GET request cannot have a body."},
		{"unsupported method", "DELETE", "/", "", "Unsupported HTTP method."},
		{"real endpoint the fake lacks", "PATCH", "/machine-config", `{"vcpu_count":2}`, "fakefc does not implement PATCH /machine-config"},
		{"malformed json", "PUT", "/machine-config", `{"vcpu_count":`, deser},
		{"not an object", "PUT", "/machine-config", `[1,2]`, deser + "invalid type: sequence, expected struct."},
		{"trailing characters", "PUT", "/machine-config", `{"vcpu_count":1,"mem_size_mib":128} x`, deser},

		// machine-config
		{"vcpu_count missing", "PUT", "/machine-config", `{"mem_size_mib":128}`, deser + "missing field `vcpu_count`."},
		{"mem_size_mib missing", "PUT", "/machine-config", `{"vcpu_count":1}`, deser + "missing field `mem_size_mib`."},
		{"unknown field", "PUT", "/machine-config", `{"vcpu_count":1,"mem_size_mib":128,"memory":1}`, deser + "unknown field `memory`"},
		{"field names are case-sensitive", "PUT", "/machine-config", `{"VCPU_COUNT":1,"mem_size_mib":128}`, deser + "unknown field `VCPU_COUNT`"},
		{"duplicate field", "PUT", "/machine-config", `{"vcpu_count":1,"vcpu_count":2,"mem_size_mib":128}`, deser + "duplicate field `vcpu_count`."},
		{"null for a required field", "PUT", "/machine-config", `{"vcpu_count":null,"mem_size_mib":128}`, deser + "invalid type: null"},
		{"null for a defaulted field", "PUT", "/machine-config", `{"vcpu_count":1,"mem_size_mib":128,"smt":null}`, deser + "invalid type: null"},
		{"vcpu_count as string", "PUT", "/machine-config", `{"vcpu_count":"2","mem_size_mib":128}`, deser + "invalid value for field `vcpu_count`"},
		{"vcpu_count overflows u8", "PUT", "/machine-config", `{"vcpu_count":256,"mem_size_mib":128}`, deser},
		{"vcpu_count 0", "PUT", "/machine-config", `{"vcpu_count":0,"mem_size_mib":128}`, "Machine config error: The number of vCPUs must be greater than 0"},
		{"vcpu_count 33", "PUT", "/machine-config", `{"vcpu_count":33,"mem_size_mib":128}`, "Machine config error: The number of vCPUs"},
		{"odd vcpus with smt", "PUT", "/machine-config", `{"vcpu_count":3,"mem_size_mib":128,"smt":true}`, "Machine config error: The number of vCPUs"},
		{"mem_size_mib 0", "PUT", "/machine-config", `{"vcpu_count":1,"mem_size_mib":0}`, "Machine config error: The memory size (MiB) is either 0"},
		{"bad huge_pages", "PUT", "/machine-config", `{"vcpu_count":1,"mem_size_mib":128,"huge_pages":"1G"}`, deser + "unknown variant `1G`"},

		// boot-source
		{"kernel missing from body", "PUT", "/boot-source", `{"boot_args":"console=ttyS0"}`, deser + "missing field `kernel_image_path`."},
		{"kernel file missing", "PUT", "/boot-source", fmt.Sprintf(`{"kernel_image_path":%s}`, jsonString(missing)),
			"Boot source error: The kernel file cannot be opened: No such file or directory (os error 2)"},
		{"initrd file missing", "PUT", "/boot-source", fmt.Sprintf(`{"kernel_image_path":%s,"initrd_path":%s}`, jsonString(kernel), jsonString(missing)),
			"Boot source error: The initrd file cannot be opened due to invalid path or invalid permissions. No such file or directory (os error 2)"},
		{"control character in boot_args", "PUT", "/boot-source", fmt.Sprintf(`{"kernel_image_path":%s,"boot_args":"a\nb"}`, jsonString(kernel)),
			"Boot source error: The kernel command line is invalid"},
		{"boot_args too long", "PUT", "/boot-source", fmt.Sprintf(`{"kernel_image_path":%s,"boot_args":%q}`, jsonString(kernel), strings.Repeat("a", 2048)),
			"Boot source error: The kernel command line is invalid"},

		// drives
		{"drive id mismatch", "PUT", "/drives/work", fmt.Sprintf(`{"drive_id":"other","path_on_host":%s,"is_root_device":false}`, jsonString(disk)),
			"The id from the path does not match the id from the body!"},
		{"drive id with a dash", "PUT", "/drives/work-disk", fmt.Sprintf(`{"drive_id":"work-disk","path_on_host":%s,"is_root_device":false}`, jsonString(disk)),
			"API Resource IDs can only contain alphanumeric characters and underscores."},
		{"drive id empty", "PUT", "/drives/", fmt.Sprintf(`{"drive_id":"","path_on_host":%s,"is_root_device":false}`, jsonString(disk)), "The ID cannot be empty."},
		{"is_root_device missing", "PUT", "/drives/work", fmt.Sprintf(`{"drive_id":"work","path_on_host":%s}`, jsonString(disk)), deser + "missing field `is_root_device`."},
		{"path_on_host missing", "PUT", "/drives/work", `{"drive_id":"work","is_root_device":false}`, "Drive config error: Unable to create the virtio block device"},
		{"path_on_host does not exist", "PUT", "/drives/work", fmt.Sprintf(`{"drive_id":"work","path_on_host":%s,"is_root_device":false}`, jsonString(missing)),
			"Drive config error: Unable to create the virtio block device: VirtioBackend(BackingFile(No such file or directory (os error 2)"},
		{"path_on_host is a directory", "PUT", "/drives/work", fmt.Sprintf(`{"drive_id":"work","path_on_host":%s,"is_root_device":false}`, jsonString(f.dir)),
			"Drive config error: Unable to create the virtio block device"},
		{"second root device", "PUT", "/drives/work", fmt.Sprintf(`{"drive_id":"work","path_on_host":%s,"is_root_device":true}`, jsonString(disk)),
			"Drive config error: A root block device already exists!"},
		{"bad cache_type", "PUT", "/drives/work", fmt.Sprintf(`{"drive_id":"work","path_on_host":%s,"is_root_device":false,"cache_type":"WriteBack"}`, jsonString(disk)),
			deser + "unknown variant `WriteBack`"},
		{"bad io_engine", "PUT", "/drives/work", fmt.Sprintf(`{"drive_id":"work","path_on_host":%s,"is_root_device":false,"io_engine":"io_uring"}`, jsonString(disk)),
			deser + "unknown variant `io_uring`"},
		{"bad rate limiter bucket", "PUT", "/drives/work", fmt.Sprintf(`{"drive_id":"work","path_on_host":%s,"is_root_device":false,"rate_limiter":{"bandwidth":{"size":1}}}`, jsonString(disk)),
			"missing field `refill_time`"},

		// network-interfaces
		{"iface id mismatch", "PUT", "/network-interfaces/eth1", `{"iface_id":"eth2","host_dev_name":"fctap1"}`,
			"The id from the path [eth1] does not match the id from the body [eth2]!"},
		{"host_dev_name missing", "PUT", "/network-interfaces/eth1", `{"iface_id":"eth1"}`, deser + "missing field `host_dev_name`."},
		{"bad guest_mac", "PUT", "/network-interfaces/eth1", `{"iface_id":"eth1","host_dev_name":"fctap1","guest_mac":"06:00:00:00:01"}`, deser + "invalid MAC address"},
		{"guest_mac in use", "PUT", "/network-interfaces/eth1", `{"iface_id":"eth1","host_dev_name":"fctap1","guest_mac":"06:00:00:00:00:01"}`,
			"Net device error: The MAC address is already in use: 06:00:00:00:00:01"},
		{"tap name too long", "PUT", "/network-interfaces/eth1", `{"iface_id":"eth1","host_dev_name":"tap-name-too-long"}`, "Open tap device failed: Invalid interface name"},
		{"host device is not a tap", "PUT", "/network-interfaces/eth1", `{"iface_id":"eth1","host_dev_name":"lo"}`, "Invalid TUN/TAP Backend provided by lo."},

		// vsock
		{"guest_cid missing", "PUT", "/vsock", `{"uds_path":"/tmp/x.sock"}`, deser + "missing field `guest_cid`."},
		{"uds_path missing", "PUT", "/vsock", `{"guest_cid":3}`, deser + "missing field `uds_path`."},
		{"guest_cid reserved", "PUT", "/vsock", fmt.Sprintf(`{"guest_cid":2,"uds_path":%s}`, jsonString(filepath.Join(f.dir, "v.sock"))), "guest_cid 2 is invalid"},
		{"uds_path exists", "PUT", "/vsock", fmt.Sprintf(`{"guest_cid":3,"uds_path":%s}`, jsonString(taken)),
			"Vsock config error: Cannot create backend for vsock device: UnixBind(Address already in use (os error 98))"},

		// logger and metrics
		{"log_path missing", "PUT", "/logger", `{"level":"Info"}`, deser + "missing field `log_path`."},
		{"log file missing", "PUT", "/logger", fmt.Sprintf(`{"log_path":%s}`, jsonString(missing)), "Logger error: Failed to open target file: No such file or directory (os error 2)"},
		{"bad log level", "PUT", "/logger", fmt.Sprintf(`{"log_path":%s,"level":"Verbose"}`, jsonString(taken)), deser + "invalid LevelFilter"},
		{"metrics_path missing", "PUT", "/metrics", `{}`, deser + "missing field `metrics_path`."},
		{"metrics file missing", "PUT", "/metrics", fmt.Sprintf(`{"metrics_path":%s}`, jsonString(missing)),
			"Metrics error: Cannot initialize the metrics system due to bad user input: No such file or directory (os error 2)"},

		// actions
		{"unknown action", "PUT", "/actions", `{"action_type":"Pause"}`, deser + "unknown variant `Pause`"},
		{"action_type missing", "PUT", "/actions", `{}`, deser + "missing field `action_type`."},
		{"ctrl-alt-del before boot", "PUT", "/actions", `{"action_type":"SendCtrlAltDel"}`, "The requested operation is not supported before starting the microVM."},
		{"flush metrics before boot", "PUT", "/actions", `{"action_type":"FlushMetrics"}`, "The requested operation is not supported before starting the microVM."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, resp := f.do(tt.method, tt.path, tt.body)
			if status != 400 {
				t.Fatalf("got %d %s, want 400", status, resp)
			}
			if got := faultOf(t, resp); !strings.Contains(got, tt.want) {
				t.Errorf("fault_message %q does not contain %q", got, tt.want)
			}
		})
	}
	if got := f.getJSON("/vm/config"); !cmp.Equal(got, before) {
		t.Errorf("rejected requests changed the configuration (-got +want):\n%s", cmp.Diff(got, before))
	}
}

// TestMetricsOnce: the metrics system can be initialised only once.
func TestMetricsOnce(t *testing.T) {
	f := startFake(t)
	m := f.file("metrics", 0)
	body := fmt.Sprintf(`{"metrics_path":%s}`, jsonString(m))
	f.mustPut("/metrics", body)
	status, resp := f.do("PUT", "/metrics", body)
	if got := faultOf(t, resp); status != 400 || !strings.Contains(got, "Reinitialization of metrics not allowed.") {
		t.Errorf("second PUT /metrics: got %d %q, want 400 reinitialization", status, got)
	}
}

// TestVsockReplace: a second PUT /vsock replaces the device, removing the
// old socket and binding the new one.
func TestVsockReplace(t *testing.T) {
	f := startFake(t)
	first, second := filepath.Join(f.dir, "v1.sock"), filepath.Join(f.dir, "v2.sock")
	f.mustPut("/vsock", fmt.Sprintf(`{"guest_cid":3,"uds_path":%s}`, jsonString(first)))
	f.mustPut("/vsock", fmt.Sprintf(`{"vsock_id":"vsock0","guest_cid":4,"uds_path":%s}`, jsonString(second)))
	if exists(first) {
		t.Errorf("old vsock socket %s still exists", first)
	}
	if c, err := net.Dial("unix", second); err != nil {
		t.Errorf("new vsock socket does not accept connections: %v", err)
	} else {
		c.Close()
	}
	want := decodeJSON(t, fmt.Sprintf(`{"guest_cid":4,"uds_path":%s}`, jsonString(second)))
	if got := f.getJSON("/vm/config").(map[string]any)["vsock"]; !cmp.Equal(got, want) {
		t.Errorf("vsock config (-got +want):\n%s", cmp.Diff(got, want))
	}
}

// TestPostBootRejected: every configuration request is refused once the
// guest runs, while reads still work.
func TestPostBootRejected(t *testing.T) {
	f := startFake(t)
	kernel := f.kernel()
	disk := f.file("disk", 4096)
	logFile := f.file("log", 0)
	f.mustPut("/boot-source", fmt.Sprintf(`{"kernel_image_path":%s}`, jsonString(kernel)))
	f.mustPut("/actions", `{"action_type":"InstanceStart"}`)

	tests := []struct{ path, body string }{
		{"/machine-config", `{"vcpu_count":2,"mem_size_mib":256}`},
		{"/boot-source", fmt.Sprintf(`{"kernel_image_path":%s}`, jsonString(kernel))},
		{"/drives/rootfs", fmt.Sprintf(`{"drive_id":"rootfs","path_on_host":%s,"is_root_device":true}`, jsonString(disk))},
		{"/network-interfaces/eth0", `{"iface_id":"eth0","host_dev_name":"fctap0"}`},
		{"/vsock", fmt.Sprintf(`{"guest_cid":3,"uds_path":%s}`, jsonString(filepath.Join(f.dir, "v.sock")))},
		{"/logger", fmt.Sprintf(`{"log_path":%s}`, jsonString(logFile))},
		{"/metrics", fmt.Sprintf(`{"metrics_path":%s}`, jsonString(logFile))},
		{"/actions", `{"action_type":"InstanceStart"}`},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			status, resp := f.do("PUT", tt.path, tt.body)
			if got, want := faultOf(t, resp), "The requested operation is not supported after starting the microVM."; status != 400 || got != want {
				t.Errorf("got %d %q, want 400 %q", status, got, want)
			}
		})
	}
	// Without a metrics sink FlushMetrics is a no-op, not an error.
	f.mustPut("/actions", `{"action_type":"FlushMetrics"}`)
	if got := f.getJSON("/").(map[string]any)["state"]; got != "Running" {
		t.Errorf("state after rejected requests: got %v, want Running", got)
	}
}
