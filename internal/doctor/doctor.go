// Package doctor checks that this host can run banger VMs and reports each
// finding as a PASS, WARN or FAIL row with the command that fixes it. It
// only inspects; it never changes the host. Host facts come in through the
// small interfaces of Deps so every check can be tested.
package doctor

import (
	"context"
	"fmt"
	"os"
	"syscall"

	"golang.org/x/sys/unix"

	"banger/internal/vmm"
)

// Tool is the result of looking for one host tool or prerequisite.
type Tool struct {
	Name string
	Path string
	Err  error  // why it is missing or unusable; the message says how to fix it
	Fix  string // the fix when Err is set; default: install e2fsprogs
	// Optional marks what only some commands need (building kernels and
	// images): its absence is a WARN, not a FAIL.
	Optional bool
}

// Deps are the facts and probes the checks use.
type Deps struct {
	KVMPath string // normally /dev/kvm
	Driver  interface {
		Check(context.Context) (vmm.Info, error)
	}
	DriverName string
	DriverWhy  string // how the driver was chosen
	// DiskStrategy is how root disks are cloned ("" leaves the check
	// out) and DiskStrategyWhy how it was chosen.
	DiskStrategy, DiskStrategyWhy string
	Tools                         func() []Tool
	Prereqs                       func() []Tool // optional: build tools, the guest agent, default kernel and image
	// Extra checks made by the daemon's services (networking); optional.
	Extra      func() []Check
	Store      interface{ Check(context.Context) error }
	RuntimeDir string
	Socket     string
	StateDir   string
	UID        int
}

// Run runs every check and returns the report.
func Run(ctx context.Context, d Deps) Report {
	var checks []Check
	checks = append(checks, kvm(d.KVMPath))
	checks = append(checks, vmmCheck(ctx, d))
	if d.DiskStrategy != "" {
		checks = append(checks, pass("root disks", d.DiskStrategy+": "+d.DiskStrategyWhy))
	}
	for _, t := range d.Tools() {
		checks = append(checks, toolCheck(t))
	}
	if d.Prereqs != nil {
		for _, t := range d.Prereqs() {
			checks = append(checks, toolCheck(t))
		}
	}
	if d.Extra != nil {
		checks = append(checks, d.Extra()...)
	}
	checks = append(checks, storeCheck(ctx, d))
	checks = append(checks, socketChecks(d)...)
	checks = append(checks, freeSpace(d.StateDir))
	return Report{Checks: checks}
}

// Failed reports whether any check failed.
func Failed(r Report) bool {
	for _, c := range r.Checks {
		if c.Status == StatusFail {
			return true
		}
	}
	return false
}

func pass(name, detail string) Check {
	return Check{Name: name, Status: StatusPass, Detail: detail}
}

func fail(name, detail, fix string) Check {
	return Check{Name: name, Status: StatusFail, Detail: detail, Fix: fix}
}

func warn(name, detail, fix string) Check {
	return Check{Name: name, Status: StatusWarn, Detail: detail, Fix: fix}
}

// kvmGetAPIVersion is the KVM_GET_API_VERSION ioctl.
const kvmGetAPIVersion = 0xAE00

func kvm(path string) Check {
	const name = "kvm"
	fi, err := os.Stat(path)
	if err != nil {
		return fail(name, fmt.Sprintf("%s is missing: %v", path, err),
			"enable virtualization in the firmware and load the module: sudo modprobe kvm_intel (or kvm_amd)")
	}
	if fi.Mode()&os.ModeCharDevice == 0 {
		return fail(name, path+" is not a character device", "sudo modprobe kvm_intel (or kvm_amd)")
	}
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return fail(name, fmt.Sprintf("%s is not usable: %v", path, err),
			fmt.Sprintf("sudo usermod -aG kvm %s, then log in again", userName()))
	}
	defer f.Close()
	v, err := unix.IoctlRetInt(int(f.Fd()), kvmGetAPIVersion)
	if err != nil {
		return fail(name, fmt.Sprintf("%s does not answer KVM_GET_API_VERSION: %v", path, err), "check that the kvm module is loaded: lsmod | grep kvm")
	}
	return pass(name, fmt.Sprintf("%s is readable and writable (KVM API %d)", path, v))
}

