// Package initlayout is what banger-init and the initramfs builder
// (package banger/internal/initramfs) agree on: where things are inside
// the initramfs, the format of the module list and the console line that
// reports a failure. It is a leaf that imports nothing but the standard
// library's strings, so that banger-init, which runs as /init under every
// boot of a distribution kernel, stays small and starts fast: linking the
// builder (debug/elf, compress/gzip, errdefs and through it net/http)
// made it twice the size and cost about 0.1 s of each boot under
// software emulation. It must not grow dependencies.
package initlayout

import "strings"

// Paths inside the initramfs.
const (
	InitPath   = "init"
	ModuleDir  = "lib/modules"
	ModuleList = "etc/banger-init/modules"
)

// ErrorMarker starts the one console line banger-init prints when it
// cannot hand over to the root filesystem, just before it ends the VM.
// The host looks for it in the console log to fail a start at once with
// that line instead of waiting for an agent that never comes.
const ErrorMarker = "banger-init: error: "

// ListEntry is one line of the module list: a module's file in ModuleDir
// and the names of the modules of the list it needs loaded first.
type ListEntry struct {
	File    string   // "virtio_blk.ko"
	Depends []string // module names: "virtio_ring", "virtio"
}

// FormatList writes the module list: one module a line, its file first,
// then the modules it depends on, in load order (each after its
// dependencies).
func FormatList(entries []ListEntry) string {
	var b strings.Builder
	for _, e := range entries {
		b.WriteString(e.File)
		for _, d := range e.Depends {
			b.WriteString(" " + d)
		}
		b.WriteString("\n")
	}
	return b.String()
}

// ParseList reads a module list FormatList wrote. Blank lines are
// skipped.
func ParseList(s string) []ListEntry {
	var out []ListEntry
	for _, line := range strings.Split(s, "\n") {
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		out = append(out, ListEntry{File: f[0], Depends: f[1:]})
	}
	return out
}
