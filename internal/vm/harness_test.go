package vm

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"banger/internal/disk"
	"banger/internal/paths"
	"banger/internal/process"
	"banger/internal/store"
	"banger/internal/vmm"
	"banger/internal/vmm/firecracker"
	"banger/internal/vmm/firecracker/fctest"
)

// env is a Service wired to a real store, the real Firecracker driver
// running the fake Firecracker, and real disk files, in private temp dirs.
type env struct {
	t     *testing.T
	svc   *Service
	store *store.Store
	root  string
	img   store.Image
	disks *faultyDisks
}

type dirs struct{ state, run string }

func (d dirs) VMDir(id string) string        { return filepath.Join(d.state, "vms", id) }
func (d dirs) VMRuntimeDir(id string) string { return filepath.Join(d.run, "vms", id) }
func (d dirs) SnapshotDir(id string) string  { return filepath.Join(d.state, "snapshots", id) }

// MakeDir is the daemon's: paths' walk from the state or runtime root.
func (d dirs) MakeDir(dir string) error {
	return paths.Layout{StateDir: d.state, RuntimeDir: d.run}.MakePrivateDir(dir, os.Getuid())
}

// faultyDisks is the real disk adapter with an optional injected failure.
type faultyDisks struct {
	mu        sync.Mutex
	failWork  error
	failWrite error // WriteFiles fails with it (and is counted in writes)
	writes    int   // WriteFiles calls
	work      *disk.WorkDisks
	// overlays: CloneImage records its disks as qcow2 (the copy is
	// still raw: enough for the driver to be told, and refuse it).
	overlays bool
	formats  map[string]string
}

func (f *faultyDisks) CloneRootDisk(ctx context.Context, src, dst string) error {
	return disk.SparseCopy(ctx, src, dst)
}

func (f *faultyDisks) CloneImage(ctx context.Context, image, dst string) error {
	if err := disk.SparseCopy(ctx, image, dst); err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.overlays {
		if f.formats == nil {
			f.formats = map[string]string{}
		}
		f.formats[dst] = vmm.DiskQCOW2
	}
	return nil
}

func (f *faultyDisks) RootDiskFormat(path string) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if v, ok := f.formats[path]; ok {
		return v, nil
	}
	return vmm.DiskRaw, nil
}

func (f *faultyDisks) WriteFiles(ctx context.Context, image string, files []GuestFile) error {
	f.mu.Lock()
	f.writes++
	fail := f.failWrite
	f.mu.Unlock()
	if fail != nil {
		return fail
	}
	out := make([]disk.File, 0, len(files))
	for _, g := range files {
		out = append(out, disk.File{Path: g.Path, Data: g.Data, Mode: os.FileMode(g.Mode)})
	}
	return disk.WriteFiles(ctx, image, out)
}

func (f *faultyDisks) writeCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.writes
}

func (f *faultyDisks) CreateWorkDisk(ctx context.Context, dst string, size int64) error {
	f.mu.Lock()
	err := f.failWork
	f.mu.Unlock()
	if err != nil {
		return err
	}
	return f.work.Create(ctx, dst, size)
}

type envOpts struct {
	hooks       Hooks
	ssh         SSHKeys
	stopTimeout time.Duration
	space       Space
	identity    string // the image's store.Image.Identity
	warmStart   bool   // Defaults.WarmStart
	// driver wraps the fake Firecracker driver; agent connects to guest
	// agents (nil: the service has none).
	driver   func(vmm.Driver) vmm.Driver
	agent    AgentConnector
	overlays bool // CloneImage makes (recorded) qcow2 overlays
	// disks wraps the real disk adapter when not nil (a test's own
	// Disks on top of it).
	disks func(*faultyDisks) Disks
}

