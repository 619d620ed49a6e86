package e2e

import (
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"banger/internal/api"
)

// TestReadopt checks that running VMs outlive the daemon, whether it is
// killed or shut down, and are adopted again by the next one.
func TestReadopt(t *testing.T) {
	for _, tt := range []struct {
		name string
		sig  syscall.Signal
		exit int // the daemon's exit status; -1: ended by the signal
	}{
		{"sigkill", syscall.SIGKILL, -1},
		{"sigterm", syscall.SIGTERM, 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			w := newWorld(t)
			w.startDaemon()
			w.registerImage()
			w.mustBanger(append([]string{"vm", "create", "--start", "a", "b"}, vmFlags...)...)
			before := w.vms()
			for _, n := range []string{"a", "b"} {
				if v := before[n]; v.State != api.StateRunning || !alive(v.PID) {
					t.Fatalf("%s before the restart: %s with pid %d, want running and alive", n, v.State, v.PID)
				}
			}

			start := time.Now()
			if got := w.killDaemon(tt.sig); got != tt.exit {
				t.Errorf("daemon exit status after %v = %d, want %d:\n%s", tt.sig, got, tt.exit, w.daemonLog())
			}
			if d := time.Since(start); d > 5*time.Second {
				t.Errorf("daemon took %v to exit after %v, want under 5s", d, tt.sig)
			}
			for _, n := range []string{"a", "b"} {
				if !alive(before[n].PID) {
					t.Errorf("VMM of %s (pid %d) died with the daemon", n, before[n].PID)
				}
			}
			if _, err := os.Stat(w.socket()); tt.sig == syscall.SIGTERM && err == nil {
				t.Errorf("socket %s still exists after a graceful exit", w.socket())
			}

			w.startDaemon()
			after := w.vms()
			for _, n := range []string{"a", "b"} {
				got, want := after[n], before[n]
				if got.State != api.StateRunning || got.PID != want.PID {
					t.Errorf("%s after the restart: %s with pid %d, want running with pid %d", n, got.State, got.PID, want.PID)
				}
				if p := w.vmmOf(got.ID); len(p) != 1 || p[0].pid != want.PID {
					t.Errorf("VMM processes of %s = %v, want one with pid %d", n, p, want.PID)
				}
			}
			w.mustBanger("vm", "stop", "a", "b")
			if got, want := states(w.vms()), map[string]string{"a": "stopped", "b": "stopped"}; !cmp.Equal(got, want) {
				t.Errorf("after stop (-got +want):\n%s", cmp.Diff(got, want))
			}
			w.mustBanger("vm", "delete", "a", "b")
			w.assertClean()
		})
	}
}

// TestVMMDiesWhileDaemonDown checks that a VM whose VMM exited while no
// daemon was running is found stopped, with its runtime files released.
func TestVMMDiesWhileDaemonDown(t *testing.T) {
	w := newWorld(t)
	w.startDaemon()
	w.registerImage()
	w.mustBanger(append([]string{"vm", "create", "--start", "a"}, vmFlags...)...)
	a := w.vm("a")
	if len(entries(w.path("run/banger/vms/"+a.ID))) == 0 {
		t.Fatalf("running VM a has no runtime files in %s", w.runVMsDir())
	}
	w.killDaemon(syscall.SIGKILL)
	if err := syscall.Kill(a.PID, syscall.SIGKILL); err != nil {
		t.Fatalf("kill VMM of a: %v", err)
	}
	if !waitGone([]proc{{pid: a.PID}}, 5*time.Second) {
		t.Fatalf("VMM of a (pid %d) survived SIGKILL", a.PID)
	}

	w.startDaemon()
	if got := w.vm("a"); got.State != api.StateStopped || got.PID != 0 {
		t.Errorf("a after the restart: %s with pid %d, want stopped with no pid", got.State, got.PID)
	}
	if e := entries(w.runVMsDir()); len(e) != 0 {
		t.Errorf("runtime directories left: %v", e)
	}
	w.mustBanger("vm", "start", "a")
	if got := w.vm("a"); got.State != api.StateRunning || len(w.vmmOf(got.ID)) != 1 {
		t.Errorf("a after start: %s with VMMs %v, want running with one", got.State, w.vmmOf(got.ID))
	}
	w.mustBanger("vm", "delete", "a")
	w.assertClean()
}
