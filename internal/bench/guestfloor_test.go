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
	"banger/internal/disk"
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
// real guest: copy the image's root disk sparsely, write the VM's identity
// into it and make a work disk, all as banger does, start qemu with a
// hand-written command line of the same machine and devices as banger's
// (booting at once, without QMP), connect to the agent over its
// virtio-serial socket, retrying until it answers, and exec the command.
type guestFloor struct {
	bin    string // qemu-system-x86_64
	accel  string // the accelerator banger's qemu got
	kernel string
	rootfs string
	dir    string // per-VM directories
	work   *disk.WorkDisks
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

// run boots floor VM i, runs argv in it and returns when it was done. The
// VM's qemu is killed and its files removed before run returns.
func (f guestFloor) run(ctx context.Context, i int, argv []string) (s floorSample, out string, err error) {
	name := "floor-" + strconv.Itoa(i)
	dir := filepath.Join(f.dir, strconv.Itoa(i))
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return s, "", err
	}
	defer os.RemoveAll(dir)
	root, work := filepath.Join(dir, "root.ext4"), filepath.Join(dir, "work.ext4")
	sock := filepath.Join(dir, "agent.sock")
	token := randomToken()

	t0 := time.Now()
	if err := disk.SparseCopy(ctx, f.rootfs, root); err != nil {
		return s, "", fmt.Errorf("copy root disk: %w", err)
	}
	if err := disk.WriteFiles(ctx, root, identity(name, token)); err != nil {
		return s, "", fmt.Errorf("write identity: %w", err)
	}
	if err := f.work.Create(ctx, work, guestDisk); err != nil {
		return s, "", fmt.Errorf("create work disk: %w", err)
	}
	s.disks = time.Since(t0)

	console, err := os.Create(filepath.Join(dir, "console.log"))
	if err != nil {
		return s, "", err
	}
	defer console.Close()
	cmd := exec.Command(f.bin, floorArgs(f.accel, f.kernel, root, work, sock)...)
	cmd.Stdout, cmd.Stderr = console, console
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return s, "", fmt.Errorf("start %s: %w", f.bin, err)
	}
	exited := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(exited)
	}()
	defer func() { // whatever happened, qemu is gone on return
		_ = cmd.Process.Kill()
		<-exited
	}()
	c, attempts, err := dialAgent(ctx, sock, token, exited)
	s.attempts = attempts
	if err != nil {
		tail, _ := os.ReadFile(console.Name())
		return s, "", fmt.Errorf("%w\nconsole:\n%s", err, lastLines(string(tail), 15))
	}
	defer c.Close()
	s.agent = time.Since(t0)

	var stdout firstOutput
	p, err := c.Exec(ctx, proto.ExecRequest{Argv: argv}, &stdout, nil)
	if err != nil {
		return s, "", fmt.Errorf("exec %v: %w", argv, err)
	}
	code, err := p.Wait()
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
	case <-exited:
		s.shutdown = time.Since(asked)
	case <-time.After(floorShutdownWait):
	case <-ctx.Done():
		return s, out, ctx.Err()
	}
	return s, out, nil
}

// floorArgs is the hand-written qemu command line of a floor VM: banger's
// machine, CPU, memory and devices (see qemu.Args), booting at once.
func floorArgs(accel, kernel, root, work, agentSock string) []string {
	return []string{
		"-M", "microvm,acpi=off,x-option-roms=off,rtc=on",
		"-accel", accel,
		"-cpu", "max",
		"-m", strconv.Itoa(guestMemory) + "M",
		"-smp", strconv.Itoa(guestVCPUs),
		"-nodefaults", "-no-user-config", "-nographic", "-no-reboot",
		"-kernel", kernel,
		"-append", floorBootArgs + " root=/dev/vda rw",
		"-drive", "id=rootfs,file=" + root + ",format=raw,if=none",
		"-device", "virtio-blk-device,drive=rootfs",
		"-drive", "id=work,file=" + work + ",format=raw,if=none",
		"-device", "virtio-blk-device,drive=work",
		"-chardev", "stdio,id=con,signal=off",
		"-serial", "chardev:con",
		"-device", "i8042",
		"-device", "virtio-serial-device",
		"-chardev", "socket,id=agent,path=" + agentSock + ",server=on,wait=off",
		"-device", "virtserialport,chardev=agent,name=org.banger.agent",
	}
}

// identity is what banger writes into a VM's root disk before boot.
func identity(name, token string) []disk.File {
	hosts := "127.0.0.1\tlocalhost\n127.0.1.1\t" + name + "\n::1\tlocalhost ip6-localhost ip6-loopback\n"
	return []disk.File{
		{Path: "/etc/hostname", Data: []byte(name + "\n"), Mode: 0o644},
		{Path: "/etc/hosts", Data: []byte(hosts), Mode: 0o644},
		{Path: "/etc/banger/agent-token", Data: []byte(token), Mode: 0o600},
	}
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
