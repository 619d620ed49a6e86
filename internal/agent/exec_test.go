package agent_test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"banger/internal/agent/proto"
	"banger/internal/errdefs"
	"banger/internal/testtier"
)

func TestExec(t *testing.T) {
	testtier.Root(t) // the agent runs as root: commands start in /root
	for _, tr := range transports {
		t.Run(tr.name, func(t *testing.T) {
			srv, _ := newServer(t)
			c := tr.serve(t, srv, token)
			tests := []struct {
				name  string
				req   proto.ExecRequest
				stdin string
				want  result
			}{
				{"echo", proto.ExecRequest{Argv: []string{"echo", "hello", "world"}}, "",
					result{Stdout: "hello world\n"}},
				{"exit code", proto.ExecRequest{Argv: []string{"sh", "-c", "exit 7"}}, "",
					result{Code: 7}},
				{"stdin to cat", proto.ExecRequest{Argv: []string{"cat"}, Stdin: true}, "piped\ninput",
					result{Stdout: "piped\ninput"}},
				{"no stdin reads /dev/null", proto.ExecRequest{Argv: []string{"cat"}}, "",
					result{}},
				{"stderr separated", proto.ExecRequest{Argv: []string{"sh", "-c", "echo out; echo err >&2"}}, "",
					result{Stdout: "out\n", Stderr: "err\n"}},
				{"env and cwd", proto.ExecRequest{Argv: []string{"sh", "-c", `echo "$GREETING $HOME"; pwd`},
					Env: []string{"GREETING=hi", "HOME=/elsewhere"}, Cwd: "/tmp"}, "",
					result{Stdout: "hi /elsewhere\n/tmp\n"}},
				{"default cwd is /root", proto.ExecRequest{Argv: []string{"pwd"}}, "",
					result{Stdout: "/root\n"}},
			}
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					got := run(t, c, tt.req, tt.stdin)
					if diff := cmp.Diff(tt.want, got); diff != "" {
						t.Errorf("exec %v (-want +got):\n%s", tt.req.Argv, diff)
					}
				})
			}
		})
	}
}

func TestExecLargeOutputAndInput(t *testing.T) {
	testtier.Root(t) // the agent runs as root: commands start in /root
	srv, _ := newServer(t)
	c := serveUnix(t, srv, token)
	in := strings.Repeat("0123456789abcdef", 1<<16) // 1 MiB, several frames
	got := run(t, c, proto.ExecRequest{Argv: []string{"cat"}, Stdin: true}, in)
	if got.Code != 0 || got.Err != "" || got.Stdout != in {
		t.Errorf("cat of 1 MiB: code %d, err %q, %d bytes back; want 0, \"\", %d bytes", got.Code, got.Err, len(got.Stdout), len(in))
	}
}

func TestExecStartFailures(t *testing.T) {
	testtier.Root(t) // the agent runs as root: commands start in /root
	srv, _ := newServer(t)
	c := serveUnix(t, srv, token)
	plain := filepath.Join(t.TempDir(), "plain")
	if err := os.WriteFile(plain, []byte("#!/bin/sh\necho hi\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		req      proto.ExecRequest
		wantCode int
		wantKind errdefs.Kind
		wantMsg  string
	}{
		{"not in PATH", proto.ExecRequest{Argv: []string{"no-such-command-banger"}}, 127, errdefs.NotFound, "command not found"},
		{"missing path", proto.ExecRequest{Argv: []string{"/no/such/binary"}}, 127, errdefs.NotFound, "no such file"},
		{"not executable", proto.ExecRequest{Argv: []string{plain}}, 126, errdefs.FailedPrecondition, "permission denied"},
		{"missing cwd", proto.ExecRequest{Argv: []string{"true"}, Cwd: "/no/such/dir"}, 126, errdefs.FailedPrecondition, "working directory"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out syncBuffer
			p, err := c.Exec(testCtx(t), tt.req, &out, &out)
			if err != nil {
				t.Fatal(err)
			}
			code, err := p.Wait()
			if code != tt.wantCode || errdefs.KindOf(err) != tt.wantKind || err == nil || !contains(err.Error(), tt.wantMsg) {
				t.Errorf("Wait() = %d, %v (kind %s); want %d, kind %s, message containing %q",
					code, err, errdefs.KindOf(err), tt.wantCode, tt.wantKind, tt.wantMsg)
			}
		})
	}
}

func TestExecInvalidRequest(t *testing.T) {
	srv, _ := newServer(t)
	c := serveUnix(t, srv, token)
	for _, req := range []proto.ExecRequest{
		{},
		{Argv: []string{""}},
		{Argv: []string{"true"}, Cwd: "relative"},
		{Argv: []string{"true"}, Env: []string{"NOEQUALS"}},
	} {
		_, err := c.Exec(testCtx(t), req, nil, nil)
		if got, want := errdefs.KindOf(err), errdefs.InvalidArgument; got != want {
			t.Errorf("Exec(%+v) error kind = %q (%v), want %q", req, got, err, want)
		}
	}
}

