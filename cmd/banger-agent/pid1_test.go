package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"banger/internal/agent/agentclient"
	"banger/internal/agent/proto"
	"banger/internal/process"
	"banger/internal/testtier"
	"banger/internal/vmm"
	"banger/internal/vmm/qemu"
	"banger/internal/vmm/qemu/qemutest"
)

// TestPID1Guest boots an image with no init at all: /sbin/init is
// banger-agent. It must mount the basics and the work disk, name the
// machine, serve the host, and end the VM when asked to shut down.
func TestPID1Guest(t *testing.T) {
	testtier.Guest(t)
	bin := qemutest.Binary(t)
	kernel := qemutest.Kernel(t)
	if _, err := exec.LookPath("mkfs.ext4"); err != nil {
		t.Skip("needs mkfs.ext4: apt-get install e2fsprogs")
	}
	busybox, err := os.ReadFile("/bin/busybox")
	if err != nil || !bytes.Contains(busybox[:min(len(busybox), 4096)], []byte("ELF")) {
		t.Skip("needs a static /bin/busybox: apt-get install busybox-static")
	}
	dir, err := os.MkdirTemp("", "p1")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)

	agentBin := filepath.Join(dir, "banger-agent")
	build := exec.Command("go", "build", "-o", agentBin, ".")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build agent: %v\n%s", err, out)
	}
	const token = "pid1-test-token"
	tree := filepath.Join(dir, "tree")
	files := map[string]string{
		"etc/hostname":           "pid1-guest\n",
		"etc/banger/agent-token": token,
	}
	for _, d := range []string{"bin", "sbin", "etc/banger", "root", "proc", "sys", "dev", "run", "tmp"} {
		if err := os.MkdirAll(filepath.Join(tree, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(tree, name), []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(tree, "bin/busybox"), busybox, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, c := range []string{"sh", "cat", "hostname", "mount", "ls", "sleep"} {
		if err := os.Symlink("busybox", filepath.Join(tree, "bin", c)); err != nil {
			t.Fatal(err)
		}
	}
	agentData, err := os.ReadFile(agentBin)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(tree, "sbin/init"), agentData, 0o755); err != nil {
		t.Fatal(err)
	}
	root, work := filepath.Join(dir, "root.ext4"), filepath.Join(dir, "work.ext4")
	mkfs(t, root, 64<<20, tree)
	workTree := filepath.Join(dir, "worktree")
	if err := os.MkdirAll(workTree, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(workTree, "hello"), []byte("from the work disk\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	mkfs(t, work, 16<<20, workTree)

	run := filepath.Join(dir, "run")
	if err := os.Mkdir(run, 0o700); err != nil { // the VM lifecycle's job, not the driver's
		t.Fatal(err)
	}
	spec := vmm.Spec{
		ID: "pid1", VCPUs: 1, MemoryMiB: 256, Kernel: kernel,
		BootArgs: "console=ttyS0 reboot=k panic=1 pci=off",
		RootDisk: root, WorkDisk: work, VsockPath: filepath.Join(run, "agent.sock"), VsockCID: 3,
		RuntimeDir: run, ConsoleLog: filepath.Join(dir, "console.log"), VMMLog: filepath.Join(dir, "vmm.log"),
	}
	d := qemu.New(qemu.Config{Binary: bin, Accel: qemu.AccelTCG})
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	p, err := d.Launch(ctx, spec)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = process.Kill(context.Background(), p.PID, p.StartTime, 10*time.Second) }()
	if err := d.Boot(ctx, spec, p); err != nil {
		t.Fatal(err)
	}
	c := dialAgent(ctx, t, d, spec, token)
	defer c.Close()

	var out bytes.Buffer
	proc, err := c.Exec(ctx, proto.ExecRequest{Argv: []string{"sh", "-c", "hostname; cat /proc/1/comm; cat /root/hello; cat /proc/mounts"}}, &out, &out)
	if err != nil {
		t.Fatal(err)
	}
	if code, err := proc.Wait(); code != 0 || err != nil {
		t.Fatalf("exec: exit %d, %v\n%s", code, err, out.String())
	}
	for _, want := range []string{"pid1-guest\n", "init\n", "from the work disk\n", " /proc proc ", " /dev/pts devpts "} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("guest output lacks %q:\n%s", want, out.String())
		}
	}
	if err := c.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if err := process.WaitExit(ctx, p.PID, p.StartTime, time.Minute); err != nil {
		console, _ := os.ReadFile(spec.ConsoleLog)
		t.Fatalf("the VM did not end after a shutdown request: %v\nconsole:\n%s", err, console)
	}
}

func mkfs(t *testing.T, path string, size int64, tree string) {
	t.Helper()
	if err := os.WriteFile(path, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(path, size); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("mkfs.ext4", "-q", "-F", "-d", tree, "-E", "root_owner=0:0", path).CombinedOutput(); err != nil {
		t.Fatalf("mkfs.ext4: %v\n%s", err, out)
	}
}

// dialAgent connects to the guest agent, retrying while the guest boots.
func dialAgent(ctx context.Context, t *testing.T, d vmm.Driver, spec vmm.Spec, token string) *agentclient.Client {
	t.Helper()
	var last error
	for ctx.Err() == nil {
		actx, cancel := context.WithTimeout(ctx, 3*time.Second)
		conn, err := d.DialAgent(actx, spec, vmm.AgentPort)
		if err == nil {
			c, err := agentclient.New(conn, token)
			if err == nil {
				if _, err = c.Ready(actx); err == nil {
					cancel()
					return c
				}
				c.Close()
			}
			last = err
		} else {
			last = err
		}
		cancel()
		time.Sleep(250 * time.Millisecond)
	}
	console, _ := os.ReadFile(spec.ConsoleLog)
	t.Fatalf("the agent never answered (last error %v); console:\n%s", last, console)
	return nil
}

func TestFindSerialPort(t *testing.T) {
	sys := t.TempDir()
	for name, port := range map[string]string{"vport0p1": "org.qemu.guest_agent.0", "vport1p1": "org.banger.agent"} {
		if err := os.MkdirAll(filepath.Join(sys, name), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(sys, name, "name"), []byte(port+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := os.Stat(serialDevice); err == nil {
		t.Skip("this host has the udev link itself")
	}
	if got := findSerialPort(sys); got != "/dev/vport1p1" {
		t.Errorf("findSerialPort = %q, want /dev/vport1p1", got)
	}
	if got := findSerialPort(t.TempDir()); got != serialDevice {
		t.Errorf("findSerialPort with no ports = %q, want the udev path", got)
	}
}
