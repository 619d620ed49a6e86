package e2e

import (
	"context"
	"os/exec"
	"testing"

	"banger/internal/netnstest"
)

// Every world runs its daemon, its VMMs and its CLI commands inside a
// network namespace of its own, entered with "ip netns exec", whose
// resolv.conf names the world's own DNS listener. So the bridge, taps,
// firewall tables and DNS listeners of a world never touch the host's own
// network, and worlds running in parallel never see each other's.
func newNetns(t *testing.T) string {
	t.Helper()
	return netnstest.Named(t, "nameserver 127.0.0.153\n")
}

// command runs bin with args inside the world's network namespace, as
// the world's user.
func (w *world) command(ctx context.Context, bin string, args ...string) *exec.Cmd {
	if len(w.runAs) > 0 {
		args = append(append(append([]string{}, w.runAs[1:]...), bin), args...)
		bin = w.runAs[0]
	}
	cmd := netnstest.Command(ctx, w.netns, bin, args...)
	cmd.Env = w.env
	return cmd
}
