package e2e

import (
	"bufio"
	"context"
	"io"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"banger/internal/api"
)

// TestLifecycle drives three VMs through every lifecycle command of the
// CLI, starting with the daemon auto-start, and checks that deleting them
// leaves nothing behind.
func TestLifecycle(t *testing.T) {
	w := newWorld(t)
	needMkfs(t)

	_, stderr, code := w.banger("image", "list", "--json")
	if code != 0 {
		t.Fatalf("first command: exit %d: %s", code, stderr)
	}
	started := regexp.MustCompile(`^banger: started bangerd \(pid \d+, log ` + regexp.QuoteMeta(w.stateDir()) + `/bangerd\.log\)\n$`)
	if !started.MatchString(stderr) {
		t.Errorf("first command stderr = %q, want the auto-start message", stderr)
	}
	if _, stderr, _ := w.banger("image", "list"); stderr != "" {
		t.Errorf("second command stderr = %q, want nothing (daemon already running)", stderr)
	}
	w.registerImage()

	// Three concurrent creates in one command.
	w.mustBanger(append([]string{"vm", "create", "a", "b", "c"}, vmFlags...)...)
	if got, want := states(w.vms()), map[string]string{"a": "stopped", "b": "stopped", "c": "stopped"}; !cmp.Equal(got, want) {
		t.Fatalf("after create (-got +want):\n%s", cmp.Diff(got, want))
	}
	w.mustBanger("vm", "start", "a", "b")
	var running []api.VM
	w.decode(w.mustBanger("ps", "--json"), &running)
	var names []string
	for _, v := range running {
		names = append(names, v.Name)
	}
	slices.Sort(names)
	if want := []string{"a", "b"}; !cmp.Equal(names, want) {
		t.Errorf("ps --json names = %v, want %v", names, want)
	}
	if ps := w.mustBanger("ps"); !psNames(ps, "a", "b") {
		t.Errorf("ps shows:\n%s\nwant exactly a and b running", ps)
	}

	a := w.vm("a")
	if a.State != api.StateRunning || a.PID <= 0 || a.Image != "default" || a.MemoryMiB != 128 || a.DiskBytes != 256<<20 {
		t.Errorf("vm show --json a = %+v, want running, pid set, image default, 128 MiB, 256 MiB disk", a)
	}
	if p := w.vmmOf(a.ID); len(p) != 1 || p[0].pid != a.PID {
		t.Errorf("VMM processes of a = %v, want one with pid %d", p, a.PID)
	}

	logs := w.mustBanger("vm", "logs", "a")
	for _, line := range []string{"Linux version 6.1.0-fakefc", "Run /sbin/init as init process", "fake guest: ready"} {
		if !strings.Contains(logs, line) {
			t.Errorf("vm logs a lacks %q:\n%s", line, logs)
		}
	}
	followUntilStopped(t, w)

	w.mustBanger("vm", "restart", "b")
	b := w.vm("b")
	if b.State != api.StateRunning || len(w.vmmOf(b.ID)) != 1 {
		t.Errorf("after restart b is %s with VMMs %v, want running with one VMM", b.State, w.vmmOf(b.ID))
	}
	w.mustBanger("vm", "kill", "b")
	if b := w.vm("b"); b.State != api.StateStopped || len(w.vmmOf(b.ID)) != 0 {
		t.Errorf("after kill b is %s with VMMs %v, want stopped with none", b.State, w.vmmOf(b.ID))
	}

	// One unknown name among known ones: the known one is started.
	_, stderr, code = w.banger("vm", "start", "a", "nope")
	if code != 1 {
		t.Errorf("vm start a nope: exit %d, want 1", code)
	}
	if !strings.Contains(stderr, `no VM named "nope"`) {
		t.Errorf("vm start a nope: stderr %q does not name nope as not found", stderr)
	}
	if got := w.vm("a").State; got != api.StateRunning {
		t.Errorf("after vm start a nope, a is %s, want running", got)
	}

	w.mustBanger("vm", "delete", "a", "b", "c")
	w.assertClean()
	if got, want := w.runtimeFiles(), []string{w.path("run/banger/bangerd.lock"), w.socket()}; !cmp.Equal(got, want) {
		t.Errorf("runtime files = %v, want only %v", got, want)
	}
}

// followUntilStopped runs `vm logs -f a`, checks it prints the boot lines
// and keeps going, then stops a from another command and checks the
// follower ends by itself.
func followUntilStopped(t *testing.T, w *world) {
	t.Helper()
	cmd := w.command(context.Background(), w.bin.banger, "vm", "logs", "-f", "a")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start vm logs -f: %v", err)
	}
	var (
		mu    sync.Mutex
		lines []string
		wg    sync.WaitGroup
	)
	ready := make(chan struct{})
	wg.Add(1)
	go func() {
		defer wg.Done()
		sc := bufio.NewScanner(out)
		once := sync.Once{}
		for sc.Scan() {
			mu.Lock()
			lines = append(lines, sc.Text())
			mu.Unlock()
			if strings.Contains(sc.Text(), "fake guest: ready") {
				once.Do(func() { close(ready) })
			}
		}
		_, _ = io.Copy(io.Discard, out)
	}()
	done := make(chan error, 1)
	go func() {
		wg.Wait()
		done <- cmd.Wait()
	}()
	select {
	case <-ready:
	case <-time.After(10 * time.Second):
		_ = cmd.Process.Kill()
		<-done
		t.Fatalf("vm logs -f a printed no boot lines within 10s: %q", lines)
	}
	select {
	case err := <-done:
		t.Fatalf("vm logs -f a ended while a was running: %v", err)
	case <-time.After(300 * time.Millisecond):
	}
	w.mustBanger("vm", "stop", "a")
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("vm logs -f a: %v", err)
		}
	case <-time.After(10 * time.Second):
		_ = cmd.Process.Kill()
		<-done
		t.Fatal("vm logs -f a did not end within 10s of vm stop a")
	}
	mu.Lock()
	defer mu.Unlock()
	if !slices.ContainsFunc(lines, func(l string) bool { return strings.Contains(l, "ctrl-alt-del received") }) {
		t.Errorf("vm logs -f a did not print the shutdown lines: %q", lines)
	}
	if a := w.vm("a"); a.State != api.StateStopped || len(w.vmmOf(a.ID)) != 0 {
		t.Errorf("after stop a is %s with VMMs %v, want stopped with none", a.State, w.vmmOf(a.ID))
	}
}

// psNames reports whether the ps table lists exactly the given VMs, each
// running.
func psNames(table string, want ...string) bool {
	var got []string
	for i, line := range strings.Split(strings.TrimSpace(table), "\n") {
		f := strings.Fields(line)
		if i == 0 || len(f) < 2 {
			continue
		}
		if f[1] != api.StateRunning {
			return false
		}
		got = append(got, f[0])
	}
	slices.Sort(got)
	return slices.Equal(got, want)
}
