package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// childEnv marks the agent process that PID 1 starts and supervises.
const childEnv = "BANGER_AGENT_CHILD"

// mount is one filesystem PID 1 mounts before anything runs.
type mount struct {
	source, target, fstype string
	flags                  uintptr
	data                   string
}

var earlyMounts = []mount{
	{"proc", "/proc", "proc", unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC, ""},
	{"sysfs", "/sys", "sysfs", unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC, ""},
	{"devtmpfs", "/dev", "devtmpfs", unix.MS_NOSUID, "mode=0755"},
	{"devpts", "/dev/pts", "devpts", unix.MS_NOSUID | unix.MS_NOEXEC, "gid=5,mode=0620,ptmxmode=0666"},
	{"tmpfs", "/dev/shm", "tmpfs", unix.MS_NOSUID | unix.MS_NODEV, "mode=1777"},
	{"tmpfs", "/run", "tmpfs", unix.MS_NOSUID | unix.MS_NODEV, "mode=0755"},
	{"tmpfs", "/tmp", "tmpfs", unix.MS_NOSUID | unix.MS_NODEV, "mode=1777"},
}

// workDisk is the per-VM disk banger attaches second; it holds /root.
const workDisk = "/dev/vdb"

// runInit is what banger-agent does as PID 1 in an image without an init:
// mount the basic filesystems and the work disk at /root, set the
// hostname, start the agent proper as a child (restarting it if it dies),
// reap every orphan, and on SIGTERM or SIGINT (Ctrl-Alt-Del) stop the
// agent, sync and reboot, which ends the VM under Firecracker and qemu.
// It never returns normally.
func runInit(args []string, stderr io.Writer) error {
	setupSystem(stderr)
	sigs := make(chan os.Signal, 8)
	signal.Notify(sigs, unix.SIGCHLD, unix.SIGTERM, unix.SIGINT)
	child, err := startChild(args, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "banger-agent (init): %v\n", err)
	}
	backoff := time.Second
	for sig := range sigs {
		switch sig {
		case unix.SIGTERM, unix.SIGINT:
			shutdown(child, stderr)
		case unix.SIGCHLD:
			if reap(child) {
				fmt.Fprintf(stderr, "banger-agent (init): the agent exited; restarting it in %v\n", backoff)
				time.Sleep(backoff)
				backoff = min(2*backoff, 30*time.Second)
				child, _ = startChild(args, stderr)
			}
		}
	}
	return nil
}

// setupSystem mounts what a Linux userland expects and names the machine. Each
// failure is reported and skipped: a half-working guest the host can reach
// beats a dead one.
func setupSystem(stderr io.Writer) {
	for _, m := range earlyMounts {
		if err := os.MkdirAll(m.target, 0o755); err != nil {
			fmt.Fprintf(stderr, "banger-agent (init): mkdir %s: %v\n", m.target, err)
			continue
		}
		if err := unix.Mount(m.source, m.target, m.fstype, m.flags, m.data); err != nil && !errors.Is(err, unix.EBUSY) {
			fmt.Fprintf(stderr, "banger-agent (init): mount %s on %s: %v\n", m.fstype, m.target, err)
		}
	}
	if _, err := os.Stat(workDisk); err == nil {
		if err := os.MkdirAll("/root", 0o700); err == nil {
			if err := unix.Mount(workDisk, "/root", "ext4", 0, ""); err != nil {
				fmt.Fprintf(stderr, "banger-agent (init): mount %s on /root: %v\n", workDisk, err)
			}
		}
	}
	if err := applyIdentity(guestPaths, unix.Sethostname, stderr); err != nil {
		fmt.Fprintf(stderr, "banger-agent (init): %v\n", err)
	}
	if b, err := os.ReadFile("/etc/hostname"); err == nil {
		if name := strings.TrimSpace(string(b)); name != "" {
			_ = unix.Sethostname([]byte(name))
		}
	}
}

// startChild starts the agent proper with the same flags.
func startChild(args []string, stderr io.Writer) (*os.Process, error) {
	exe, err := os.Executable()
	if err != nil {
		exe = "/proc/self/exe"
	}
	cmd := exec.Command(exe, args...)
	cmd.Env = append(os.Environ(), childEnv+"=1", "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")
	cmd.Stdout, cmd.Stderr = stderr, stderr
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start the agent: %w", err)
	}
	return cmd.Process, nil
}

// reap collects every exited child, orphans included, and reports whether
// the agent was among them.
func reap(child *os.Process) (agentExited bool) {
	for {
		var status unix.WaitStatus
		pid, err := unix.Wait4(-1, &status, unix.WNOHANG, nil)
		if pid <= 0 || err != nil {
			return agentExited
		}
		if child != nil && pid == child.Pid {
			agentExited = true
		}
	}
}

// shutdown stops the agent, gives everything a moment, syncs and reboots.
func shutdown(child *os.Process, stderr io.Writer) {
	fmt.Fprintln(stderr, "banger-agent (init): shutting down")
	if child != nil {
		_ = child.Signal(syscall.SIGTERM)
	}
	_ = unix.Kill(-1, unix.SIGTERM)
	time.Sleep(time.Second)
	_ = unix.Kill(-1, unix.SIGKILL)
	reap(nil)
	unix.Sync()
	_ = unix.Reboot(unix.LINUX_REBOOT_CMD_RESTART)
}
