package bench

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"banger/internal/agent/agentclient"
	"banger/internal/agent/proto"
	"banger/internal/cow"
	"banger/internal/disk"
	"banger/internal/identdisk"
	"banger/internal/store"
	"banger/internal/vm"
	"banger/internal/vmm"
	"banger/internal/vmm/qemu"
)

// How the guest floor reaches the agent. qemu holds what the host sends
// until the guest opens its port, and the agent takes every new host
// connection as a broken session that it reopens with a growing backoff, so
// the fastest way in is one patient attempt: connect as soon as the socket
// is there and wait for the answer. Another attempt follows only when one
// fails.
const (
	floorAttempt = time.Minute           // one Ready attempt
	floorPoll    = 10 * time.Millisecond // pause between attempts
)

// guestFloor is the least a program must do to run a command in a fresh
// real guest on banger's machine. Each floor VM is built by banger's own
// code: its VMM spec by vm.VMMSpec from a VM record and the image banger
// registered (the same kernel, initrd and root disk files), its network
// settings by vm.NetAttachment.Apply (a tap on banger's bridge in the
// world's network namespace, a MAC from network.MACFor, banger.ip/gw/dns on
// the kernel command line), its identity files by vm.IdentityFiles, and
// its qemu command line by qemu.Args. The floor clones the root disk with
// the disk strategy banger's daemon uses (cow.Open with the daemon's
// choice, so a qcow2 overlay where banger makes one), writes the identity (on the identity disk for an image that
// reads one) and makes the work disk as banger does,
// starts qemu in the namespace booting at once (without -S and QMP: it
// never talks to qemu), connects to the agent over its virtio-serial
// socket and execs the command. It has no daemon, store, API, CLI,
// firewall rules or DNS record, and its tap is made once, before the
// samples, as banger's warm tap pool makes them before a create.
type guestFloor struct {
	bin   string       // qemu-system-x86_64
	accel string       // the accelerator banger's qemu got
	image store.Image  // the image banger's VMs boot
	dir   string       // per-VM directories
	disks cow.Strategy // the daemon's disk strategy, over the floor's own directory
	work  *disk.WorkDisks
	net   floorNet
}

// floorSample is the time from the start of a floor run to the end of
// each of its phases.
type floorSample struct {
	disks     time.Duration // root copy, identity and work disk done
	agent     time.Duration // the agent answered Ready
	firstByte time.Duration // the command's first output arrived
	attempts  int           // attempts until the agent answered, counting dials before qemu made its socket
	// shutdown is the time from the agent's Shutdown request to qemu's
	// exit; zero when qemu did not exit within floorShutdownWait.
	shutdown time.Duration
}

// floorShutdownWait is how long the floor waits for a guest it asked to
// shut down to make qemu exit.
const floorShutdownWait = 15 * time.Second

// floorVM is one VM of the floor: its record, as banger's store would
// hold it, and the VMM spec banger's code builds from it.
type floorVM struct {
	rec  store.VM
	spec vmm.Spec
}

// newVM is floor VM i with a fresh id and agent secret.
func (f guestFloor) newVM(i int) floorVM {
	dir := filepath.Join(f.dir, strconv.Itoa(i))
	rec := store.VM{
		ID:         vm.NewID(),
		Name:       "floor-" + strconv.Itoa(i),
		VCPUs:      guestVCPUs,
		MemoryMiB:  guestMemory,
		DiskBytes:  guestDisk,
		Dir:        dir,
		RuntimeDir: filepath.Join(dir, "run"),
		AgentToken: randomToken(),
	}
	spec := vm.VMMSpec(rec, f.image)
	f.net.attachment(rec.ID).Apply(&spec)
	return floorVM{rec: rec, spec: spec}
}

