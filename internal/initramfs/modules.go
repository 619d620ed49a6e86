package initramfs

import (
	"bytes"
	"debug/elf"
	"errors"
	"fmt"
	"slices"
	"strings"

	"banger/internal/errdefs"
)

// Needed are the modules every banger VM needs on a kernel that has them as
// modules: virtio-mmio transport (ACPI or command-line devices), the block
// device of the root and work disks, the network, the console port the
// qemu driver's agent channel uses, the entropy source, and vsock with the
// virtio transport Firecracker's agent channel uses.
var Needed = []string{
	"virtio_mmio",
	"virtio_blk",
	"virtio_net",
	"virtio_console",
	"virtio_rng",
	"vsock",
	"vmw_vsock_virtio_transport",
}

// Modinfo is what a module's .modinfo section says about it.
type Modinfo struct {
	Name     string   // "virtio_blk"
	Depends  []string // modules that must be loaded first
	Vermagic string   // "6.1.0-57-cloud-amd64 SMP preempt mod_unload modversions "
}

// Release is the kernel release the module was built for: the first word
// of its vermagic.
func (m Modinfo) Release() string {
	f := strings.Fields(m.Vermagic)
	if len(f) == 0 {
		return ""
	}
	return f[0]
}

// ParseModinfo reads the .modinfo section of a module (an ELF relocatable
// object): NUL-separated key=value strings.
func ParseModinfo(data []byte) (Modinfo, error) {
	ef, err := elf.NewFile(bytes.NewReader(data))
	if err != nil {
		return Modinfo{}, fmt.Errorf("not an ELF module: %w", err)
	}
	sec := ef.Section(".modinfo")
	if sec == nil {
		return Modinfo{}, errors.New("no .modinfo section: not a kernel module")
	}
	raw, err := sec.Data()
	if err != nil {
		return Modinfo{}, fmt.Errorf("read .modinfo: %w", err)
	}
	var m Modinfo
	for _, kv := range bytes.Split(raw, []byte{0}) {
		k, v, ok := strings.Cut(string(kv), "=")
		if !ok {
			continue
		}
		switch k {
		case "name":
			m.Name = v
		case "vermagic":
			m.Vermagic = v
		case "depends":
			for _, d := range strings.Split(v, ",") {
				if d = strings.TrimSpace(d); d != "" {
					m.Depends = append(m.Depends, ModuleName(d))
				}
			}
		}
	}
	if m.Name == "" {
		return Modinfo{}, errors.New(".modinfo has no name= entry")
	}
	m.Name = ModuleName(m.Name)
	if !validName(m.Name) {
		return Modinfo{}, fmt.Errorf("module name %q: only a-z, 0-9 and _ are allowed", m.Name)
	}
	for _, d := range m.Depends {
		if !validName(d) {
			return Modinfo{}, fmt.Errorf("module %s depends on %q: only a-z, 0-9 and _ are allowed", m.Name, d)
		}
	}
	return m, nil
}

// validName reports whether s is a module name banger accepts: it becomes
// a file name in the initramfs.
func validName(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_') {
			return false
		}
	}
	return true
}

// ModuleName normalises a module name as the kernel does: "virtio-rng"
// and "virtio_rng" are the same module.
func ModuleName(s string) string { return strings.ReplaceAll(s, "-", "_") }

// CheckVermagic fails when m was built for another kernel release than
// release: the kernel would refuse to load it and the guest would never
// find its disks.
func CheckVermagic(m Modinfo, release string) error {
	if got := m.Release(); got != release {
		return errdefs.FailedPreconditionf("module %s was built for kernel %q, not %q (vermagic %q): the modules and the kernel come from different packages; fetch the kernel again", m.Name, got, release, strings.TrimSpace(m.Vermagic))
	}
	return nil
}

// Resolve returns want and every module they depend on, each after its
// dependencies, from the modules known in mods (by name). builtin names
// modules compiled into the kernel: they need no loading and satisfy a
// dependency. A module that is neither is a FailedPrecondition naming what
// needed it; a dependency cycle is an error too.
func Resolve(want []string, mods map[string]Modinfo, builtin map[string]bool) ([]string, error) {
	const (
		visiting = 1
		done     = 2
	)
	state := map[string]int{}
	var order []string
	var visit func(name, neededBy string) error
	visit = func(name, neededBy string) error {
		name = ModuleName(name)
		switch state[name] {
		case done:
			return nil
		case visiting:
			return errdefs.FailedPreconditionf("modules depend on each other in a cycle through %s", name)
		}
		m, ok := mods[name]
		if !ok {
			if builtin[name] {
				state[name] = done
				return nil
			}
			if neededBy == "" {
				return errdefs.FailedPreconditionf("module %s is not in the kernel package (neither a module nor built in): banger's VMs need it; use a kernel built with it, or \"banger kernel build\"", name)
			}
			return errdefs.FailedPreconditionf("module %s, which %s depends on, is not in the kernel package", name, neededBy)
		}
		state[name] = visiting
		deps := slices.Clone(m.Depends)
		slices.Sort(deps)
		for _, d := range deps {
			if err := visit(d, name); err != nil {
				return err
			}
		}
		state[name] = done
		order = append(order, name)
		return nil
	}
	for _, w := range want {
		if err := visit(w, ""); err != nil {
			return nil, err
		}
	}
	return order, nil
}

// ParseBuiltin reads modules.builtin (one path per line,
// "kernel/drivers/virtio/virtio.ko") into a set of module names.
func ParseBuiltin(data []byte) map[string]bool {
	set := map[string]bool{}
	for _, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		base := line[strings.LastIndex(line, "/")+1:]
		base = strings.TrimSuffix(base, ".ko")
		set[ModuleName(base)] = true
	}
	return set
}
