package e2e

import (
	"encoding/json"
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"

	"banger/internal/api"
)

// The steps of each plan, as named in internal/vm. A crash is injected
// before each of them in turn.
var (
	createSteps = []string{"record", "lease-address", "make-dir", "copy-root-disk", "write-identity", "create-work-disk", "finish"}
	startSteps  = []string{"mark-starting", "prepare-runtime", "write-ssh-key", "attach-network", "launch-vmm", "boot", "mark-running"}
	stopSteps   = []string{"mark-stopping", "request-shutdown", "wait-exit", "kill-vmm", "detach-network", "release-runtime", "mark-stopped"}
	killSteps   = []string{"mark-stopping", "kill-vmm", "detach-network", "release-runtime", "mark-stopped"}
	deleteSteps = append(append([]string{}, stopSteps...), "mark-deleting", "remove-runtime", "remove-files", "release-address", "remove-ssh-pins", "remove-record")
)

// createRounds is how often the create crash loop runs: a crash must be
// survivable again and again, not just once.
const createRounds = 3

// crash starts a daemon that kills itself with SIGKILL just before step
// of the operation kind, runs setup and then the banger command that
// triggers the crash, checks that the command failed and the daemon died,
// and starts a daemon without the hook.
func (w *world) crash(kind, step string, setup func(), args ...string) {
	w.t.Helper()
	w.startDaemon("BANGERD_TEST_CRASH_BEFORE=" + kind + ":" + step)
	if setup != nil {
		setup()
	}
	stdout, stderr, code := w.banger(args...)
	if code == 0 {
		w.t.Fatalf("banger %s succeeded although the daemon was to crash before %s:%s; stdout:\n%s", strings.Join(args, " "), kind, step, stdout)
	}
	w.t.Logf("banger %s: exit %d: %s", strings.Join(args, " "), code, strings.TrimSpace(stderr))
	if got := w.waitDaemonExit(15 * time.Second); got != -1 {
		w.t.Fatalf("daemon exit status %d, want -1 (killed by SIGKILL before %s:%s):\n%s", got, kind, step, w.daemonLog())
	}
	w.startDaemon()
	w.assertNoRunningOperations()
	w.assertNetworkConsistent()
}

// assertNetworkConsistent checks that the host network matches the VMs
// after a restart: a tap and rules for each running VM and nothing else,
// one distinct lease per VM.
func (w *world) assertNetworkConsistent() {
	w.t.Helper()
	var vms []api.VM
	if err := json.Unmarshal([]byte(w.mustBanger("vm", "list", "--json")), &vms); err != nil {
		w.t.Fatal(err)
	}
	running := 0
	ips := map[string]string{}
	for _, v := range vms {
		if v.State == api.StateRunning || v.State == api.StatePaused {
			running++ // a paused VM keeps its network
		}
		if v.IP == "" {
			w.t.Errorf("VM %s (%s) holds no address lease", v.Name, v.State)
		} else if other, dup := ips[v.IP]; dup {
			w.t.Errorf("VMs %s and %s hold the same address %s", other, v.Name, v.IP)
		}
		ips[v.IP] = v.Name
	}
	w.assertNetwork(w.t, running)
}

// assertNoRunningOperations checks that the restarted daemon closed the
// interrupted operation instead of leaving it "running" in the journal.
func (w *world) assertNoRunningOperations() {
	w.t.Helper()
	table := w.mustBanger("system", "operations")
	for _, line := range strings.Split(table, "\n")[1:] {
		if f := strings.Fields(line); len(f) >= 4 && f[3] == "running" {
			w.t.Errorf("operation still running after the restart: %s", line)
		}
	}
}

// stopDaemon shuts the current daemon down gracefully.
func (w *world) stopDaemon() {
	w.t.Helper()
	if code := w.killDaemon(syscall.SIGTERM); code != 0 {
		w.t.Fatalf("daemon exit status %d after SIGTERM, want 0:\n%s", code, w.daemonLog())
	}
}

// crashWorld is a world with the image registered and no daemon running.
func crashWorld(t *testing.T) *world {
	w := newWorld(t)
	needMkfs(t)
	w.startDaemon()
	w.registerImage()
	w.stopDaemon()
	return w
}

func createArgs(names ...string) []string {
	return append(append([]string{"vm", "create"}, vmFlags...), names...)
}

