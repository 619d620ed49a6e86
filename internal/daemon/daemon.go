// Package daemon is bangerd's composition root: it loads nothing itself but
// wires the configuration, the store, the services and the host adapters
// together, holds the locks that make it the only daemon of its state and
// socket, serves the /v1 HTTP API on the unix socket, maps errors to HTTP
// status, and shuts down gracefully without stopping VMs. Decisions about
// VMs and images belong to the services, not here.
package daemon

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	"banger/internal/agent/agentclient"
	"banger/internal/config"
	"banger/internal/cow"
	"banger/internal/disk"
	"banger/internal/imagebuild"
	"banger/internal/images"
	"banger/internal/kernels"
	"banger/internal/oci"
	"banger/internal/paths"
	"banger/internal/privileged"
	"banger/internal/sshkeys"
	"banger/internal/store"
	"banger/internal/vm"
	"banger/internal/vmm"
	"banger/internal/vmm/firecracker"
	"banger/internal/vmm/qemu"
)

// Options configure a daemon.
type Options struct {
	Layout     paths.Layout
	Config     config.Config
	ConfigFile string
	Host       config.Host
	Logger     *slog.Logger
	Version    string
	// UID is the owner: the only non-root uid allowed on the socket.
	UID   int
	Hooks vm.Hooks
	// ShutdownTimeout bounds the wait for in-flight requests on shutdown.
	ShutdownTimeout time.Duration
	// BodyTimeout bounds reading a request body (DefaultBodyTimeout when
	// zero); IdleTimeout closes kept-alive connections that send nothing
	// (DefaultIdleTimeout when zero).
	BodyTimeout, IdleTimeout time.Duration
}

// Daemon is a running bangerd.
type Daemon struct {
	opts   Options
	log    *slog.Logger
	store  *store.Store
	driver vmm.Driver
	// driverWhy says how the driver was chosen (doctor shows it).
	driverWhy string
	// cow clones VM root disks from images; cowWhy says how it was
	// chosen (doctor and system info show it).
	cow     cow.Strategy
	cowWhy  string
	vms     *vm.Service
	net     *netStack // nil when network.enabled is false
	images  *images.Service
	kernels *kernels.Service
	ssh     *sshkeys.Service
	// closing is closed when shutdown begins, ending endless streams
	// (events, followed logs) so in-flight operations can finish.
	closing chan struct{}
	// locks are the exclusive locks of the state and runtime directories,
	// held from New to Close: one daemon per state, one per socket.
	locks []*dirLock
	// started is when New finished, for the uptime in system info.
	started time.Time
	// shutdown is closed by POST /v1/system/shutdown; shutdownOnce guards it.
	shutdown     chan struct{}
	shutdownOnce sync.Once
}

