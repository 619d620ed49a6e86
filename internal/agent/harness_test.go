package agent_test

import (
	"bytes"
	"context"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"banger/internal/agent"
	"banger/internal/agent/agentclient"
	"banger/internal/agent/proto"
)

const token = "s3cret-token-for-tests"

// lastSock is the socket of the latest serveUnix, for tests that dial it by
// hand. Tests in this package do not run in parallel.
var lastSock string

// fakePower records power-off requests instead of powering anything off.
type fakePower struct {
	mu    sync.Mutex
	calls int
}

func (f *fakePower) poweroff() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	return nil
}

func (f *fakePower) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls
}

func newServer(t *testing.T) (*agent.Server, *fakePower) {
	t.Helper()
	p := &fakePower{}
	return &agent.Server{Token: token, HostKeyDir: t.TempDir(), Poweroff: p.poweroff, Version: "test"}, p
}

// shortTempDir is a temp dir short enough for a unix socket path.
func shortTempDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "agent")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

// serveUnix runs srv.Serve on a unix socket and returns a connected client
// presenting tok. Cleanup stops the server and checks that Serve returned.
func serveUnix(t *testing.T, srv *agent.Server, tok string) *agentclient.Client {
	t.Helper()
	sock := filepath.Join(shortTempDir(t), "a.sock")
	lastSock = sock
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln) }()
	conn, err := agentclient.DialUnix(ctx, sock)
	if err != nil {
		t.Fatal(err)
	}
	c, err := agentclient.New(conn, tok)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		c.Close()
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Serve returned %v, want nil after cancel", err)
			}
		case <-time.After(10 * time.Second):
			t.Errorf("Serve did not return within 10s of cancel")
		}
	})
	return c
}

// servePipe runs srv.ServeStream over one end of a net.Pipe, as main does
// with the virtio-serial port, and returns a client on the other end.
func servePipe(t *testing.T, srv *agent.Server, tok string) *agentclient.Client {
	t.Helper()
	a, b := net.Pipe()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.ServeStream(ctx, a) }()
	c, err := agentclient.New(b, tok)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Errorf("ServeStream did not return within 10s of cancel")
		}
		c.Close()
	})
	return c
}

var transports = []struct {
	name  string
	serve func(*testing.T, *agent.Server, string) *agentclient.Client
}{
	{"unix", serveUnix},
	{"pipe", servePipe},
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// result is what one exec produced.
type result struct {
	Stdout, Stderr string
	Code           int
	Err            string
}

// run executes req, feeding stdin (closed afterwards) when req.Stdin is set.
func run(t *testing.T, c *agentclient.Client, req proto.ExecRequest, stdin string) result {
	t.Helper()
	var out, errOut syncBuffer
	p, err := c.Exec(testCtx(t), req, &out, &errOut)
	if err != nil {
		t.Fatalf("Exec(%v): %v", req.Argv, err)
	}
	if req.Stdin {
		w := p.Stdin()
		if _, err := w.Write([]byte(stdin)); err != nil {
			t.Errorf("write stdin: %v", err)
		}
		w.Close()
	}
	code, err := p.Wait()
	r := result{Stdout: out.String(), Stderr: errOut.String(), Code: code}
	if err != nil {
		r.Err = err.Error()
	}
	return r
}

// syncBuffer is a bytes.Buffer safe to read while the exec goroutine writes.
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

// waitFor polls cond for up to 10s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func contains(s, sub string) bool { return strings.Contains(s, sub) }
