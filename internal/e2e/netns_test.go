package e2e

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// Every world runs its daemon, its VMMs and its CLI commands inside a
// network namespace of its own, made here with ip(8) and entered with "ip
// netns exec" (which also bind-mounts /etc/netns/NAME/resolv.conf over
// /etc/resolv.conf for them). So the bridge, taps, firewall tables and DNS
// listeners of a world never touch the host's own network, and worlds
// running in parallel never see each other's.

// newNetns makes a named network namespace with lo up and a resolv.conf
// naming the world's own DNS listener, removed when the test ends.
func newNetns(t *testing.T) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: every world runs in its own network namespace")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("needs ip(8) (iproute2) to make network namespaces")
	}
	var b [4]byte
	_, _ = rand.Read(b[:])
	name := "bge-" + hex.EncodeToString(b[:])
	if out, err := exec.Command("ip", "netns", "add", name).CombinedOutput(); err != nil {
		t.Fatalf("ip netns add %s: %v\n%s", name, err, out)
	}
	etc := filepath.Join("/etc/netns", name)
	t.Cleanup(func() {
		_ = exec.Command("ip", "netns", "del", name).Run()
		_ = os.RemoveAll(etc)
	})
	if out, err := exec.Command("ip", "-n", name, "link", "set", "lo", "up").CombinedOutput(); err != nil {
		t.Fatalf("set lo up in %s: %v\n%s", name, err, out)
	}
	if err := os.MkdirAll(etc, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(etc, "resolv.conf"), []byte("nameserver 127.0.0.153\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return name
}

// command runs bin with args inside the world's network namespace. ip
// netns exec replaces itself with bin, so the pid is bin's.
func (w *world) command(ctx context.Context, bin string, args ...string) *exec.Cmd {
	all := append([]string{"netns", "exec", w.netns, bin}, args...)
	cmd := exec.CommandContext(ctx, "ip", all...)
	cmd.Env = w.env
	return cmd
}