// New opens the state and wires the services. It does not touch running
// VMs; Serve reconciles them.
func New(ctx context.Context, opts Options) (*Daemon, error) {
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if err := opts.Layout.Ensure(opts.UID); err != nil {
		return nil, err
	}
	// One daemon per state directory (and per socket), for its whole life,
	// taken before the store is opened.
	var locks []*dirLock
	release := func() {
		for _, l := range locks {
			_ = l.release()
		}
	}
	for _, dir := range []struct{ what, path string }{
		{"state directory", opts.Layout.StateDir}, {"runtime directory", opts.Layout.RuntimeDir},
	} {
		l, err := lockDir(dir.what, dir.path)
		if err != nil {
			release()
			return nil, err
		}
		locks = append(locks, l)
	}
	st, err := store.Open(ctx, opts.Layout.DBPath())
	if err != nil {
		release()
		return nil, err
	}
	driver, others, why, err := newDrivers(ctx, opts.Config)
	if err != nil {
		_ = st.Close()
		release()
		return nil, err
	}
	log.Info("vmm driver selected", "driver", driver.Name(), "why", why)
	cfg := opts.Config
	// loop-xfs mounts in-process as root, else through the root helper
	// (started with --cow-dir set to the state directory).
	var mounter cow.Mounter = privileged.CowMounts{Client: &privileged.Client{Socket: cfg.Network.HelperSocket}}
	if os.Geteuid() == 0 {
		mounter = cow.Local{}
	}
	// dm makes its devices the same way.
	var dm cow.DMDevices = privileged.CowDM{Client: &privileged.Client{Socket: cfg.Network.HelperSocket}, StateDir: opts.Layout.StateDir}
	if os.Geteuid() == 0 {
		dm = cow.DMLocal{StateDir: opts.Layout.StateDir, UID: opts.UID}
	}
	strategy, cowWhy, err := cow.Open(ctx, cow.Options{StateDir: opts.Layout.StateDir, UID: opts.UID, Force: cfg.VM.DiskStrategy, Mounter: mounter, DM: dm, Driver: driver.Name()})
	if err != nil {
		_ = st.Close()
		release()
		return nil, fmt.Errorf("root disk strategy: %w", err)
	}
	log.Info("disk strategy selected", "strategy", strategy.Name(), "why", cowWhy)
	host := opts.Host
	ns, err := newNetStack(cfg, st, log)
	if err != nil {
		_ = st.Close()
		release()
		return nil, err
	}
	var vmNet vm.Network
	if ns != nil {
		vmNet = vmNetwork{n: ns}
	}
	keys := sshkeys.New(filepath.Join(opts.Layout.StateDir, "ssh"), cfg.DNS.Domain, log)
	vms := vm.New(vm.Config{
		Store:    st,
		Driver:   driver,
		Others:   others,
		Disks:    newVMDisks(disk.NewWorkDisks(opts.Layout.CacheDir), strategy),
		Dirs:     vmDirs{Layout: opts.Layout, uid: opts.UID, vmRoot: strategy.Dir()},
		Space:    roomChecker{shared: strategy.Name() != cow.NameSparse},
		Defaults: vmDefaults(cfg, host),
		Logger:   log,
		Hooks:    opts.Hooks,
		Network:  vmNet,
		SSH:      vmSSH{keys},
		Agent: func(conn io.ReadWriteCloser, token string) (vm.Agent, error) {
			c, err := agentclient.New(conn, token)
			if err != nil {
				return nil, err
			}
			return agentSession{c}, nil
		},
	})
	return &Daemon{
		opts:   opts,
		log:    log,
		store:  st,
		driver: driver, driverWhy: why,
		cow: strategy, cowWhy: cowWhy,
		vms: vms,
		ssh: keys,
		net: ns,
		images: images.New(st, inspector{}, vm.NewID,
			images.WithBuilder(imageBuilder{}, filepath.Join(opts.Layout.StateDir, "images")),
			images.WithPuller(imagePuller{&oci.Puller{Dir: layerCacheDir(opts.Layout)}}, filepath.Join(opts.Layout.StateDir, "images"))),
		kernels: kernels.New(kernels.Config{
			Store:     st,
			Host:      kernelHost{},
			Dir:       filepath.Join(opts.Layout.StateDir, "kernels"),
			WorkDir:   filepath.Join(opts.Layout.CacheDir, "kernel-build"),
			DistroDir: filepath.Join(opts.Layout.CacheDir, "kernel-distro"),
			NewID:     vm.NewID,
		}),
		closing:  make(chan struct{}),
		locks:    locks,
		started:  time.Now(),
		shutdown: make(chan struct{}),
	}, nil
}

// vmSSH adapts the sshkeys service to the vm service.
type vmSSH struct{ *sshkeys.Service }

func (k vmSSH) Pin(id, name, ip string, keys []string) error {
	return k.Service.Pin(sshkeys.Target{ID: id, Name: name, IP: ip}, keys)
}

// vmDirs gives the vm service the layout's VM directories, made privately
// for the owner without following a symlink below the roots.
type vmDirs struct {
	paths.Layout
	uid int
	// vmRoot is where new VMs' directories go when the disk strategy
	// needs them on its own filesystem; "" means the layout's.
	vmRoot string
}

// VMDir is where a new VM's directory goes. Existing VMs keep the
// directory recorded when they were created.
func (d vmDirs) VMDir(id string) string {
	if d.vmRoot != "" {
		return filepath.Join(d.vmRoot, id)
	}
	return d.Layout.VMDir(id)
}

// SnapshotDir is where a new snapshot's files go: beside the VMs' on the
// disk strategy's filesystem when it has one, so its disks clone from
// theirs; the layout's otherwise.
func (d vmDirs) SnapshotDir(id string) string {
	if d.vmRoot != "" {
		return filepath.Join(filepath.Dir(d.vmRoot), "snapshots", id)
	}
	return d.Layout.SnapshotDir(id)
}

func (d vmDirs) MakeDir(dir string) error { return d.MakePrivateDir(dir, d.uid) }

