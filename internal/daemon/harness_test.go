package daemon

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"banger/internal/config"
	"banger/internal/paths"
	"banger/internal/process"
	"banger/internal/vmm/firecracker/fctest"
)

// testVersion is the version the test daemons report.
const testVersion = "test-1.2.3"

// testDaemon is a real Daemon (real store, the real Firecracker driver
// running the fake Firecracker) serving on a unix socket in a private
// temp directory, and an HTTP client that talks to it.
type testDaemon struct {
	t      *testing.T
	d      *Daemon
	root   string
	layout paths.Layout
	logs   *syncBuffer
	client *http.Client
	srv    *serving
}

// serving is the goroutine running Serve. It is shared by the copies of a
// testDaemon that subtests make with sub.
type serving struct {
	cancel   context.CancelFunc
	done     chan error
	stopOnce sync.Once
	stopErr  error
}

// sub returns td reporting to t, for use in a subtest.
func (td *testDaemon) sub(t *testing.T) *testDaemon {
	c := *td
	c.t = t
	return &c
}

// daemonOpts tune startDaemon.
type daemonOpts struct {
	uid int // the owner uid; os.Getuid() when zero
	// stateRoot, when set, holds the state and cache directories (for a
	// test that puts them on a filesystem of its own).
	stateRoot string
	// beforeServe runs after the socket exists and before Serve starts.
	beforeServe func(td *testDaemon, ln net.Listener)
	// config changes the test configuration before New.
	config func(c *config.Config)
}

// setUmask sets the process umask for the rest of the test.
func setUmask(t *testing.T, mask int) {
	old := syscall.Umask(mask)
	t.Cleanup(func() { syscall.Umask(old) })
}

// newTestDaemon builds a Daemon under a fresh temp root without serving it.
func newTestDaemon(t testing.TB, uid int) (*Daemon, string, paths.Layout, *syncBuffer) {
	t.Helper()
	return newTestDaemonConfig(t, uid, "", nil)
}

// newTestDaemonConfig is newTestDaemon with the state and cache
// directories under stateRoot when it is set, and the configuration
// changed by change (nil changes nothing).
func newTestDaemonConfig(t testing.TB, uid int, stateRoot string, change func(*config.Config)) (*Daemon, string, paths.Layout, *syncBuffer) {
	t.Helper()
	// Unix socket paths must stay short: use /tmp directly.
	root, err := os.MkdirTemp("", "bgd")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(root) })
	layout := paths.Layout{
		ConfigDir:  filepath.Join(root, "cfg"),
		StateDir:   filepath.Join(root, "state"),
		CacheDir:   filepath.Join(root, "cache"),
		RuntimeDir: filepath.Join(root, "run"),
	}
	if stateRoot != "" {
		layout.StateDir = filepath.Join(stateRoot, "state")
		layout.CacheDir = filepath.Join(stateRoot, "cache")
	}
	logs := &syncBuffer{}
	opts := testOptions(t, layout, uid, logs)
	if change != nil {
		change(&opts.Config)
	}
	d, err := New(context.Background(), opts)
	if err != nil {
		t.Fatalf("daemon.New: %v", err)
	}
	t.Cleanup(func() {
		killVMMs(t, d)
		if err := d.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return d, root, layout, logs
}

// testOptions are the options of a test daemon on layout, logging to logs.
func testOptions(t testing.TB, layout paths.Layout, uid int, logs *syncBuffer) Options {
	t.Helper()
	cfg := config.Defaults(config.Host{})
	cfg.VMM.Driver = "firecracker"
	cfg.VMM.FirecrackerBin = fctest.Build(t)
	// These tests run in the host's own network namespace: no bridge, no
	// rules. Networking is tested in namespaces (e2e, network_test.go).
	cfg.Network.Enabled = false
	return Options{
		Layout:          layout,
		Config:          cfg,
		ConfigFile:      layout.ConfigFile(),
		Logger:          slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Version:         testVersion,
		UID:             uid,
		ShutdownTimeout: 20 * time.Second,
	}
}

// startDaemon serves a new daemon on its socket until the test ends.
func startDaemon(t *testing.T, o daemonOpts) *testDaemon {
	t.Helper()
	setUmask(t, 0o077)
	uid := o.uid
	if uid == 0 {
		uid = os.Getuid()
	}
	d, root, layout, logs := newTestDaemonConfig(t, uid, o.stateRoot, o.config)
	td := &testDaemon{t: t, d: d, root: root, layout: layout, logs: logs, srv: &serving{done: make(chan error, 1)}}
	ln, err := d.Listen()
	if err != nil {
		t.Fatalf("Listen: %v", err)
	}
	if o.beforeServe != nil {
		o.beforeServe(td, ln)
	}
	ctx, cancel := context.WithCancel(context.Background())
	td.srv.cancel = cancel
	go func() { td.srv.done <- d.Serve(ctx, ln) }()
	td.client = unixClient(layout.Socket())
	// Registered after newTestDaemon's cleanup, so it runs first: stop
	// serving, then newTestDaemon's kills the VMMs and closes the store.
	t.Cleanup(func() {
		if err := td.stop(); err != nil {
			t.Errorf("Serve: %v", err)
		}
		td.client.CloseIdleConnections()
	})
	return td
}

// stop cancels Serve and waits for it to return.
func (td *testDaemon) stop() error {
	s := td.srv
	s.stopOnce.Do(func() {
		s.cancel()
		select {
		case s.stopErr = <-s.done:
		case <-time.After(30 * time.Second):
			td.t.Errorf("Serve did not return within 30s of cancellation")
		}
	})
	return s.stopErr
}

// killVMMs kills every VMM the daemon's VMs still have; VMs outlive the
// daemon by design, but not the test.
func killVMMs(t testing.TB, d *Daemon) {
	vms, err := d.store.ListVMs(context.Background())
	if err != nil {
		t.Errorf("list VMs to kill their VMMs: %v", err)
		return
	}
	for _, v := range vms {
		if v.PID != 0 {
			if err := process.Kill(context.Background(), v.PID, v.PIDStart, 5*time.Second); err != nil {
				t.Errorf("kill VMM pid %d of %s: %v", v.PID, v.Name, err)
			}
		}
		if pids, _ := process.FindByArg(v.APISocket); len(pids) > 0 {
			for _, pid := range pids {
				_ = process.Kill(context.Background(), pid, 0, 5*time.Second)
			}
		}
	}
}

// unixClient is an HTTP client whose every connection goes to socket.
func unixClient(socket string) *http.Client {
	return &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", socket)
		},
	}}
}

// do sends a request over the socket and returns the response with its
// whole body read.
func (td *testDaemon) do(method, path, body string, header ...string) (*http.Response, []byte) {
	td.t.Helper()
	resp := td.open(method, path, body, header...)
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		td.t.Fatalf("%s %s: read body: %v", method, path, err)
	}
	return resp, data
}

// open sends a request and returns the response with its body unread.
func (td *testDaemon) open(method, path, body string, header ...string) *http.Response {
	td.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, "http://bangerd"+path, rd)
	if err != nil {
		td.t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := td.client.Do(req)
	if err != nil {
		td.t.Fatalf("%s %s: %v", method, path, err)
	}
	return resp
}

// decodeStrict unmarshals data into v, refusing unknown fields.
func decodeStrict(t *testing.T, data []byte, v any) {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		t.Fatalf("decode %T: %v\nbody: %s", v, err, data)
	}
}
