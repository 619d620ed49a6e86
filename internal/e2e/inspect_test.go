package e2e

import (
	"bytes"
	"encoding/json"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"banger/internal/api"
)

// proc is a live process whose command line names the world root.
type proc struct {
	pid     int
	cmdline string
}

// processes lists the live (not zombie) processes whose command line
// contains the world root: the daemon (run through a link in the root) and
// the VMMs (whose API sockets are under the root).
func (w *world) processes() []proc {
	return processesMatching(w.root)
}

// vmmProcesses lists the live VMM processes of this world.
func (w *world) vmmProcesses() []proc {
	var out []proc
	for _, p := range w.processes() {
		if strings.Contains(p.cmdline, "--api-sock") {
			out = append(out, p)
		}
	}
	return out
}

// vmmOf returns the live VMM processes of the VM with this id.
func (w *world) vmmOf(id string) []proc {
	var out []proc
	for _, p := range w.vmmProcesses() {
		if strings.Contains(p.cmdline, "/"+id+"/") {
			out = append(out, p)
		}
	}
	return out
}

func processesMatching(s string) []proc {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	self := os.Getpid()
	var out []proc
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == self {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil || len(b) == 0 {
			continue // gone, or a zombie
		}
		cmdline := string(bytes.ReplaceAll(bytes.TrimRight(b, "\x00"), []byte{0}, []byte{' '}))
		if strings.Contains(cmdline, s) && alive(pid) {
			out = append(out, proc{pid: pid, cmdline: cmdline})
		}
	}
	return out
}

// alive reports whether pid exists and is not a zombie.
func alive(pid int) bool {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return false
	}
	// The state follows the command name, which is in parentheses.
	i := bytes.LastIndexByte(b, ')')
	return i >= 0 && i+2 < len(b) && b[i+2] != 'Z' && b[i+2] != 'X'
}

// waitGone waits until none of procs is alive.
func waitGone(procs []proc, timeout time.Duration) bool {
	deadline := time.Now().Add(timeout)
	for {
		if !slices.ContainsFunc(procs, func(p proc) bool { return alive(p.pid) }) {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// entries lists the names in dir; a missing dir has none.
func entries(dir string) []string {
	des, err := os.ReadDir(dir)
	if err != nil {
		return nil
	}
	var names []string
	for _, d := range des {
		names = append(names, d.Name())
	}
	return names
}

// tempFiles lists files under the world root that look like leftovers of
// an interrupted atomic write ("*.tmp-*").
func (w *world) tempFiles() []string {
	var out []string
	_ = filepath.WalkDir(w.root, func(p string, d fs.DirEntry, err error) error {
		if err == nil && strings.Contains(d.Name(), ".tmp-") {
			out = append(out, p)
		}
		return nil
	})
	return out
}

// runtimeFiles lists everything but directories under the runtime
// directory (sockets, metrics files).
func (w *world) runtimeFiles() []string {
	var out []string
	_ = filepath.WalkDir(w.path("run"), func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			out = append(out, p)
		}
		return nil
	})
	return out
}

// vms returns `banger vm list --json`, by name.
func (w *world) vms() map[string]api.VM {
	w.t.Helper()
	var list []api.VM
	w.decode(w.mustBanger("vm", "list", "--json"), &list)
	out := make(map[string]api.VM, len(list))
	for _, v := range list {
		out[v.Name] = v
	}
	return out
}

// vm returns the VM named name from `banger vm show --json`.
func (w *world) vm(name string) api.VM {
	w.t.Helper()
	var list []api.VM
	w.decode(w.mustBanger("vm", "show", "--json", name), &list)
	if len(list) != 1 {
		w.t.Fatalf("vm show --json %s: got %d VMs, want 1", name, len(list))
	}
	return list[0]
}

func (w *world) decode(s string, v any) {
	w.t.Helper()
	if err := json.Unmarshal([]byte(s), v); err != nil {
		w.t.Fatalf("decode %T: %v\n%s", v, err, s)
	}
}

// states maps VM names to states.
func states(vms map[string]api.VM) map[string]string {
	out := map[string]string{}
	for n, v := range vms {
		out[n] = v.State
	}
	return out
}

// assertClean checks that the world has no VMs, VM files, VM runtime
// files or VMM processes left.
func (w *world) assertClean() {
	w.t.Helper()
	if vms := w.vms(); len(vms) != 0 {
		w.t.Errorf("VMs left: %v", states(vms))
	}
	w.assertNoLeftovers()
}

// assertNoLeftovers checks the host side only: no VM directories, runtime
// directories, temporary files or VMM processes.
func (w *world) assertNoLeftovers() {
	w.t.Helper()
	if e := entries(w.vmsDir()); len(e) != 0 {
		w.t.Errorf("VM directories left in %s: %v", w.vmsDir(), e)
	}
	if e := entries(w.runVMsDir()); len(e) != 0 {
		w.t.Errorf("VM runtime directories left in %s: %v", w.runVMsDir(), e)
	}
	if tmp := w.tempFiles(); len(tmp) != 0 {
		w.t.Errorf("temporary files left: %v", tmp)
	}
	if p := w.vmmProcesses(); len(p) != 0 {
		w.t.Errorf("VMM processes left: %v", p)
	}
}
