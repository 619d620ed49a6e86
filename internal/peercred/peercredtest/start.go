package peercredtest

import (
	"bufio"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Helper is a helper test running as another uid in the background, such
// as a listener that plays an attacker while the test acts as its victim.
type Helper struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	lines chan string
	done  chan struct{}
	mu    sync.Mutex
	out   strings.Builder // everything it printed, for failure messages
}

// Start runs the helper test named helper from bin (see Binary) as uid
// (and gid uid) in dir, with env added, and waits until it prints a line
// "READY". The helper ends when its standard input closes (see Finish);
// the test's cleanup kills it if it is still running.
func Start(t *testing.T, bin, dir, helper string, uid int, env ...string) *Helper {
	t.Helper()
	cmd := exec.Command(bin, "-test.run=^"+helper+"$", "-test.count=1", "-test.v")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(uid), Gid: uint32(uid)}}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = pw, pw
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s as uid %d: %v", helper, uid, err)
	}
	pw.Close()
	h := &Helper{cmd: cmd, stdin: stdin, lines: make(chan string, 64), done: make(chan struct{})}
	go func() {
		defer close(h.done)
		defer close(h.lines)
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			h.mu.Lock()
			h.out.WriteString(sc.Text() + "\n")
			h.mu.Unlock()
			select {
			case h.lines <- sc.Text():
			default:
			}
		}
		pr.Close()
	}()
	t.Cleanup(func() {
		_ = h.cmd.Process.Kill()
		<-h.done
		_ = h.cmd.Wait()
	})
	if _, ok := h.await(t, "READY"); !ok {
		t.Fatalf("%s as uid %d did not get ready:\n%s", helper, uid, h.output())
	}
	return h
}

// Finish closes the helper's standard input, its cue to report and end,
// and returns what follows "RESULT " on the line it then printed.
func (h *Helper) Finish(t *testing.T) string {
	t.Helper()
	h.stdin.Close()
	res, ok := h.await(t, "RESULT ")
	if !ok {
		t.Fatalf("helper printed no RESULT line:\n%s", h.output())
	}
	return res
}

// await returns the rest of the first line starting with prefix, waiting
// at most a minute (a bound for a stuck helper, not a timing the test
// checks).
func (h *Helper) await(t *testing.T, prefix string) (string, bool) {
	t.Helper()
	deadline := time.After(time.Minute)
	for {
		select {
		case line, ok := <-h.lines:
			if !ok {
				return "", false
			}
			if rest, found := strings.CutPrefix(line, prefix); found {
				return rest, true
			}
		case <-deadline:
			return "", false
		}
	}
}

func (h *Helper) output() string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.out.String()
}