func userName() string {
	if u := os.Getenv("USER"); u != "" {
		return u
	}
	return "$USER"
}

func vmmCheck(ctx context.Context, d Deps) Check {
	name := "vmm " + d.DriverName
	info, err := d.Driver.Check(ctx)
	if err != nil {
		fix := "install Firecracker 1.5 or newer and put it on PATH, or set vmm.firecracker_bin in the config"
		if d.DriverName == "qemu" {
			fix = "sudo apt-get install qemu-system-x86, or set vmm.qemu_bin in the config"
		}
		return fail(name, err.Error(), fix)
	}
	detail := fmt.Sprintf("%s, version %s", info.Binary, info.Version)
	if d.DriverWhy != "" {
		detail += "; chosen by " + d.DriverWhy
	}
	return pass(name, detail)
}

func toolCheck(t Tool) Check {
	name := "tool " + t.Name
	if t.Optional {
		name = t.Name
	}
	if t.Err != nil {
		fix := t.Fix
		if fix == "" {
			fix = "sudo apt-get install e2fsprogs"
		}
		if t.Optional {
			return warn(name, t.Err.Error(), fix)
		}
		return fail(name, t.Err.Error(), fix)
	}
	return pass(name, t.Path)
}

func storeCheck(ctx context.Context, d Deps) Check {
	if err := d.Store.Check(ctx); err != nil {
		return fail("state store", err.Error(), "stop bangerd and restore the state directory from a backup, or move it aside to start afresh")
	}
	return pass("state store", "integrity check ok")
}

func socketChecks(d Deps) []Check {
	var out []Check
	var st syscall.Stat_t
	if err := syscall.Lstat(d.RuntimeDir, &st); err != nil {
		out = append(out, fail("runtime dir", err.Error(), "start bangerd, which creates it"))
	} else if st.Mode&syscall.S_IFMT != syscall.S_IFDIR {
		out = append(out, fail("runtime dir", d.RuntimeDir+" is not a directory", "remove "+d.RuntimeDir+" and start bangerd again"))
	} else if int(st.Uid) != d.UID || st.Mode&0o077 != 0 || st.Mode&syscall.S_IFMT != syscall.S_IFDIR {
		out = append(out, fail("runtime dir", fmt.Sprintf("%s has owner %d and mode %o; want owner %d and 0700", d.RuntimeDir, st.Uid, st.Mode&0o777, d.UID),
			fmt.Sprintf("chmod 700 %s (and make sure uid %d owns it)", d.RuntimeDir, d.UID)))
	} else {
		out = append(out, pass("runtime dir", d.RuntimeDir+" is private (0700)"))
	}
	if err := syscall.Lstat(d.Socket, &st); err != nil {
		out = append(out, fail("daemon socket", err.Error(), "restart bangerd"))
	} else if st.Mode&0o077 != 0 {
		out = append(out, fail("daemon socket", fmt.Sprintf("%s has mode %o; want 0600", d.Socket, st.Mode&0o777), "chmod 600 "+d.Socket))
	} else {
		out = append(out, pass("daemon socket", d.Socket+" is private (0600)"))
	}
	return out
}

func freeSpace(dir string) Check {
	var fs unix.Statfs_t
	if err := unix.Statfs(dir, &fs); err != nil {
		return warn("disk space", fmt.Sprintf("cannot check free space in %s: %v", dir, err), "start bangerd, which creates "+dir)
	}
	free := int64(fs.Bavail) * fs.Bsize
	detail := fmt.Sprintf("%.1f GiB free in %s", float64(free)/(1<<30), dir)
	if free < 2<<30 {
		return warn("disk space", detail, "free space there: each VM copies its root disk and has a work disk")
	}
	return pass("disk space", detail)
}