// prepare makes v's directories and disks: the root disk cloned from the
// image as banger clones it (its format set in v's spec), v's identity on its identity disk (or, for an image that does not
// read one, written into the root disk), and the work disk.
func (f guestFloor) prepare(ctx context.Context, v *floorVM) error {
	for _, d := range []string{v.rec.Dir, v.rec.RuntimeDir} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return err
		}
	}
	// As banger's create: an overlay for an image that reads the identity
	// disk, a raw clone for one whose identity is written into the disk.
	clone := cow.CloneDisk
	if v.spec.IdentityDisk != "" {
		clone = cow.CloneImage
	}
	if err := clone(ctx, f.disks, f.image.RootFS, v.spec.RootDisk); err != nil {
		return fmt.Errorf("clone root disk: %w", err)
	}
	format, err := cow.Format(v.spec.RootDisk)
	if err != nil {
		return err
	}
	v.spec.RootDiskFormat = vmm.DiskRaw
	if format == cow.FormatQCOW2 {
		v.spec.RootDiskFormat = vmm.DiskQCOW2
	}
	if v.spec.IdentityDisk != "" {
		// The image reads the identity disk: banger writes it at start.
		var files []identdisk.File
		for _, f := range vm.IdentityFiles(v.rec) {
			files = append(files, identdisk.File{Path: f.Path, Data: f.Data, Mode: f.Mode})
		}
		if err := identdisk.WriteFile(v.spec.IdentityDisk, files); err != nil {
			return fmt.Errorf("write the identity disk: %w", err)
		}
	} else if err := disk.WriteFiles(ctx, v.spec.RootDisk, diskFiles(vm.IdentityFiles(v.rec))); err != nil {
		return fmt.Errorf("write identity: %w", err)
	}
	if err := f.work.Create(ctx, v.spec.WorkDisk, v.rec.DiskBytes); err != nil {
		return fmt.Errorf("create work disk: %w", err)
	}
	return nil
}

// floorProc is a running floor qemu.
type floorProc struct {
	cmd    *exec.Cmd
	exited chan struct{} // closed once qemu has been reaped
}

// kill ends qemu and waits until it is reaped.
func (p *floorProc) kill() {
	_ = p.cmd.Process.Kill()
	<-p.exited
}

// launch starts qemu for v in the world's network namespace, where the
// floor's tap is, in its own session, with the console in v's console
// log and qemu's messages in its VMM log, as banger's qemu driver does.
func (f guestFloor) launch(v floorVM) (*floorProc, error) {
	console, err := os.OpenFile(v.spec.ConsoleLog, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return nil, err
	}
	defer console.Close()
	vmmLog, err := os.OpenFile(v.spec.VMMLog, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return nil, err
	}
	defer vmmLog.Close()
	cmd := exec.Command(f.bin, floorArgs(v.spec, f.accel)...)
	cmd.Stdout, cmd.Stderr = console, vmmLog
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	// A child forked from a thread inside the namespace starts there.
	if err := f.net.ns.Do(cmd.Start); err != nil {
		return nil, fmt.Errorf("start %s: %w", f.bin, err)
	}
	p := &floorProc{cmd: cmd, exited: make(chan struct{})}
	go func() {
		_ = cmd.Wait()
		close(p.exited)
	}()
	return p, nil
}

