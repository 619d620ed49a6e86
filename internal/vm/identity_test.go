package vm

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"banger/internal/identdisk"
	"banger/internal/store"
)

// TestIdentityDisk: for an image that reads the identity disk, create and
// start never write into the root disk (the fake Disks fails any
// WriteFiles), and start writes the VM's identity disk, private, holding
// its hostname, token and banger's current key, which the VMM gets as a
// read-only drive after the root and work disks.
func TestIdentityDisk(t *testing.T) {
	keys := &fakeSSH{key: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKey banger\n", pins: map[string][]string{}}
	e := newEnv(t, envOpts{ssh: keys, identity: store.ImageIdentityDisk})
	e.disks.failWrite = errors.New("debugfs must not run for an image that reads the identity disk")

	v := e.create("idvm")
	rec := e.record(v.ID)
	// No identity step in the create journal: every step costs a store write.
	if diff := cmp.Diff([]string{"record", "make-dir", "copy-root-disk", "create-work-disk", "finish"}, startedSteps(e, rec.ID)); diff != "" {
		t.Errorf("create journal (-want +got):\n%s", diff)
	}
	e.start("idvm")
	if diff := cmp.Diff([]string{"mark-starting", "prepare-runtime", "write-identity-disk", "attach-network", "launch-vmm", "boot", "mark-running"}, startedSteps(e, rec.ID)); diff != "" {
		t.Errorf("start journal (-want +got):\n%s", diff)
	}
	if n := e.disks.writeCount(); n != 0 {
		t.Errorf("create and start called WriteFiles %d times, want none", n)
	}

	path := filepath.Join(rec.Dir, identityFile)
	st, err := os.Stat(path)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("identity disk: %v, %v; want mode 0600", st, err)
	}
	files, err := identdisk.Read(path)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, f := range files {
		got[f.Path] = string(f.Data)
	}
	want := map[string]string{
		"/etc/hostname":    "idvm\n",
		"/etc/hosts":       "127.0.0.1\tlocalhost\n127.0.1.1\tidvm\n::1\tlocalhost ip6-localhost ip6-loopback\n",
		agentTokenPath:     rec.AgentToken,
		authorizedKeysPath: keys.key,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("identity disk files (-want +got):\n%s", diff)
	}

	console := waitConsole(t, filepath.Join(rec.Dir, consoleLogFile), "fake guest: ready")
	if !strings.Contains(console, "[vdc] 8 512-byte logical blocks (read-only)") {
		t.Errorf("the VMM did not get the identity disk as a read-only third drive; console:\n%s", console)
	}

	// A new key reaches the disk at the next start.
	if _, err := e.svc.Stop(context.Background(), "", "idvm", nil); err != nil {
		t.Fatal(err)
	}
	keys.mu.Lock()
	keys.key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAINew banger\n"
	keys.mu.Unlock()
	e.start("idvm")
	files, err = identdisk.Read(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		if f.Path == authorizedKeysPath && string(f.Data) != keys.key {
			t.Errorf("authorized key after restart = %q, want %q", f.Data, keys.key)
		}
	}
}

// TestDebugfsImageHasNoIdentityDisk: an image without the capability keeps
// the identity in the root disk and boots without an identity disk.
func TestDebugfsImageHasNoIdentityDisk(t *testing.T) {
	e := newEnv(t, envOpts{})
	v := e.create("plain")
	e.start("plain")
	rec := e.record(v.ID)
	if e.disks.writeCount() == 0 {
		t.Error("create did not write the identity into the root disk")
	}
	if _, err := os.Stat(filepath.Join(rec.Dir, identityFile)); !os.IsNotExist(err) {
		t.Errorf("identity disk of a debugfs image: %v, want none", err)
	}
	console := waitConsole(t, filepath.Join(rec.Dir, consoleLogFile), "fake guest: ready")
	if strings.Contains(console, "[vdc]") {
		t.Errorf("a debugfs image got a third drive; console:\n%s", console)
	}
}

// startedSteps are the steps of the VM's last operation, in order.
func startedSteps(e *env, id string) []string {
	_, steps := e.lastOp(id)
	var out []string
	for _, s := range steps {
		if s.Status == "started" {
			out = append(out, s.Step)
		}
	}
	return out
}

// waitConsole waits for the console log at path to contain want.
func waitConsole(t *testing.T, path, want string) string {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		b, _ := os.ReadFile(path)
		if strings.Contains(string(b), want) || time.Now().After(deadline) {
			return string(b)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
