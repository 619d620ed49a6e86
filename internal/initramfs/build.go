package initramfs

import (
	"compress/gzip"
	"fmt"
	"io"
	"strings"
)

// Paths inside the initramfs. banger-init reads ModuleList to know what to
// load, in order.
const (
	InitPath   = "init"
	ModuleDir  = "lib/modules"
	ModuleList = "etc/banger-init/modules"
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

// Write writes the gzip-compressed newc cpio archive of s to w. A module
// built for another release than s.Release is refused before anything is
// written.
func Write(w io.Writer, s Spec) error {
	if len(s.Init) == 0 {
		return fmt.Errorf("initramfs: no init program")
	}
	var list strings.Builder
	for _, m := range s.Modules {
		if err := CheckVermagic(m.Info, s.Release); err != nil {
			return err
		}
		list.WriteString(m.Info.Name + ".ko\n")
	}
	zw, err := gzip.NewWriterLevel(w, gzip.BestSpeed)
	if err != nil {
		return err
	}
	c := NewCPIOWriter(zw)
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
	if err := c.File(ModuleList, 0o644, []byte(list.String())); err != nil {
		return err
	}
	for _, m := range s.Modules {
		if err := c.File(ModuleDir+"/"+m.Info.Name+".ko", 0o644, m.Data); err != nil {
			return err
		}
	}
	if err := c.Close(); err != nil {
		return err
	}
	if err := zw.Close(); err != nil {
		return fmt.Errorf("initramfs: compress: %w", err)
	}
	return nil
}

// ErrorMarker starts the one console line banger-init prints when it
// cannot hand over to the root filesystem, just before it ends the VM.
// The host looks for it in the console log to fail a start at once with
// that line instead of waiting for an agent that never comes.
const ErrorMarker = "banger-init: error: "
