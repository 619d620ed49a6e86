package e2e

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestKernelBuildInterrupted runs `banger kernel build` on the real
// linux-source tarball with stderr a pipe, and interrupts it (SIGINT, as
// Ctrl-C) once the extraction has reported bytes: the CLI exits 130 and
// says nothing was kept, the daemon's operation is cancelled (tar is
// killed and its half-extracted directory removed) and no kernel is
// recorded.
func TestKernelBuildInterrupted(t *testing.T) {
	matches, _ := filepath.Glob("/usr/src/linux-source-*.tar.xz")
	if len(matches) == 0 {
		t.Skip("needs a linux-source tarball (apt-get install linux-source-6.1)")
	}
	w := newWorld(t)
	w.startDaemon()
	ctx, cancel := context.WithTimeout(context.Background(), commandTimeout)
	defer cancel()
	cmd := w.command(ctx, w.bin.banger, "kernel", "build", "--name", "interrupted")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stdout bytes.Buffer
	cmd.Stdout = &stdout
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var lines []string
	sc := bufio.NewScanner(stderr)
	for sc.Scan() {
		lines = append(lines, sc.Text())
		// "[3/7] extract  22% 29.6 MiB/131.6 MiB, about 20s left (5s)  extracting ..."
		if strings.Contains(sc.Text(), "] extract ") && strings.Contains(sc.Text(), " MiB/") {
			if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
				t.Fatal(err)
			}
			break
		}
	}
	for sc.Scan() {
		lines = append(lines, sc.Text())
	}
	err = cmd.Wait()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 130 {
		t.Errorf("banger kernel build after SIGINT: %v, want exit status 130", err)
	}
	out := strings.Join(lines, "\n")
	t.Logf("stderr:\n%s", out)
	if !strings.Contains(out, "] extract ") || !strings.Contains(out, " MiB/") {
		t.Fatalf("no byte progress from the extraction before the end; stderr:\n%s", out)
	}
	if want := "banger: cancelled: the kernel source was not extracted yet, so nothing was kept; no kernel was recorded"; !strings.Contains(out, want) {
		t.Errorf("stderr does not say what was kept (%q):\n%s", want, out)
	}
	if strings.Contains(out, "\x1b[") {
		t.Errorf("escape codes on a pipe:\n%q", out)
	}
	// The daemon cancels the operation when the client goes away: tar is
	// killed and its temporary directory removed.
	work := w.path("cache/banger/kernel-build")
	deadline := time.Now().Add(20 * time.Second)
	for {
		left, _ := filepath.Glob(filepath.Join(work, "src-*"))
		if len(left) == 0 {
			break
		}
		if time.Now().After(deadline) {
			entries, _ := os.ReadDir(work)
			t.Fatalf("the cancelled extraction left %v in %s (%v)\ndaemon log:\n%s", left, work, entries, w.daemonLog())
		}
		time.Sleep(100 * time.Millisecond)
	}
	if list := w.mustBanger("kernel", "list"); strings.Contains(list, "interrupted") {
		t.Errorf("the cancelled build recorded a kernel:\n%s", list)
	}
}
