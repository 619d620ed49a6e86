package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"banger/internal/vmm/firecracker/fctest"
)

// This file holds the harness the black-box tests use: it runs the built
// fake as a process and talks HTTP to it over its socket.

// fake is one running fakefc process.
type fake struct {
	t      *testing.T
	dir    string // short private directory: sockets and files live here
	sock   string
	cmd    *exec.Cmd
	stdout *syncBuffer
	stderr *syncBuffer
	exited chan struct{}
	state  *os.ProcessState
	client *http.Client
}

// syncBuffer is a bytes.Buffer safe to read while the process writes.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// shortDir returns a fresh directory whose paths fit in a unix socket
// address (t.TempDir() paths can be too long).
func shortDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "fc")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

// spawn starts the fake with args (a "--api-sock" in dir is added unless
// args has one) and extra environment, without waiting for its socket.
func spawn(t *testing.T, dir string, args []string, env ...string) *fake {
	t.Helper()
	bin := fctest.Build(t)
	f := &fake{t: t, dir: dir, sock: filepath.Join(dir, "api.sock"), stdout: &syncBuffer{}, stderr: &syncBuffer{}, exited: make(chan struct{})}
	for i, a := range args {
		if a == "--api-sock" && i+1 < len(args) {
			f.sock = args[i+1]
		}
	}
	if !containsArg(args, "--api-sock") {
		args = append([]string{"--api-sock", f.sock}, args...)
	}
	f.cmd = exec.Command(bin, args...)
	f.cmd.Dir = dir
	f.cmd.Env = append(os.Environ(), env...)
	f.cmd.Stdout = f.stdout
	f.cmd.Stderr = f.stderr
	if err := f.cmd.Start(); err != nil {
		t.Fatalf("start fake: %v", err)
	}
	go func() {
		f.cmd.Wait()
		f.state = f.cmd.ProcessState
		close(f.exited)
	}()
	t.Cleanup(func() {
		select {
		case <-f.exited:
		default:
			f.cmd.Process.Kill()
			<-f.exited
		}
	})
	f.client = &http.Client{
		Timeout: 5 * time.Second,
		Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", f.sock)
		}},
	}
	return f
}

func containsArg(args []string, name string) bool {
	for _, a := range args {
		if a == name {
			return true
		}
	}
	return false
}

// startFake starts a fake with id "test-vm" and waits until it answers.
func startFake(t *testing.T, env ...string) *fake {
	t.Helper()
	f := spawn(t, shortDir(t), []string{"--id", "test-vm"}, env...)
	f.waitReady()
	return f
}

func (f *fake) waitReady() {
	f.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if status, _ := f.tryDo("GET", "/", ""); status == http.StatusOK {
			return
		}
		select {
		case <-f.exited:
			f.t.Fatalf("fake exited during start-up: %v\nstderr: %s", f.state, f.stderr.String())
		case <-time.After(10 * time.Millisecond):
		}
	}
	f.t.Fatalf("fake did not answer on %s within 10s; stderr: %s", f.sock, f.stderr.String())
}

func (f *fake) tryDo(method, path, body string) (int, string) {
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, "http://localhost"+path, rd)
	if err != nil {
		f.t.Fatal(err)
	}
	resp, err := f.client.Do(req)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(data)
}

// do sends one request and returns the status and response body.
func (f *fake) do(method, path, body string) (int, string) {
	f.t.Helper()
	status, resp := f.tryDo(method, path, body)
	if status == 0 {
		f.t.Fatalf("%s %s: %s", method, path, resp)
	}
	return status, resp
}

// mustPut sends a PUT that must succeed with 204.
func (f *fake) mustPut(path, body string) {
	f.t.Helper()
	if status, resp := f.do("PUT", path, body); status != http.StatusNoContent {
		f.t.Fatalf("PUT %s %s: got %d %s, want 204", path, body, status, resp)
	}
}

// getJSON GETs path and decodes the 200 response into a generic value.
func (f *fake) getJSON(path string) any {
	f.t.Helper()
	status, resp := f.do("GET", path, "")
	if status != http.StatusOK {
		f.t.Fatalf("GET %s: got %d %s, want 200", path, status, resp)
	}
	return decodeJSON(f.t, resp)
}

func decodeJSON(t *testing.T, s string) any {
	t.Helper()
	var v any
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		t.Fatalf("decode %q: %v", s, err)
	}
	return v
}

// faultOf returns the fault_message of a 400 response body.
func faultOf(t *testing.T, resp string) string {
	t.Helper()
	var f struct {
		FaultMessage *string `json:"fault_message"`
	}
	if err := json.Unmarshal([]byte(resp), &f); err != nil || f.FaultMessage == nil {
		t.Fatalf("response %q is not a Firecracker fault", resp)
	}
	return *f.FaultMessage
}

// waitExit waits for the process to exit and returns its state.
func (f *fake) waitExit(timeout time.Duration) *os.ProcessState {
	f.t.Helper()
	select {
	case <-f.exited:
		return f.state
	case <-time.After(timeout):
		f.t.Fatalf("fake still running after %v; stdout:\n%s", timeout, f.stdout.String())
		return nil
	}
}

func (f *fake) signal(sig syscall.Signal) {
	f.t.Helper()
	if err := f.cmd.Process.Signal(sig); err != nil {
		f.t.Fatalf("signal fake: %v", err)
	}
}

// file creates a file of size bytes in the fake's directory.
func (f *fake) file(name string, size int64) string {
	f.t.Helper()
	p := filepath.Join(f.dir, name)
	if err := os.WriteFile(p, nil, 0o600); err != nil {
		f.t.Fatal(err)
	}
	if err := os.Truncate(p, size); err != nil {
		f.t.Fatal(err)
	}
	return p
}

// kernel writes an ELF kernel image the fake accepts.
func (f *fake) kernel() string {
	f.t.Helper()
	p := filepath.Join(f.dir, "vmlinux")
	fctest.WriteKernel(f.t, p)
	return p
}

func exists(path string) bool {
	_, err := os.Lstat(path)
	return !errors.Is(err, fs.ErrNotExist)
}

// jsonString quotes s for building request bodies.
func jsonString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// waitStdout waits until the process's stdout contains want. Output goes
// through a pipe, so it can trail the API response that caused it.
func (f *fake) waitStdout(want string) string {
	f.t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		out := f.stdout.String()
		if strings.Contains(out, want) {
			return out
		}
		if time.Now().After(deadline) {
			f.t.Fatalf("stdout lacks %q after 5s; stdout:\n%s", want, out)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
