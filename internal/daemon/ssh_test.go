package daemon

import (
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"banger/internal/api"
	"banger/internal/errdefs"
)

// TestSSHInfoMakesKey: GET /v1/ssh makes banger's key on first use, 0600
// in a 0700 directory under the state directory, and names it.
func TestSSHInfoMakesKey(t *testing.T) {
	td := startDaemon(t, daemonOpts{})
	resp, body := td.do("GET", "/v1/ssh", "")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /v1/ssh = %d %s", resp.StatusCode, body)
	}
	var info api.SSHInfo
	if err := json.Unmarshal(body, &info); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(td.layout.StateDir, "ssh")
	if info.IdentityFile != filepath.Join(dir, "id_ed25519") || info.KnownHostsFile != filepath.Join(dir, "known_hosts") || info.Domain == "" {
		t.Errorf("ssh info = %+v", info)
	}
	for path, want := range map[string]os.FileMode{dir: 0o700, info.IdentityFile: 0o600} {
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != want {
			t.Errorf("%s mode %04o, want %04o", path, fi.Mode().Perm(), want)
		}
	}
}

// TestTCPRouteRefusesBadRequests: the relay route checks its headers and
// query before looking at the VM, and a VM that does not exist or is not
// running is a clear error.
func TestTCPRouteRefusesBadRequests(t *testing.T) {
	td := startDaemon(t, daemonOpts{})
	img := td.registerImage("default")
	if resp, body := td.do("POST", "/v1/vms", smallVM("stopped", img.Name, false)); resp.StatusCode != http.StatusCreated {
		t.Fatalf("create: %d %s", resp.StatusCode, body)
	}
	up := []string{"Connection", "Upgrade", "Upgrade", api.TCPUpgrade}
	for _, tc := range []struct {
		name   string
		path   string
		header []string
		kind   errdefs.Kind
		says   string
	}{
		{"no upgrade", "/v1/vms/stopped/tcp?port=22", nil, errdefs.InvalidArgument, "Upgrade: banger-tcp"},
		{"no port", "/v1/vms/stopped/tcp", up, errdefs.InvalidArgument, "port"},
		{"port out of range", "/v1/vms/stopped/tcp?port=70000", up, errdefs.InvalidArgument, "port"},
		{"bad wait", "/v1/vms/stopped/tcp?port=22&wait=forever", up, errdefs.InvalidArgument, "wait"},
		{"unknown VM", "/v1/vms/nope/tcp?port=22", up, errdefs.NotFound, "nope"},
		{"stopped VM", "/v1/vms/stopped/tcp?port=22&wait=1s", up, errdefs.FailedPrecondition, "banger vm logs stopped"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sub := td.sub(t)
			resp, body := sub.do("POST", tc.path, "", tc.header...)
			e := sub.checkAPIError(resp, body, tc.kind)
			if !strings.Contains(e.Message, tc.says) {
				t.Errorf("message %q does not say %q", e.Message, tc.says)
			}
		})
	}
}
