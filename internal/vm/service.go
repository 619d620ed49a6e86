// Package vm owns the VM lifecycle: it decides what creating, starting,
// stopping, killing and deleting a VM means as explicit, ordered, journaled
// steps with rollback, keeps one lock per VM, watches running VMMs, and on
// daemon start reconciles what a previous daemon left behind. It drives the
// host only through the small interfaces it declares (VMM driver, disks);
// it must not talk HTTP or touch networking itself.
package vm

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"log/slog"
	"sync"
	"time"

	"banger/internal/store"
	"banger/internal/vmm"
)

// Disks prepares the per-VM disk files.
type Disks interface {
	// CloneRootDisk makes dst a copy of src (an image, or a paused VM's
	// disk for a snapshot), copy-on-write where the host allows, never
	// leaving dst half written. The copy has src's format.
	CloneRootDisk(ctx context.Context, src, dst string) error
	// CloneImage makes dst a VM root disk that reads as the image file
	// until written: as CloneRootDisk, or an overlay referring to the
	// image (see RootDiskFormat) where the disk strategy makes them.
	CloneImage(ctx context.Context, image, dst string) error
	// RootDiskFormat is the format of the root disk at path as recorded
	// when it was made (vmm.DiskRaw or vmm.DiskQCOW2), never guessed
	// from its content.
	RootDiskFormat(path string) (string, error)
	// CreateWorkDisk makes an empty ext4 filesystem of size bytes at dst.
	CreateWorkDisk(ctx context.Context, dst string, size int64) error
	// WriteFiles writes files into the unmounted ext4 image at path.
	WriteFiles(ctx context.Context, image string, files []GuestFile) error
}

// RootDevices is implemented by Disks whose root disks the VMM cannot
// open as files: each is made a block device at start and removed at stop
// (cow's dm strategy). The service checks for it with a type assertion.
type RootDevices interface {
	// AttachRootDisk makes the block device of the root disk file disk
	// for VM id, or returns the one that exists, and returns its path.
	AttachRootDisk(ctx context.Context, id, disk string) (string, error)
	// DetachRootDisk removes VM id's device; a missing one is not an
	// error.
	DetachRootDisk(id string) error
	// AttachedRootDisks lists the VM ids that have a device.
	AttachedRootDisks() ([]string, error)
	// CopyFile copies a disk that is a plain file, not a root disk (the
	// work disk, for a snapshot), copy-on-write where the filesystem
	// allows: CloneRootDisk would make it a root disk.
	CopyFile(ctx context.Context, src, dst string) error
}

// Space measures files and filesystems, so that work that cannot fit is
// refused before it starts.
type Space interface {
	// CloneCost is the bytes a root disk cloned from the image file at
	// path takes up front: its allocated blocks for a copy, none for a
	// clone that shares the image's blocks.
	CloneCost(path string) (int64, error)
	// CheckRoom fails, with an error saying what needs how much and how
	// much is free, when the filesystem holding dir (which need not exist
	// yet) has less than need bytes available.
	CheckRoom(dir string, need int64, what string) error
}

// GuestFile is a file banger writes into a VM's own root disk before its
// first boot.
type GuestFile struct {
	Path string // absolute path in the guest
	Data []byte
	Mode uint32 // permission bits
}

// Dirs maps VM ids to their directories and makes them.
type Dirs interface {
	VMDir(id string) string        // persistent: disks, console log
	VMRuntimeDir(id string) string // private runtime: sockets
	SnapshotDir(id string) string  // persistent: a snapshot's files
	// MakeDir creates dir (a VMDir or VMRuntimeDir, with its missing
	// parents) private to the daemon, without following a symlink below
	// the state or runtime root; an entry planted there is refused.
	MakeDir(dir string) error
}

// Defaults are the values a create request falls back to, and the limits
// it is checked against.
type Defaults struct {
	VCPUs       int
	MemoryMiB   int
	DiskBytes   int64
	Image       string
	StopTimeout time.Duration
	NAT         bool   // whether new VMs may reach outside networks
	Domain      string // VMs answer as <name>.<Domain> when networked
	// WarmStart lets CreateWarm resume warm snapshots and make them.
	WarmStart bool
	// Validate checks per-VM sizes against the host's limits (from
	// config); nil accepts any positive value. They get the request's
	// numbers as they are, and say what is wrong without naming the field.
	ValidateVCPUs  func(int) error
	ValidateMemory func(mib int) error
	ValidateDisk   func(bytes int64) error
}

// Hooks lets tests observe or interrupt lifecycle plans.
type Hooks struct {
	// BeforeStep runs before each step of each plan; an error fails the
	// step, except ErrSkipStep, which skips it.
	BeforeStep func(kind, step string) error
}

// ErrSkipStep, returned by Hooks.BeforeStep, skips the step: tests whose
// fake VMM runs no guest skip the steps that talk to the guest agent.
var ErrSkipStep = errors.New("skip this step")

