// Command banger-init is the /init of the initramfs banger builds for a
// distribution kernel (package banger/internal/initramfs). It mounts
// /proc, /sys and /dev, loads the kernel modules the initramfs lists, each
// as soon as the modules it depends on are loaded (with their parameters
// from the kernel command line, as modprobe would), meanwhile waits for
// the root device and mounts it, and hands over to the root filesystem's
// init. It imports only the standard library, x/sys/unix and
// initramfs/initlayout: every boot of a distribution kernel starts it, and
// a bigger binary starts slower. Any failure prints one line starting
// with initlayout.ErrorMarker on the console and ends the VM, so the host
// reports it instead of waiting for an agent.
package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"banger/internal/initramfs/initlayout"
)

// rootWait bounds the wait for the root device; "rootwait" on the command
// line lifts the bound.
const rootWait = 30 * time.Second

// newRoot is where the root filesystem is mounted before the switch.
const newRoot = "/root"

// main runs run, which returns only when it could not hand over to the
// root filesystem's init (on success it execs it).
func main() {
	fail(run())
}

// fail prints the error line and ends the VM. Drivers run the kernel with
// reboot=k and without rebooting, so a restart ends the VMM.
func fail(err error) {
	line := initlayout.ErrorMarker + strings.ReplaceAll(err.Error(), "\n", " ") + "\n"
	if f, ferr := os.OpenFile("/dev/console", os.O_WRONLY, 0); ferr == nil {
		_, _ = f.WriteString(line)
		_ = f.Close()
	} else {
		_, _ = os.Stderr.WriteString(line)
	}
	unix.Sync()
	time.Sleep(100 * time.Millisecond) // let the serial line drain
	_ = unix.Reboot(unix.LINUX_REBOOT_CMD_RESTART)
	os.Exit(1) // the kernel panics, and panic=1 ends the VM
}

func run() error {
	if err := mountBasics(); err != nil {
		return err
	}
	b, err := os.ReadFile("/proc/cmdline")
	if err != nil {
		return fmt.Errorf("read /proc/cmdline: %w", err)
	}
	cfg := parseCmdline(string(b))
	if cfg.root == "" {
		return errors.New("no root= on the kernel command line")
	}
	list, err := os.ReadFile("/" + initlayout.ModuleList)
	if err != nil {
		return fmt.Errorf("read the module list: %w", err)
	}
	// The root device appears once virtio_blk is loaded: wait for it and
	// mount it while the other modules load. When loading fails, the VM
	// ends (fail) with this goroutine still waiting.
	mounted := make(chan error, 1)
	go func() { mounted <- mountRoot(cfg) }()
	if err := loadModules(initlayout.ParseList(string(list)), func(file, name string) error {
		return loadModule("/"+initlayout.ModuleDir+"/"+file, strings.Join(cfg.modParams[name], " "))
	}); err != nil {
		return err
	}
	if err := <-mounted; err != nil {
		return err
	}
	for _, m := range []string{"/dev", "/proc", "/sys"} {
		if err := unix.Mount(m, newRoot+m, "", unix.MS_MOVE, ""); err != nil {
			_ = unix.Unmount(m, unix.MNT_DETACH)
		}
	}
	cleanInitramfs()
	if err := os.Chdir(newRoot); err != nil {
		return fmt.Errorf("switch root: %w", err)
	}
	if err := unix.Mount(".", "/", "", unix.MS_MOVE, ""); err != nil {
		return fmt.Errorf("switch root: move %s to /: %w", newRoot, err)
	}
	if err := unix.Chroot("."); err != nil {
		return fmt.Errorf("switch root: chroot: %w", err)
	}
	if err := os.Chdir("/"); err != nil {
		return fmt.Errorf("switch root: %w", err)
	}
	argv := append([]string{cfg.init}, os.Args[1:]...)
	err = syscall.Exec(cfg.init, argv, os.Environ())
	return fmt.Errorf("exec %s: %w", cfg.init, err)
}

// mountRoot waits for the root device and mounts it on newRoot.
func mountRoot(cfg bootConfig) error {
	var flags uintptr
	if cfg.readOnly {
		flags |= unix.MS_RDONLY
	}
	dev, err := waitAndMount(cfg, isDevice, func(dev string) error {
		return unix.Mount(dev, newRoot, cfg.fstype, flags, cfg.flags)
	})
	if err != nil {
		return err
	}
	// Lstat: init is often an absolute symlink, which only resolves once
	// the new root is "/".
	if _, err := os.Lstat(filepath.Join(newRoot, cfg.init)); err != nil {
		return fmt.Errorf("the root filesystem %s has no %s to hand over to: %w", dev, cfg.init, err)
	}
	return nil
}

func isDevice(path string) bool {
	st, err := os.Stat(path)
	return err == nil && st.Mode()&os.ModeDevice != 0
}

// waitAndMount waits for the root= device node to appear and mounts it
// with mount, and returns its path. devtmpfs creates the node as soon as
// the driver adds the disk, a moment before the disk can be opened:
// mounting it then fails with ENXIO, and is tried again, within the same
// bound as the wait for the node (rootWait; none with rootwait). Any other
// mount error is final.
func waitAndMount(cfg bootConfig, exists func(string) bool, mount func(string) error) (string, error) {
	dev := cfg.root
	if !strings.HasPrefix(dev, "/dev/") {
		return "", fmt.Errorf("root=%s: banger-init mounts a device path such as /dev/vda", dev)
	}
	deadline := time.Now().Add(rootWait)
	for {
		var err error
		if exists(dev) {
			err = mount(dev)
			if err == nil {
				return dev, nil
			}
			if !errors.Is(err, unix.ENXIO) {
				return "", fmt.Errorf("mount the root filesystem %s (%s) on %s: %w", dev, cfg.fstype, newRoot, err)
			}
		}
		if !cfg.rootwait && time.Now().After(deadline) {
			if err != nil {
				return "", fmt.Errorf("mount the root filesystem %s (%s) on %s: %w (for %v)", dev, cfg.fstype, newRoot, err, rootWait)
			}
			return "", fmt.Errorf("the root device %s did not appear within %v: is virtio_blk loaded and the disk attached?", dev, rootWait)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func mountBasics() error {
	for _, m := range []struct{ src, dst, fstype string }{
		{"devtmpfs", "/dev", "devtmpfs"},
		{"proc", "/proc", "proc"},
		{"sysfs", "/sys", "sysfs"},
	} {
		if err := os.MkdirAll(m.dst, 0o755); err != nil {
			return fmt.Errorf("create %s: %w", m.dst, err)
		}
		if err := unix.Mount(m.src, m.dst, m.fstype, unix.MS_NOSUID|unix.MS_NOEXEC, ""); err != nil && !errors.Is(err, unix.EBUSY) {
			return fmt.Errorf("mount %s on %s: %w", m.fstype, m.dst, err)
		}
	}
	return nil
}

// cleanInitramfs removes the initramfs files, freeing the memory they hold
// in the rootfs the kernel keeps after the switch.
func cleanInitramfs() {
	for _, p := range []string{"/" + initlayout.InitPath, "/" + initlayout.ModuleDir, "/etc"} {
		_ = os.RemoveAll(p)
	}
}
