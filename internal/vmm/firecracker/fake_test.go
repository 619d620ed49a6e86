package firecracker

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"banger/internal/process"
	"banger/internal/vmm"
	"banger/internal/vmm/firecracker/fctest"
	"banger/internal/vmm/vmmtest"
)

// fakeSpec returns a bootable spec for the fake firecracker, with every
// optional device, under a short fresh directory (unix socket paths must
// stay under 108 bytes).
func fakeSpec(t *testing.T) vmm.Spec {
	t.Helper()
	dir, run := vmmtest.Dirs(t, "fc")
	fctest.WriteKernel(t, filepath.Join(dir, "vmlinux"))
	for _, name := range []string{"root.ext4", "work.ext4"} {
		if err := os.WriteFile(filepath.Join(dir, name), make([]byte, 4096), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return vmm.Spec{
		ID: "vm-" + strings.TrimPrefix(filepath.Base(dir), "fc"), VCPUs: 2, MemoryMiB: 256,
		Kernel: filepath.Join(dir, "vmlinux"), BootArgs: "console=ttyS0 reboot=k panic=1",
		RootDisk: filepath.Join(dir, "root.ext4"), WorkDisk: filepath.Join(dir, "work.ext4"),
		VsockPath: filepath.Join(run, "vsock.sock"), VsockCID: 3,
		RuntimeDir: run, ConsoleLog: filepath.Join(dir, "console.log"),
		VMMLog: filepath.Join(dir, "vmm.log"), MetricsPath: filepath.Join(dir, "metrics.json"),
	}
}

func TestConformance(t *testing.T) {
	bin := fctest.Build(t)
	vmmtest.Run(t, vmmtest.Harness{
		Driver: New(Config{Binary: bin}),
		Spec:   fakeSpec,
		MissingBinary: func(t *testing.T) vmm.Driver {
			return New(Config{Binary: filepath.Join(t.TempDir(), "firecracker")})
		},
		ConsoleReady:    "fake guest: ready",
		BootTimeout:     10 * time.Second,
		ShutdownTimeout: 10 * time.Second,
	})
}

// launchFake launches spec on the fake and kills it when the test ends.
func launchFake(t *testing.T, d *Driver, spec vmm.Spec) vmm.Process {
	t.Helper()
	p, err := d.Launch(context.Background(), spec)
	if err != nil {
		t.Fatalf("Launch: %v", err)
	}
	t.Cleanup(func() { _ = process.Kill(context.Background(), p.PID, p.StartTime, 5*time.Second) })
	return p
}

// jsonBody compares recorded bodies as JSON values, not bytes.
var jsonBody = cmp.Transformer("json", func(b json.RawMessage) any {
	if b == nil {
		return nil
	}
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		return string(b)
	}
	return v
})

func body(t *testing.T, v any) json.RawMessage {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// readRecord reads the fake's record, keeping only the first of the
// readiness polls (GET /) Launch may have made.
func readRecord(t *testing.T, path string) []fctest.Request {
	t.Helper()
	var got []fctest.Request
	for _, r := range fctest.ReadRecord(t, path) {
		if r.Method == "GET" && r.Path == "/" && len(got) > 0 && got[len(got)-1].Path == "/" {
			continue
		}
		got = append(got, r)
	}
	return got
}

// statField returns field n (1-based, as in proc(5)) of /proc/<pid>/stat.
func statField(t *testing.T, pid, n int) string {
	t.Helper()
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return "gone"
	}
	s := string(b)
	fields := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if n < 3 || n-3 >= len(fields) {
		t.Fatalf("stat field %d out of range", n)
	}
	return fields[n-3]
}