// run boots floor VM i, runs argv in it and returns when it was done. The
// VM's qemu is killed and its files removed before run returns.
func (f guestFloor) run(ctx context.Context, i int, argv []string) (s floorSample, out string, err error) {
	v := f.newVM(i)
	defer os.RemoveAll(v.rec.Dir)
	t0 := time.Now()
	if err := f.prepare(ctx, &v); err != nil {
		return s, "", err
	}
	s.disks = time.Since(t0)

	p, err := f.launch(v)
	if err != nil {
		return s, "", err
	}
	defer p.kill() // whatever happened, qemu is gone on return
	c, attempts, err := dialAgent(ctx, v.spec.VsockPath, v.rec.AgentToken, p.exited)
	s.attempts = attempts
	if err != nil {
		tail, _ := os.ReadFile(v.spec.ConsoleLog)
		return s, "", fmt.Errorf("%w\nconsole:\n%s", err, lastLines(string(tail), 15))
	}
	defer c.Close()
	s.agent = time.Since(t0)

	var stdout firstOutput
	proc, err := c.Exec(ctx, proto.ExecRequest{Argv: argv}, &stdout, nil)
	if err != nil {
		return s, "", fmt.Errorf("exec %v: %w", argv, err)
	}
	code, err := proc.Wait()
	at, out := stdout.result()
	if err != nil || code != 0 {
		return s, out, fmt.Errorf("exec %v: exit %d: %v", argv, code, err)
	}
	if at.IsZero() {
		return s, out, fmt.Errorf("exec %v: %w", argv, errNoOutput)
	}
	s.firstByte = at.Sub(t0)

	// How long the guest itself takes to go away once asked: the least a
	// graceful stop (and so vm run --rm) can cost.
	asked := time.Now()
	if err := c.Shutdown(ctx); err != nil {
		return s, out, fmt.Errorf("ask the guest to shut down: %w", err)
	}
	select {
	case <-p.exited:
		s.shutdown = time.Since(asked)
	case <-time.After(floorShutdownWait):
	case <-ctx.Done():
		return s, out, ctx.Err()
	}
	return s, out, nil
}

// floorDropped are the arguments of banger's qemu command line the floor
// leaves out, each with whether a value follows: the floor boots at once
// instead of paused until QMP's cont, and has no QMP socket.
var floorDropped = map[string]bool{"-S": false, "-qmp": true}

// floorArgs is the floor's qemu command line for spec: qemu.Args with the
// benchmark daemons' vmm.tcg_aslr (the default, false), less floorDropped.
func floorArgs(spec vmm.Spec, accel string) []string {
	args, _ := dropArgs(qemu.Args(spec, accel, false), floorDropped)
	return args
}

// dropArgs returns args without the flags in drop (and their values where
// drop says one follows), and which of them it found.
func dropArgs(args []string, drop map[string]bool) (kept []string, found map[string]bool) {
	found = map[string]bool{}
	for i := 0; i < len(args); i++ {
		hasValue, ok := drop[args[i]]
		if !ok {
			kept = append(kept, args[i])
			continue
		}
		found[args[i]] = true
		if hasValue {
			i++
		}
	}
	return kept, found
}

// diskFiles converts the vm service's guest files to the disk package's,
// as the daemon's adapter between them does.
func diskFiles(files []vm.GuestFile) []disk.File {
	out := make([]disk.File, 0, len(files))
	for _, f := range files {
		out = append(out, disk.File{Path: f.Path, Data: f.Data, Mode: os.FileMode(f.Mode)})
	}
	return out
}

// dialAgent connects to the agent behind sock until it answers Ready,
// qemu exits or ctx ends, and says how many attempts that took.
func dialAgent(ctx context.Context, sock, token string, exited <-chan struct{}) (*agentclient.Client, int, error) {
	var last error
	for n := 1; ; n++ {
		c, err := tryAgent(ctx, sock, token)
		if err == nil {
			return c, n, nil
		}
		last = err
		select {
		case <-exited:
			return nil, n, fmt.Errorf("qemu exited before the agent answered (last error: %v)", last)
		case <-ctx.Done():
			return nil, n, fmt.Errorf("wait for the agent: %w (last error: %v)", ctx.Err(), last)
		case <-time.After(floorPoll):
		}
	}
}

// tryAgent makes one attempt to open a session with the agent.
func tryAgent(ctx context.Context, sock, token string) (*agentclient.Client, error) {
	conn, err := agentclient.DialUnix(ctx, sock)
	if err != nil {
		return nil, err
	}
	c, err := agentclient.New(conn, token)
	if err != nil {
		return nil, err
	}
	actx, cancel := context.WithTimeout(ctx, floorAttempt)
	defer cancel()
	if _, err := c.Ready(actx); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

// randomToken is a fresh agent secret, as banger makes one.
func randomToken() string {
	var b [32]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