func (h Hooks) beforeStep(kind, step string) error {
	if h.BeforeStep == nil {
		return nil
	}
	return h.BeforeStep(kind, step)
}

// Config wires a Service.
type Config struct {
	Store *store.Store
	// Driver starts VMs. Others are drivers that VMs started by another
	// daemon configuration may still be running under; a running VM is
	// always driven by the driver it was started with.
	Driver vmm.Driver
	Others []vmm.Driver
	Disks  Disks
	Dirs   Dirs
	// Space checks room before a create; nil checks nothing.
	Space    Space
	Defaults Defaults
	Logger   *slog.Logger
	Hooks    Hooks
	// Agent starts sessions with guest agents; nil means VMs are driven
	// without one (no exec, shutdown through the VMM only).
	Agent AgentConnector
	// Network wires VMs to the host network; nil means VMs get no network
	// device.
	Network Network
	// SSH is banger's SSH key and known_hosts; nil means VMs get no key
	// and their host keys are not pinned.
	SSH SSHKeys
	// WatchInterval is how often running VMMs are checked for exit; zero
	// means one second.
	WatchInterval time.Duration
}

// Service runs VM lifecycle operations. It is safe for concurrent use.
type Service struct {
	store    *store.Store
	driver   vmm.Driver
	drivers  map[string]vmm.Driver
	disks    Disks
	dirs     Dirs
	space    Space
	defaults Defaults
	log      *slog.Logger
	hooks    Hooks
	events   *Broker
	locks    keyedLocks
	connect  AgentConnector
	agents   agents
	net      Network
	ssh      SSHKeys

	watchEvery time.Duration
	stop       chan struct{}
	forkLimit  int // copies of one fork made at once (forkParallel)
	wg         sync.WaitGroup
}

// New returns a Service. Call Reconcile before serving requests and Close
// when done.
func New(cfg Config) *Service {
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	every := cfg.WatchInterval
	if every <= 0 {
		every = time.Second
	}
	drivers := map[string]vmm.Driver{cfg.Driver.Name(): cfg.Driver}
	for _, d := range cfg.Others {
		if _, ok := drivers[d.Name()]; !ok {
			drivers[d.Name()] = d
		}
	}
	return &Service{
		store:      cfg.Store,
		driver:     cfg.Driver,
		drivers:    drivers,
		disks:      cfg.Disks,
		space:      cfg.Space,
		dirs:       cfg.Dirs,
		defaults:   cfg.Defaults,
		log:        log,
		hooks:      cfg.Hooks,
		events:     NewBroker(),
		connect:    cfg.Agent,
		net:        cfg.Network,
		ssh:        cfg.SSH,
		watchEvery: every,
		stop:       make(chan struct{}),
		forkLimit:  forkParallel(),
	}
}

// Events returns the broker on which VM and operation events are published.
func (s *Service) Events() *Broker { return s.events }

// DriverName is the name of the VMM driver new starts use.
func (s *Service) DriverName() string { return s.driver.Name() }

// driverOf returns the driver rec runs (or last ran) under, falling back to
// the default one.
func (s *Service) driverOf(rec store.VM) vmm.Driver {
	if d, ok := s.drivers[rec.Driver]; ok {
		return d
	}
	return s.driver
}

// Close stops the watcher. Running VMs are left running.
func (s *Service) Close() {
	select {
	case <-s.stop:
	default:
		close(s.stop)
	}
	s.wg.Wait()
}

// NewID returns a random 16-hex-character id.
func NewID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// NewOpID returns a random operation id.
func NewOpID() string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return "op-" + hex.EncodeToString(b[:])
}

// keyedLocks is a set of mutexes keyed by VM id, created on demand.
type keyedLocks struct {
	mu    sync.Mutex
	locks map[string]*lockEntry
}

type lockEntry struct {
	mu   sync.Mutex
	refs int
}

// lock locks key and returns its unlock function.
func (k *keyedLocks) lock(key string) func() {
	k.mu.Lock()
	if k.locks == nil {
		k.locks = make(map[string]*lockEntry)
	}
	e := k.locks[key]
	if e == nil {
		e = &lockEntry{}
		k.locks[key] = e
	}
	e.refs++
	k.mu.Unlock()
	e.mu.Lock()
	return func() {
		e.mu.Unlock()
		k.mu.Lock()
		e.refs--
		if e.refs == 0 {
			delete(k.locks, key)
		}
		k.mu.Unlock()
	}
}

// tryLock locks key if it is free and reports whether it did.
func (k *keyedLocks) tryLock(key string) (func(), bool) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.locks == nil {
		k.locks = make(map[string]*lockEntry)
	}
	if _, busy := k.locks[key]; busy {
		return nil, false
	}
	e := &lockEntry{refs: 1}
	e.mu.Lock()
	k.locks[key] = e
	return func() {
		e.mu.Unlock()
		k.mu.Lock()
		e.refs--
		if e.refs == 0 {
			delete(k.locks, key)
		}
		k.mu.Unlock()
	}, true
}
