package initramfs

import (
	"fmt"
	"io"
	"slices"

	"banger/internal/initramfs/initlayout"
)

// Paths inside the initramfs (package initlayout, which banger-init
// shares). banger-init reads ModuleList to know what to load and what each
// module needs loaded before it.
const (
	InitPath   = initlayout.InitPath
	ModuleDir  = initlayout.ModuleDir
	ModuleList = initlayout.ModuleList
)

// Module is a kernel module to put in the initramfs.
type Module struct {
	Info Modinfo
	Data []byte // the .ko file
}

// Spec is the content of an initramfs.
type Spec struct {
	Release string // kernel release every module must be built for
	Init    []byte // the banger-init executable
	// Modules in load order (each after its dependencies), as Resolve
	// orders them.
	Modules []Module
}

// Format names the layout Write produces, for caches of its output: an
// uncompressed archive whose module list names each module's
// dependencies, and the orderings of LoadAfter.
const Format = "newc-4"

// LoadAfter orders modules that do not depend on each other but must not
// load at the same time. virtio_blk waits for the virtio-mmio transport to
// have registered every device: loaded while virtio_mmio is still adding
// them, it can bind the second disk before the first, and the disks are
// named in the order they bind, so the root disk (the VMM's first) would
// be /dev/vdb and root=/dev/vda the wrong disk. Loaded after, it binds
// them in device order, as the built kernel does.
//
// The other device drivers wait for virtio_blk: the root disk is what the
// boot waits on, and loading a module is mostly CPU work (its signature,
// relocations, type information), so drivers loading beside virtio_blk on
// a VM's one or two vCPUs only made the root disk appear later. They load
// while the root filesystem mounts; the libraries they need (failover,
// vsock) still load beside the transport, on a vCPU it leaves idle.
var LoadAfter = map[string][]string{
	"virtio_blk":                 {"virtio_mmio"},
	"virtio_net":                 {"virtio_blk"},
	"virtio_console":             {"virtio_blk"},
	"virtio_rng":                 {"virtio_blk"},
	"vmw_vsock_virtio_transport": {"virtio_blk"},
}

// Write writes the newc cpio archive of s to w, uncompressed: the kernel
// unpacks the initramfs while it boots, and under software emulation
// inflating a gzip-compressed one cost more than the megabyte and a half
// it saves is worth. A module
// built for another release than s.Release is refused before anything is
// written.
func Write(w io.Writer, s Spec) error {
	if len(s.Init) == 0 {
		return fmt.Errorf("initramfs: no init program")
	}
	list := make([]initlayout.ListEntry, 0, len(s.Modules))
	inSpec := map[string]bool{}
	for _, m := range s.Modules {
		inSpec[m.Info.Name] = true
	}
	inList := map[string]bool{}
	for _, m := range s.Modules {
		if err := CheckVermagic(m.Info, s.Release); err != nil {
			return err
		}
		// banger-init loads a module once the modules it depends on are
		// loaded; one built into the kernel (not in the spec) needs no
		// waiting for.
		var deps []string
		for _, d := range m.Info.Depends {
			switch {
			case inList[d]:
				deps = append(deps, d)
			case inSpec[d]:
				return fmt.Errorf("initramfs: module %s comes before %s, which it depends on: order the modules with Resolve", m.Info.Name, d)
			}
		}
		for _, d := range LoadAfter[m.Info.Name] {
			if inList[d] && !slices.Contains(deps, d) {
				deps = append(deps, d)
			}
		}
		slices.Sort(deps)
		list = append(list, initlayout.ListEntry{File: m.Info.Name + ".ko", Depends: deps})
		inList[m.Info.Name] = true
	}
	c := NewCPIOWriter(w)
	for _, d := range []string{"dev", "proc", "sys", "root", "etc", "etc/banger-init", "lib", ModuleDir} {
		if err := c.Dir(d, 0o755); err != nil {
			return err
		}
	}
	// The kernel opens /dev/console for init's standard streams before
	// init runs (and so before banger-init mounts devtmpfs there).
	if err := c.CharDev("dev/console", 0o600, 5, 1); err != nil {
		return err
	}
	if err := c.File(InitPath, 0o755, s.Init); err != nil {
		return err
	}
	if err := c.File(ModuleList, 0o644, []byte(initlayout.FormatList(list))); err != nil {
		return err
	}
	for _, m := range s.Modules {
		if err := c.File(ModuleDir+"/"+m.Info.Name+".ko", 0o644, m.Data); err != nil {
			return err
		}
	}
	return c.Close()
}

// ErrorMarker starts the one console line banger-init prints when it
// cannot hand over to the root filesystem (initlayout.ErrorMarker).
const ErrorMarker = initlayout.ErrorMarker
