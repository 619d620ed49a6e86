package daemon

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
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

	"banger/internal/api"
	"banger/internal/config"
	"banger/internal/paths"
	"banger/internal/process"
	"banger/internal/vmm/firecracker/fctest"
)

// testVersion is the version the test daemons report.
const testVersion = "test-1.2.3"

// syncBuffer is a bytes.Buffer safe for the daemon's goroutines to write
// while a test reads it.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// records parses every JSON log line written so far.
func (b *syncBuffer) records(t *testing.T) []map[string]any {
	t.Helper()
	b.mu.Lock()
	data := append([]byte(nil), b.buf.Bytes()...)
	b.mu.Unlock()
	var out []map[string]any
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		var rec map[string]any
		if err := json.Unmarshal(sc.Bytes(), &rec); err != nil {
			t.Fatalf("daemon log line is not JSON: %v: %s", err, sc.Text())
		}
		out = append(out, rec)
	}
	return out
}

// find returns the log records whose fields include every key/value of want.
func (b *syncBuffer) find(t *testing.T, want map[string]any) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, rec := range b.records(t) {
		match := true
		for k, v := range want {
			if rec[k] != v {
				match = false
				break
			}
		}
		if match {
			out = append(out, rec)
		}
	}
	return out
}

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

	cancel   context.CancelFunc
	done     chan error
	stopOnce sync.Once
	stopErr  error
}

// daemonOpts tune startDaemon.
type daemonOpts struct {
	uid int // the owner uid; os.Getuid() when zero
	// beforeServe runs after the socket exists and before Serve starts.
	beforeServe func(td *testDaemon, ln net.Listener)
}

// setUmask sets the process umask for the rest of the test.
func setUmask(t *testing.T, mask int) {
	old := syscall.Umask(mask)
	t.Cleanup(func() { syscall.Umask(old) })
}

// newTestDaemon builds a Daemon under a fresh temp root without serving it.
func newTestDaemon(t testing.TB, uid int) (*Daemon, string, paths.Layout, *syncBuffer) {
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
	cfg := config.Defaults(config.Host{})
	cfg.VMM.FirecrackerBin = fctest.Build(t)
	logs := &syncBuffer{}
	d, err := New(context.Background(), Options{
		Layout:          layout,
		Config:          cfg,
		ConfigFile:      layout.ConfigFile(),
		Logger:          slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Version:         testVersion,
		UID:             uid,
		ShutdownTimeout: 20 * time.Second,
	})
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

// startDaemon serves a new daemon on its socket until the test ends.
func startDaemon(t *testing.T, o daemonOpts) *testDaemon {
	t.Helper()
	setUmask(t, 0o077)
	uid := o.uid
	if uid == 0 {
		uid = os.Getuid()
	}
	d, root, layout, logs := newTestDaemon(t, uid)
	td := &testDaemon{t: t, d: d, root: root, layout: layout, logs: logs, done: make(chan error, 1)}
	ln, err := Listen(layout.Socket())
	if err != nil {
		t.Fatalf("Listen: %v", err)
	}
	if o.beforeServe != nil {
		o.beforeServe(td, ln)
	}
	ctx, cancel := context.WithCancel(context.Background())
	td.cancel = cancel
	go func() { td.done <- d.Serve(ctx, ln) }()
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
	td.stopOnce.Do(func() {
		td.cancel()
		select {
		case td.stopErr = <-td.done:
		case <-time.After(30 * time.Second):
			td.t.Errorf("Serve did not return within 30s of cancellation")
		}
	})
	return td.stopErr
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

// registerImage makes a small ext4 root filesystem and a fake kernel under
// the daemon's root and registers them as image name.
func (td *testDaemon) registerImage(name string) api.Image {
	td.t.Helper()
	if _, err := exec.LookPath("mkfs.ext4"); err != nil {
		td.t.Skip("needs mkfs.ext4 (apt-get install e2fsprogs)")
	}
	rootfs := filepath.Join(td.root, name+".ext4")
	kernel := filepath.Join(td.root, name+".vmlinux")
	makeExt4(td.t, rootfs, 16<<20)
	fctest.WriteKernel(td.t, kernel)
	body, _ := json.Marshal(api.RegisterImageRequest{Name: name, RootFS: rootfs, Kernel: kernel})
	resp, data := td.do("POST", "/v1/images", string(body))
	if resp.StatusCode != http.StatusCreated {
		td.t.Fatalf("register image %s: status %d: %s", name, resp.StatusCode, data)
	}
	var img api.Image
	decodeStrict(td.t, data, &img)
	return img
}

func makeExt4(t *testing.T, path string, size int64) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(size); err != nil {
		t.Fatal(err)
	}
	f.Close()
	if out, err := exec.Command("mkfs.ext4", "-q", "-F", path).CombinedOutput(); err != nil {
		t.Fatalf("mkfs.ext4: %v\n%s", err, out)
	}
}

// smallVM is a create request for the smallest VM the limits allow.
func smallVM(name, image string, start bool) string {
	b, _ := json.Marshal(api.CreateVMRequest{Name: name, Image: image, VCPUs: 1, MemoryMiB: 128,
		DiskBytes: 256 << 20, Start: start})
	return string(b)
}
