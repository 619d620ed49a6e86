package e2e

import (
	"fmt"
	"strings"
	"testing"

	"banger/internal/api"
)

// manyVMs is how many VMs TestManyVMs runs at once.
const manyVMs = 30

// TestManyVMs creates and starts many VMs in one command, checks each has
// its own live VMM, and deletes them all in one command.
func TestManyVMs(t *testing.T) {
	w := newWorld(t)
	w.startDaemon()
	w.registerImage()
	var names []string
	for i := range manyVMs {
		names = append(names, fmt.Sprintf("vm-%02d", i))
	}
	out := w.mustBanger(append(append(createArgs(), "--start"), names...)...)
	if got := strings.Count(out, "(running)"); got != manyVMs {
		t.Errorf("create --start reported %d running VMs, want %d:\n%s", got, manyVMs, out)
	}
	vms := w.vms()
	if len(vms) != manyVMs {
		t.Errorf("vm list has %d VMs, want %d", len(vms), manyVMs)
	}
	pids := map[int]string{}
	for _, n := range names {
		v := vms[n]
		if v.State != api.StateRunning {
			t.Errorf("%s is %q, want running", n, v.State)
			continue
		}
		if p := w.vmmOf(v.ID); len(p) != 1 || p[0].pid != v.PID {
			t.Errorf("VMM processes of %s = %v, want one with pid %d", n, p, v.PID)
		}
		if other, dup := pids[v.PID]; dup {
			t.Errorf("%s and %s share VMM pid %d", n, other, v.PID)
		}
		pids[v.PID] = n
	}
	if got := len(w.vmmProcesses()); got != manyVMs {
		t.Errorf("%d VMM processes run, want %d", got, manyVMs)
	}

	out = w.mustBanger(append([]string{"vm", "delete"}, names...)...)
	if got := strings.Count(out, "deleted "); got != manyVMs {
		t.Errorf("delete reported %d deleted VMs, want %d:\n%s", got, manyVMs, out)
	}
	w.assertClean()
}
