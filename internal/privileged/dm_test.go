package privileged

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"banger/internal/errdefs"
	"banger/internal/peercred/peercredtest"
	"banger/internal/testtier"
)

// Environment of the re-executed TestHelperDMCall.
const (
	dmMethodEnv = "BANGER_PRIVILEGED_TEST_DM_METHOD"
	dmNameEnv   = "BANGER_PRIVILEGED_TEST_DM_NAME"
	dmDiskEnv   = "BANGER_PRIVILEGED_TEST_DM_DISK"
	dmStateEnv  = "BANGER_PRIVILEGED_TEST_DM_STATE"
)

// TestHelperDMCall is not a test: TestPeerDM re-executes the test binary
// as another uid to run it. It asks the helper for a device-mapper device
// (AttachDM) or its removal (DetachDM) and prints the kind of error.
func TestHelperDMCall(t *testing.T) {
	sock, method := os.Getenv(callSocketEnv), os.Getenv(dmMethodEnv)
	if sock == "" || method == "" {
		t.Skip("helper process for TestPeerDM; runs only when re-executed with " + dmMethodEnv)
	}
	c := Client{Socket: sock}
	var err error
	switch method {
	case "AttachDM":
		_, err = c.AttachDM(os.Getenv(dmStateEnv), os.Getenv(dmNameEnv), os.Getenv(dmDiskEnv))
	case "DetachDM":
		err = c.DetachDM(os.Getenv(dmStateEnv), os.Getenv(dmNameEnv))
	}
	fmt.Printf("RESULT uid=%d kind=%q %v\n", os.Getuid(), errdefs.KindOf(err), err)
}

// dmHost is the fake host with the real device-mapper side of package
// cow, whose checks run before any device is touched.
type dmHost struct {
	*fakeHost
	local *Local
}

func (h dmHost) AttachDM(stateDir string, uid int, name, disk string) (string, error) {
	return h.local.AttachDM(stateDir, uid, name, disk)
}
func (h dmHost) DetachDM(stateDir string, uid int, name string) error {
	return h.local.DetachDM(stateDir, uid, name)
}
func (h dmHost) ListDM(stateDir string, uid int) ([]string, error) {
	return h.local.ListDM(stateDir, uid)
}

// TestPeerDM: neither the daemon's user nor a stranger can make the root
// helper create a device-mapper device outside banger's names or over a
// file outside banger's state directory (directly, through a symlink, or
// through an origin record naming one), nor remove another device.
// Nothing reaches the device-mapper: no loop device backs the files
// named.
func TestPeerDM(t *testing.T) {
	testtier.Root(t)
	const owner, stranger = 4711, 65534
	host := dmHost{fakeHost: newFakeHost(), local: &Local{}}
	base := t.TempDir()
	if err := os.Chmod(base, 0o755); err != nil {
		t.Fatal(err)
	}
	state := filepath.Join(base, "state")
	secret := filepath.Join(base, "secret.img")
	if err := os.WriteFile(secret, make([]byte, 1<<20), 0o600); err != nil {
		t.Fatal(err)
	}
	mk := func(path, data string) {
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	// A disk that is a symlink to a file outside, and a disk whose origin
	// record names a file outside.
	mk(filepath.Join(state, "vms", "a", "root.ext4"), "cow")
	mk(filepath.Join(state, "vms", "a", "root.ext4.origin"), secret)
	if err := os.Symlink(secret, filepath.Join(state, "vms", "a", "link.ext4")); err != nil {
		t.Fatal(err)
	}
	mk(filepath.Join(state, "vms", "a", "link.ext4.origin"), filepath.Join(state, "vms", "a", "root.ext4"))
	if err := filepath.Walk(state, func(p string, _ os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(p, owner, owner)
	}); err != nil {
		t.Fatal(err)
	}

	hp := startHelper(t, Policy{UID: owner, Bridge: "banger0", CowDir: state}, host, 5*time.Second)
	run := filepath.Dir(hp.socket)
	openToOthers(t, run)
	bin, dir := peercredtest.Binary(t, filepath.Dir(run)), filepath.Dir(run)

	tests := []struct {
		name, method, dev, disk string
		uid                     int
		kind                    errdefs.Kind
		why                     string // in the error's message
	}{
		{"a stranger cannot ask", "AttachDM", "banger-a", state + "/vms/a/root.ext4", stranger, errdefs.FailedPrecondition, "permission denied"},
		{"a stranger cannot remove", "DetachDM", "banger-a", "", stranger, errdefs.FailedPrecondition, "permission denied"},
		{"not banger's name", "AttachDM", "vg0-root", state + "/vms/a/root.ext4", owner, errdefs.InvalidArgument, "only devices named banger-"},
		{"a name with a slash", "AttachDM", "banger-../control", state + "/vms/a/root.ext4", owner, errdefs.InvalidArgument, "only letters, digits"},
		{"a file outside", "AttachDM", "banger-a", secret, owner, errdefs.InvalidArgument, "only files inside"},
		{"a block device", "AttachDM", "banger-a", "/dev/loop0", owner, errdefs.InvalidArgument, "only files inside"},
		{"traversal", "AttachDM", "banger-a", state + "/../secret.img", owner, errdefs.InvalidArgument, "only files inside"},
		{"a symlink inside to a file outside", "AttachDM", "banger-a", state + "/vms/a/link.ext4", owner, errdefs.FailedPrecondition, "symlinks and other filesystems refused"},
		{"an origin outside", "AttachDM", "banger-a", state + "/vms/a/root.ext4", owner, errdefs.InvalidArgument, "not a clean path inside the state directory"},
		{"remove another's device", "DetachDM", "vg0-root", "", owner, errdefs.InvalidArgument, "only devices named banger-"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := peercredtest.RunAs(t, bin, dir, "TestHelperDMCall", tt.uid,
				callSocketEnv+"="+hp.socket, dmMethodEnv+"="+tt.method, dmNameEnv+"="+tt.dev,
				dmDiskEnv+"="+tt.disk, dmStateEnv+"="+state)
			if want := fmt.Sprintf("uid=%d kind=%q ", tt.uid, tt.kind); !strings.HasPrefix(got, want) || !strings.Contains(got, tt.why) {
				t.Errorf("caller: %s, want %s...%s...", got, want, tt.why)
			}
		})
	}
	matches, _ := filepath.Glob("/sys/block/loop*/loop/backing_file")
	for _, m := range matches {
		b, _ := os.ReadFile(m)
		if f := strings.TrimSpace(string(b)); strings.HasPrefix(f, base) {
			t.Errorf("%s backs a loop device: %s", f, m)
		}
	}
	if _, err := os.Lstat("/dev/mapper/banger-a"); err == nil {
		t.Error("/dev/mapper/banger-a was made")
	}
}
