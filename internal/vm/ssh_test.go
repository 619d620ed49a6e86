package vm

import (
	"context"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// fakeSSH is banger's key and pins kept in memory.
type fakeSSH struct {
	mu   sync.Mutex
	key  string
	pins map[string][]string // VM id → key lines
}

func (f *fakeSSH) AuthorizedKey() (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.key, nil
}

func (f *fakeSSH) Pin(id, name, ip string, keys []string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.pins[id] = keys
	return nil
}

func (f *fakeSSH) Unpin(id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.pins, id)
	return nil
}

func (f *fakeSSH) pinned() map[string][]string {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := map[string][]string{}
	for k, v := range f.pins {
		out[k] = v
	}
	return out
}

// authorizedKey reads banger's key out of a VM's root disk ("" when absent).
func authorizedKey(t *testing.T, dir string) string {
	t.Helper()
	out, err := exec.Command("debugfs", "-R", "cat "+authorizedKeysPath, filepath.Join(dir, rootDiskFile)).Output()
	if err != nil {
		t.Fatalf("debugfs cat %s: %v", authorizedKeysPath, err)
	}
	return string(out)
}

// TestSSHKeyWrittenAtCreateAndStart: a new VM gets banger's key in its root
// disk at create; a VM made before banger had a key (here: by a service
// without one) gets it at its next start; delete removes the VM's pins.
func TestSSHKeyWrittenAtCreateAndStart(t *testing.T) {
	keys := &fakeSSH{key: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKey banger\n", pins: map[string][]string{}}
	e := newEnv(t, envOpts{ssh: keys})

	v := e.create("fresh")
	if got := authorizedKey(t, e.record(v.ID).Dir); got != keys.key {
		t.Errorf("authorized key after create = %q, want %q", got, keys.key)
	}

	// A VM created before SSH support: no key in its disk.
	e.svc.ssh = nil
	old := e.create("old")
	if got := authorizedKey(t, e.record(old.ID).Dir); got != "" {
		t.Fatalf("a VM made without SSH support has key %q", got)
	}
	e.svc.ssh = keys
	e.start("old")
	if got := authorizedKey(t, e.record(old.ID).Dir); got != keys.key {
		t.Errorf("authorized key after the next start = %q, want %q", got, keys.key)
	}

	keys.pins[old.ID] = []string{"ssh-ed25519 AAAA"}
	keys.pins[v.ID] = []string{"ssh-ed25519 BBBB"}
	if err := e.svc.Delete(context.Background(), "", "old", nil); err != nil {
		t.Fatal(err)
	}
	want := map[string][]string{v.ID: {"ssh-ed25519 BBBB"}}
	if diff := cmp.Diff(want, keys.pinned()); diff != "" {
		t.Errorf("pins after deleting old (-want +got):\n%s", diff)
	}
}