func newEnv(t *testing.T, o envOpts) *env {
	t.Helper()
	if _, err := exec.LookPath("mkfs.ext4"); err != nil {
		t.Skip("needs mkfs.ext4 (apt-get install e2fsprogs)")
	}
	bin := fctest.Build(t)
	// Unix socket paths must stay short: use /tmp directly.
	root, err := os.MkdirTemp("", "bgvm")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(root) })
	d := dirs{state: filepath.Join(root, "state"), run: filepath.Join(root, "run")}
	for _, p := range []string{d.state, d.run} {
		if err := os.MkdirAll(p, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	ctx := context.Background()
	st, err := store.Open(ctx, filepath.Join(d.state, "banger.db"))
	if err != nil {
		t.Fatal(err)
	}
	img := store.Image{ID: NewID(), Name: "default", RootFS: filepath.Join(root, "rootfs.ext4"),
		Kernel: filepath.Join(root, "vmlinux"), RootFSSize: 16 << 20, CreatedAt: time.Now(), Identity: o.identity}
	makeExt4(t, img.RootFS, 16<<20)
	fctest.WriteKernel(t, img.Kernel)
	if err := st.CreateImage(ctx, img); err != nil {
		t.Fatal(err)
	}
	if o.stopTimeout == 0 {
		o.stopTimeout = 5 * time.Second
	}
	fd := &faultyDisks{work: disk.NewWorkDisks(filepath.Join(root, "cache")), overlays: o.overlays}
	var disks Disks = fd
	if o.disks != nil {
		disks = o.disks(fd)
	}
	var drv vmm.Driver = firecracker.New(firecracker.Config{Binary: bin})
	if o.driver != nil {
		drv = o.driver(drv)
	}
	svc := New(Config{
		Store:  st,
		Driver: drv,
		Agent:  o.agent,
		Disks:  disks,
		Dirs:   d,
		Defaults: Defaults{
			VCPUs: 1, MemoryMiB: 128, DiskBytes: 64 << 20, Image: "default", StopTimeout: o.stopTimeout,
			WarmStart: o.warmStart,
		},
		Hooks:         o.hooks,
		SSH:           o.ssh,
		Space:         o.space,
		WatchInterval: 50 * time.Millisecond,
	})
	e := &env{t: t, svc: svc, store: st, root: root, img: img, disks: fd}
	t.Cleanup(func() {
		// Leave nothing running: kill every VMM this test started.
		vms, _ := st.ListVMs(context.Background())
		for _, v := range vms {
			_ = svc.killVMM(context.Background(), v)
		}
		svc.Close()
		_ = st.Close()
	})
	return e
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

func (e *env) create(name string) VM {
	e.t.Helper()
	v, err := e.svc.Create(context.Background(), "", CreateRequest{Name: name}, nil)
	if err != nil {
		e.t.Fatalf("Create(%s): %v", name, err)
	}
	return v
}

func (e *env) start(name string) VM {
	e.t.Helper()
	v, err := e.svc.Start(context.Background(), "", name, nil)
	if err != nil {
		e.t.Fatalf("Start(%s): %v", name, err)
	}
	return v
}

func (e *env) record(ref string) store.VM {
	e.t.Helper()
	rec, err := e.store.GetVM(context.Background(), ref)
	if err != nil {
		e.t.Fatalf("GetVM(%s): %v", ref, err)
	}
	return rec
}

// assertGone checks that nothing of a VM is left: record, files, runtime
// dir, process.
func (e *env) assertGone(rec store.VM) {
	e.t.Helper()
	if _, err := e.store.GetVM(context.Background(), rec.ID); err == nil {
		e.t.Errorf("VM record %s still exists", rec.Name)
	}
	for _, p := range []string{rec.Dir, rec.RuntimeDir} {
		if _, err := os.Stat(p); !errors.Is(err, os.ErrNotExist) {
			e.t.Errorf("%s still exists (err %v)", p, err)
		}
	}
	e.assertNoVMM(rec)
}

func (e *env) assertNoVMM(rec store.VM) {
	e.t.Helper()
	if rec.PID != 0 && process.Alive(rec.PID, rec.PIDStart) {
		e.t.Errorf("VMM pid %d of %s still runs", rec.PID, rec.Name)
	}
	if pids, _ := process.FindByArg(rec.APISocket); len(pids) > 0 {
		e.t.Errorf("VMM processes %v with socket %s still run", pids, rec.APISocket)
	}
}

// steps returns the journal of the newest operation on VM id.
func (e *env) lastOp(id string) (store.Operation, []store.StepRecord) {
	e.t.Helper()
	ops, err := e.store.ListOperations(context.Background(), 100)
	if err != nil {
		e.t.Fatal(err)
	}
	for _, o := range ops {
		if o.Target == id {
			steps, err := e.store.Steps(context.Background(), o.ID)
			if err != nil {
				e.t.Fatal(err)
			}
			return o, steps
		}
	}
	e.t.Fatalf("no operation on %s", id)
	return store.Operation{}, nil
}

var _ vmm.Driver = (*firecracker.Driver)(nil)