// TestCrashCreate crashes the daemon before every create step, several
// times over: the restarted daemon must roll the create back completely.
func TestCrashCreate(t *testing.T) {
	w := crashWorld(t)
	for round := 1; round <= createRounds; round++ {
		for _, step := range createSteps {
			t.Run(fmt.Sprintf("round-%d/%s", round, step), func(t *testing.T) {
				w.t = t
				w.crash("vm.create", step, nil, createArgs("x")...)
				if _, ok := w.vms()["x"]; ok {
					t.Errorf("VM x survived a crash before %s; want it rolled back", step)
				}
				w.assertNoLeftovers()
				w.mustBanger(createArgs("x")...)
				if got := w.vm("x").State; got != api.StateStopped {
					t.Errorf("x created after the crash is %s, want stopped", got)
				}
				w.mustBanger("vm", "delete", "x")
				w.assertClean()
				w.stopDaemon()
			})
		}
	}
}

// TestCrashStart crashes the daemon before every start step: the
// restarted daemon must roll the start back to a stopped VM with no VMM,
// which then starts normally.
func TestCrashStart(t *testing.T) {
	w := crashWorld(t)
	for _, step := range startSteps {
		t.Run(step, func(t *testing.T) {
			w.t = t
			w.crash("vm.start", step, func() { w.mustBanger(createArgs("x")...) }, "vm", "start", "x")
			x := w.vm("x")
			if x.State != api.StateStopped || x.PID != 0 {
				t.Errorf("x after a crash before %s: %s with pid %d, want stopped", step, x.State, x.PID)
			}
			if p := w.vmmOf(x.ID); len(p) != 0 {
				t.Errorf("VMM of x left running: %v", p)
			}
			if e := entries(w.runVMsDir()); len(e) != 0 {
				t.Errorf("runtime directories left: %v", e)
			}
			w.mustBanger("vm", "start", "x")
			x = w.vm("x")
			if x.State != api.StateRunning || len(w.vmmOf(x.ID)) != 1 {
				t.Errorf("x after start: %s with VMMs %v, want running with one", x.State, w.vmmOf(x.ID))
			}
			w.mustBanger("vm", "delete", "x")
			w.assertClean()
			w.stopDaemon()
		})
	}
}

// TestCrashStop crashes the daemon before every step of stop and of kill:
// the restarted daemon must finish the stop.
func TestCrashStop(t *testing.T) {
	w := crashWorld(t)
	for _, plan := range []struct {
		kind, verb string
		steps      []string
	}{
		{"vm.stop", "stop", stopSteps},
		{"vm.kill", "kill", killSteps},
	} {
		for _, step := range plan.steps {
			t.Run(plan.verb+"/"+step, func(t *testing.T) {
				w.t = t
				var pid int
				setup := func() {
					w.mustBanger(append(createArgs("x"), "--start")...)
					pid = w.vm("x").PID
				}
				w.crash(plan.kind, step, setup, "vm", plan.verb, "x")
				x := w.vm("x")
				if x.State != api.StateStopped || x.PID != 0 {
					t.Errorf("x after a crash before %s: %s with pid %d, want stopped", step, x.State, x.PID)
				}
				if alive(pid) || len(w.vmmOf(x.ID)) != 0 {
					t.Errorf("VMM of x (pid %d) left running: %v", pid, w.vmmOf(x.ID))
				}
				if e := entries(w.runVMsDir()); len(e) != 0 {
					t.Errorf("runtime directories left: %v", e)
				}
				w.mustBanger("vm", "start", "x")
				w.mustBanger("vm", "delete", "x")
				w.assertClean()
				w.stopDaemon()
			})
		}
	}
}

// TestCrashDelete crashes the daemon before every step of deleting a
// running VM: the restarted daemon must finish the delete.
func TestCrashDelete(t *testing.T) {
	w := crashWorld(t)
	for _, step := range deleteSteps {
		t.Run(step, func(t *testing.T) {
			w.t = t
			var pid int
			setup := func() {
				w.mustBanger(append(createArgs("x"), "--start")...)
				pid = w.vm("x").PID
			}
			w.crash("vm.delete", step, setup, "vm", "delete", "x")
			// The journal says a delete was under way: it is finished
			// whatever step it had reached.
			if x, ok := w.vms()["x"]; ok {
				t.Errorf("x after a crash before %s: still listed as %s, want deleted", step, x.State)
			}
			if alive(pid) {
				t.Errorf("VMM of x (pid %d) left running", pid)
			}
			w.assertClean()
			w.stopDaemon()
		})
	}
}