// newDrivers builds every VMM driver and picks the one new VMs start
// under: the configured one, or for "auto" Firecracker when its binary
// answers and /dev/kvm can be opened, qemu otherwise. why says how the
// choice was made, for the log and doctor.
func newDrivers(ctx context.Context, cfg config.Config) (chosen vmm.Driver, others []vmm.Driver, why string, err error) {
	fc := firecracker.New(firecracker.Config{Binary: cfg.VMM.FirecrackerBin})
	qm := qemu.New(qemu.Config{Binary: cfg.VMM.QemuBin, TCGASLR: cfg.VMM.TCGASLR})
	switch cfg.VMM.Driver {
	case "firecracker":
		return fc, []vmm.Driver{qm}, "vmm.driver = \"firecracker\" in the config", nil
	case "qemu":
		return qm, []vmm.Driver{fc}, "vmm.driver = \"qemu\" in the config", nil
	case "auto":
		if _, err := fc.Check(ctx); err != nil {
			return qm, []vmm.Driver{fc}, "auto: Firecracker is not usable (" + err.Error() + ")", nil
		}
		f, err := os.OpenFile("/dev/kvm", os.O_RDWR, 0)
		if err != nil {
			return qm, []vmm.Driver{fc}, "auto: Firecracker needs KVM, and /dev/kvm cannot be opened (" + err.Error() + ")", nil
		}
		f.Close()
		return fc, []vmm.Driver{qm}, "auto: the Firecracker binary answers and /dev/kvm opens", nil
	default:
		return nil, nil, "", fmt.Errorf("vmm.driver %q is not supported: use \"auto\", \"firecracker\" or \"qemu\"", cfg.VMM.Driver)
	}
}

// Serve reconciles VMs left by a previous daemon, then serves the API on ln
// until ctx is cancelled or POST /v1/system/shutdown asks it to stop. In-flight requests get ShutdownTimeout to finish;
// running VMs keep running.
func (d *Daemon) Serve(ctx context.Context, ln net.Listener) error {
	if d.net != nil {
		d.net.start(ctx, d.store)
		defer d.net.close()
	}
	if err := d.vms.Reconcile(ctx); err != nil {
		d.log.Error("reconcile", "err", err)
	}
	defer d.vms.Close()
	base, cancelBase := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelBase()
	srv := &http.Server{
		Handler:           d.Handler(),
		ReadHeaderTimeout: headerTimeout,
		// No ReadTimeout or WriteTimeout: they would also bound streams
		// and long operations. readBody bounds the body instead.
		IdleTimeout: d.idleTimeout(),
		BaseContext: func(net.Listener) context.Context { return base },
		ErrorLog:    slog.NewLogLogger(d.log.Handler(), slog.LevelDebug),
	}
	pl := &peerListener{Listener: ln, owner: d.opts.UID, reject: func(uid int, err error) {
		d.log.Warn("refused connection from another user", "uid", uid, "err", err)
	}}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(pl) }()
	d.log.Info("bangerd serving", "socket", ln.Addr().String(), "pid", os.Getpid(), "driver", d.driver.Name())
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	case <-d.shutdown:
		d.log.Info("shutdown requested through the API")
	}
	d.log.Info("shutting down; VMs keep running")
	timeout := d.opts.ShutdownTimeout
	if timeout <= 0 {
		timeout = 30 * time.Second
	}
	sctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	close(d.closing)
	err := srv.Shutdown(sctx)
	if errors.Is(err, context.DeadlineExceeded) {
		cancelBase()
		err = srv.Close()
	}
	if serr := <-errc; !errors.Is(serr, http.ErrServerClosed) && serr != nil {
		err = errors.Join(err, serr)
	}
	return err
}

// vmDefaults are what a create request falls back to, and the limits it is
// checked against, from the config and the host.
func vmDefaults(cfg config.Config, host config.Host) vm.Defaults {
	return vm.Defaults{
		VCPUs:          cfg.VM.VCPUs,
		MemoryMiB:      int(int64(cfg.VM.Memory) >> 20),
		DiskBytes:      int64(cfg.VM.DiskSize),
		Image:          cfg.VM.Image,
		StopTimeout:    time.Duration(cfg.VMM.StopTimeout),
		NAT:            cfg.Network.NAT,
		Domain:         domainIf(cfg),
		WarmStart:      cfg.VM.WarmStart,
		ValidateVCPUs:  func(n int) error { return config.ValidateVCPUs(n, host) },
		ValidateMemory: func(mib int) error { return config.ValidateMemoryMiB(mib, host) },
		ValidateDisk:   config.ValidateDiskSize,
	}
}