func TestExecSignal(t *testing.T) {
	testtier.Root(t) // the agent runs as root: commands start in /root
	srv, _ := newServer(t)
	c := serveUnix(t, srv, token)
	var out syncBuffer
	// The shell prints its pid and waits for sleep; the signal goes to the
	// whole group, so sleep dies too and no orphan is left behind.
	p, err := c.Exec(testCtx(t), proto.ExecRequest{Argv: []string{"sh", "-c", "echo started; sleep 100; echo not reached"}}, &out, nil)
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the command to start", func() bool { return out.String() == "started\n" })
	start := time.Now()
	if err := p.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	code, err := p.Wait()
	if code != 128+int(syscall.SIGTERM) || err != nil {
		t.Errorf("Wait() = %d, %v; want %d, nil", code, err, 128+int(syscall.SIGTERM))
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("signalled command took %v to end", d)
	}
	if err := p.Signal(syscall.SIGTERM); err == nil {
		t.Errorf("Signal after exit succeeded, want an error")
	}
	if err := p.Signal(syscall.Signal(99)); errdefs.KindOf(err) != errdefs.InvalidArgument {
		t.Errorf("Signal(99) = %v, want invalid_argument", err)
	}
	if out, _ := exec.Command("pgrep", "-f", "sleep 100; echo not reached").Output(); len(out) > 0 {
		t.Errorf("process group survived the signal: pids %s", out)
	}
}

func TestExecConcurrent(t *testing.T) {
	testtier.Root(t) // the agent runs as root: commands start in /root
	for _, tr := range transports {
		t.Run(tr.name, func(t *testing.T) {
			srv, _ := newServer(t)
			c := tr.serve(t, srv, token)
			const n = 10
			got := make([]result, n)
			var wg sync.WaitGroup
			for i := range n {
				wg.Add(1)
				go func() {
					defer wg.Done()
					got[i] = run(t, c, proto.ExecRequest{
						Argv: []string{"sh", "-c", fmt.Sprintf("sleep 0.2; echo %d; exit %d", i, i)},
					}, "")
				}()
			}
			wg.Wait()
			for i, r := range got {
				if diff := cmp.Diff(result{Stdout: fmt.Sprintf("%d\n", i), Code: i}, r); diff != "" {
					t.Errorf("exec %d (-want +got):\n%s", i, diff)
				}
			}
		})
	}
}

func TestExecTTY(t *testing.T) {
	testtier.Root(t) // the agent runs as root: commands start in /root
	srv, _ := newServer(t)
	c := serveUnix(t, srv, token)
	got := run(t, c, proto.ExecRequest{Argv: []string{"tty"}, TTY: true}, "")
	if got.Code != 0 || !regexp.MustCompile(`^/dev/pts/\d+\r\n$`).MatchString(got.Stdout) {
		t.Errorf("tty printed %q with code %d, want a /dev/pts path and 0", got.Stdout, got.Code)
	}
	got = run(t, c, proto.ExecRequest{Argv: []string{"stty", "size"}, TTY: true, Rows: 33, Cols: 111}, "")
	if want := "33 111\r\n"; got.Stdout != want {
		t.Errorf("stty size with the initial size printed %q, want %q", got.Stdout, want)
	}
	got = run(t, c, proto.ExecRequest{Argv: []string{"sh", "-c", "echo to-stderr >&2"}, TTY: true}, "")
	if want := "to-stderr\r\n"; got.Stdout != want || got.Stderr != "" {
		t.Errorf("tty stderr: stdout %q stderr %q, want stdout %q and nothing on stderr", got.Stdout, got.Stderr, want)
	}
}

func TestExecTTYResizeAndInput(t *testing.T) {
	testtier.Root(t) // the agent runs as root: commands start in /root
	srv, _ := newServer(t)
	c := serveUnix(t, srv, token)
	var out syncBuffer
	// read waits for a line on the terminal; the resize comes before it.
	p, err := c.Exec(testCtx(t), proto.ExecRequest{
		Argv: []string{"sh", "-c", "stty -echo; echo ready; read line; stty size; echo \"got $line\"; cat"},
		TTY:  true, Stdin: true, Rows: 10, Cols: 20,
	}, &out, nil)
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the shell to be ready", func() bool { return contains(out.String(), "ready") })
	if err := p.Resize(50, 160); err != nil {
		t.Fatal(err)
	}
	stdin := p.Stdin()
	if _, err := stdin.Write([]byte("hello\n")); err != nil {
		t.Fatal(err)
	}
	// EOF on a canonical-mode terminal ends cat.
	if err := stdin.Close(); err != nil {
		t.Fatal(err)
	}
	code, err := p.Wait()
	if want := "ready\r\n50 160\r\ngot hello\r\n"; code != 0 || err != nil || out.String() != want {
		t.Errorf("Wait() = %d, %v with output %q; want 0, nil, %q", code, err, out.String(), want)
	}
}

func TestExecBackgroundChildDoesNotHoldExit(t *testing.T) {
	testtier.Root(t) // the agent runs as root: commands start in /root
	srv, _ := newServer(t)
	c := serveUnix(t, srv, token)
	start := time.Now()
	got := run(t, c, proto.ExecRequest{Argv: []string{"sh", "-c", "sleep 3 & echo hi"}}, "")
	if got.Stdout != "hi\n" || got.Code != 0 {
		t.Errorf("exec = %+v, want hi and 0", got)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("exec waited %v for a background child holding stdout, want the drain timeout", d)
	}
}
