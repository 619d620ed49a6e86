package firecracker

import (
	"context"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestClientRequests(t *testing.T) {
	tests := []struct {
		name string
		do   func(ctx context.Context, c *Client) error
		want call
	}{
		{"logger", func(ctx context.Context, c *Client) error {
			return c.PutLogger(ctx, Logger{LogPath: "/l", Level: "Info", ShowLevel: true})
		}, call{"PUT", "/logger", `{"log_path":"/l","level":"Info","show_level":true,"show_log_origin":false}`}},
		{"metrics", func(ctx context.Context, c *Client) error {
			return c.PutMetrics(ctx, Metrics{MetricsPath: "/m"})
		}, call{"PUT", "/metrics", `{"metrics_path":"/m"}`}},
		{"machine-config", func(ctx context.Context, c *Client) error {
			return c.PutMachineConfig(ctx, MachineConfig{VcpuCount: 2, MemSizeMib: 512})
		}, call{"PUT", "/machine-config", `{"vcpu_count":2,"mem_size_mib":512,"smt":false}`}},
		{"boot-source", func(ctx context.Context, c *Client) error {
			return c.PutBootSource(ctx, BootSource{KernelImagePath: "/k", BootArgs: "console=ttyS0"})
		}, call{"PUT", "/boot-source", `{"kernel_image_path":"/k","boot_args":"console=ttyS0"}`}},
		{"boot-source-initrd", func(ctx context.Context, c *Client) error {
			return c.PutBootSource(ctx, BootSource{KernelImagePath: "/k", InitrdPath: "/i"})
		}, call{"PUT", "/boot-source", `{"kernel_image_path":"/k","initrd_path":"/i"}`}},
		{"drive", func(ctx context.Context, c *Client) error {
			return c.PutDrive(ctx, Drive{DriveID: "rootfs", PathOnHost: "/r", IsRootDevice: true})
		}, call{"PUT", "/drives/rootfs", `{"drive_id":"rootfs","path_on_host":"/r","is_root_device":true,"is_read_only":false}`}},
		{"drive-escaped", func(ctx context.Context, c *Client) error {
			return c.PutDrive(ctx, Drive{DriveID: "a b", PathOnHost: "/r", IsReadOnly: true})
		}, call{"PUT", "/drives/a%20b", `{"drive_id":"a b","path_on_host":"/r","is_root_device":false,"is_read_only":true}`}},
		{"network", func(ctx context.Context, c *Client) error {
			return c.PutNetworkInterface(ctx, NetworkInterface{IfaceID: "eth0", HostDevName: "tap0", GuestMac: "02:00:00:00:00:01"})
		}, call{"PUT", "/network-interfaces/eth0", `{"iface_id":"eth0","host_dev_name":"tap0","guest_mac":"02:00:00:00:00:01"}`}},
		{"vsock", func(ctx context.Context, c *Client) error {
			return c.PutVsock(ctx, Vsock{GuestCID: 3, UdsPath: "/v.sock"})
		}, call{"PUT", "/vsock", `{"guest_cid":3,"uds_path":"/v.sock"}`}},
		{"start", func(ctx context.Context, c *Client) error {
			return c.Action(ctx, ActionInstanceStart)
		}, call{"PUT", "/actions", `{"action_type":"InstanceStart"}`}},
		{"ctrl-alt-del", func(ctx context.Context, c *Client) error {
			return c.Action(ctx, ActionSendCtrlAltDel)
		}, call{"PUT", "/actions", `{"action_type":"SendCtrlAltDel"}`}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := newAPIServer(t, nil)
			if err := tc.do(context.Background(), NewClient(s.socket, 0)); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff([]call{tc.want}, s.received()); diff != "" {
				t.Errorf("requests (-want +got):\n%s", diff)
			}
		})
	}
}

func TestClientGets(t *testing.T) {
	s := newAPIServer(t, map[string]reply{
		"GET /":        {200, `{"app_name":"Firecracker","id":"vm1","state":"Not started","vmm_version":"1.7.0"}`},
		"GET /version": {200, `{"firecracker_version":"1.7.0"}`},
	})
	c := NewClient(s.socket, 0)
	info, err := c.InstanceInfo(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	want := InstanceInfo{AppName: "Firecracker", ID: "vm1", State: "Not started", VMMVersion: "1.7.0"}
	if diff := cmp.Diff(want, info); diff != "" {
		t.Errorf("InstanceInfo (-want +got):\n%s", diff)
	}
	v, err := c.Version(context.Background())
	if got, want := v, "1.7.0"; err != nil || got != want {
		t.Errorf("Version = %q, %v; want %q", got, err, want)
	}
}

func TestClientErrors(t *testing.T) {
	tests := []struct {
		name  string
		reply reply
		want  APIError
	}{
		{"fault", reply{400, `{"fault_message":"The kernel file cannot be opened: No such file or directory (os error 2)"}`},
			APIError{"PUT", "/boot-source", 400, "The kernel file cannot be opened: No such file or directory (os error 2)"}},
		{"plain-body", reply{500, "boom\n"}, APIError{"PUT", "/boot-source", 500, "boom"}},
		{"empty-body", reply{404, ""}, APIError{"PUT", "/boot-source", 404, "not found"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := newAPIServer(t, map[string]reply{"PUT /boot-source": tc.reply})
			err := NewClient(s.socket, 0).PutBootSource(context.Background(), BootSource{KernelImagePath: "/k"})
			var got *APIError
			if !errors.As(err, &got) {
				t.Fatalf("error %v is not an *APIError", err)
			}
			if diff := cmp.Diff(tc.want, *got); diff != "" {
				t.Errorf("APIError (-want +got):\n%s", diff)
			}
			if prefix := "firecracker rejected PUT /boot-source: " + tc.want.FaultMessage; !strings.HasPrefix(err.Error(), prefix) {
				t.Errorf("error %q does not start with %q", err, prefix)
			}
		})
	}
}

func TestClientBadJSON(t *testing.T) {
	s := newAPIServer(t, map[string]reply{"GET /": {200, `not json`}})
	_, err := NewClient(s.socket, 0).InstanceInfo(context.Background())
	if err == nil || !strings.Contains(err.Error(), "decode firecracker answer to GET /") {
		t.Fatalf("InstanceInfo with a bad body = %v, want a decode error", err)
	}
}

func TestClientNoSocket(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "missing.sock")
	err := NewClient(sock, 0).Action(context.Background(), ActionInstanceStart)
	if err == nil || !strings.Contains(err.Error(), sock) || !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("call on a missing socket = %v, want an error naming it and wrapping ENOENT", err)
	}
}

func TestClientTimeout(t *testing.T) {
	// A server that accepts but never answers until the request is gone.
	sock := serveUnix(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		<-r.Context().Done()
	}))

	start := time.Now()
	err := NewClient(sock, 50*time.Millisecond).Action(context.Background(), ActionInstanceStart)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("call on a silent server = %v, want DeadlineExceeded", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("timeout took %s", d)
	}

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := NewClient(sock, 0).Action(ctx, ActionInstanceStart); !errors.Is(err, context.Canceled) {
		t.Fatalf("call with a cancelled context = %v, want Canceled", err)
	}
}