// domainIf is the DNS domain VMs answer under, "" without networking.
func domainIf(cfg config.Config) string {
	if !cfg.Network.Enabled {
		return ""
	}
	return cfg.DNS.Domain
}

// Close releases the store, then the locks of the state and runtime
// directories.
func (d *Daemon) Close() error {
	err := d.store.Close()
	for _, l := range d.locks {
		err = errors.Join(err, l.release())
	}
	return err
}

// requestShutdown makes Serve return as SIGTERM does: VMs keep running.
func (d *Daemon) requestShutdown() {
	d.shutdownOnce.Do(func() { close(d.shutdown) })
}

// vmDisks adapts the disk package to the vm service.
type vmDisks struct {
	work *disk.WorkDisks
	cow  cow.Strategy
}

// newVMDisks is the vm service's disks: with root disk devices when the
// strategy makes them (vm.RootDevices).
func newVMDisks(work *disk.WorkDisks, s cow.Strategy) vm.Disks {
	d := vmDisks{work: work, cow: s}
	if a, ok := s.(cow.Attacher); ok {
		return vmDeviceDisks{vmDisks: d, a: a}
	}
	return d
}

// vmDeviceDisks adds the devices of a strategy whose disks are not files
// (cow.Attacher) to vmDisks.
type vmDeviceDisks struct {
	vmDisks
	a cow.Attacher
}

func (v vmDeviceDisks) AttachRootDisk(ctx context.Context, id, disk string) (string, error) {
	return v.a.Attach(ctx, id, disk)
}
func (v vmDeviceDisks) DetachRootDisk(id string) error       { return v.a.Detach(id) }
func (v vmDeviceDisks) AttachedRootDisks() ([]string, error) { return v.a.Attached() }

// CopyFile clones src where the filesystem can, else copies it sparse.
func (v vmDeviceDisks) CopyFile(ctx context.Context, src, dst string) error {
	err := disk.CloneFile(ctx, src, dst)
	if errors.Is(err, disk.ErrNoReflink) {
		err = disk.SparseCopy(ctx, src, dst)
	}
	return err
}

func (v vmDisks) CloneRootDisk(ctx context.Context, src, dst string) error {
	return cow.CloneDisk(ctx, v.cow, src, dst)
}

func (v vmDisks) CloneImage(ctx context.Context, image, dst string) error {
	return cow.CloneImage(ctx, v.cow, image, dst)
}

// RootDiskFormat is the recorded format of a root disk; an overlay whose
// image changed since it was made is refused (it would read a mix of both).
func (vmDisks) RootDiskFormat(path string) (string, error) {
	f, err := cow.Format(path)
	if err != nil {
		return "", err
	}
	if f != cow.FormatQCOW2 {
		return vmm.DiskRaw, nil
	}
	if err := cow.CheckImage(path); err != nil {
		return "", err
	}
	return vmm.DiskQCOW2, nil
}

func (vmDisks) WriteFiles(ctx context.Context, image string, files []vm.GuestFile) error {
	out := make([]disk.File, 0, len(files))
	for _, f := range files {
		out = append(out, disk.File{Path: f.Path, Data: f.Data, Mode: os.FileMode(f.Mode)})
	}
	return disk.WriteFiles(ctx, image, out)
}

func (v vmDisks) CreateWorkDisk(ctx context.Context, dst string, size int64) error {
	return v.work.Create(ctx, dst, size)
}

// roomChecker adapts the disk package's space accounting to the vm
// service. shared says the disk strategy clones by sharing the image's
// blocks (reflink, loop-xfs), so a new root disk costs nothing up front.
type roomChecker struct{ shared bool }

func (r roomChecker) CloneCost(path string) (int64, error) {
	if r.shared {
		return 0, nil
	}
	u, err := disk.UsageOf(path)
	return u.Allocated, err
}

func (roomChecker) CheckRoom(dir string, need int64, what string) error {
	return disk.CheckRoom(dir, need, what)
}

// inspector adapts the disk package to the images service.
type inspector struct{}

func (inspector) CheckRootFS(path string) error { return disk.IsExt4(path) }

func (inspector) ReadsIdentityDisk(ctx context.Context, path string) (bool, error) {
	return disk.HasFile(ctx, path, imagebuild.IdentityMarker)
}

func (inspector) CheckKernel(path string) error {
	_, err := disk.DetectKernel(path)
	return err
}
