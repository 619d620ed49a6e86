package kernels

import (
	"time"

	"banger/internal/kernelbuild"
)

// Source says where a kernel came from.
type Source string

// Kernel sources.
const (
	SourceBuilt    Source = "built"    // compiled by Build
	SourceImported Source = "imported" // copied in by Import
	SourceDistro   Source = "distro"   // taken from a distribution package by Fetch
)

// How a kernel finds virtio-mmio devices.
const (
	DiscoveryCmdline = kernelbuild.DiscoveryCmdline // virtio_mmio.device= on the command line
	DiscoveryACPI    = kernelbuild.DiscoveryACPI    // the ACPI tables the VMM describes them in
)

// Kernel is a guest kernel in the kernel store.
type Kernel struct {
	ID        string
	Name      string
	Vmlinux   string
	BzImage   string // empty when none was kept
	Initrd    string // empty when the kernel needs none
	Version   string
	Source    Source
	SHA256    string // of the vmlinux
	Size      int64  // of the vmlinux, in bytes
	CreatedAt time.Time
	// Origin says where the kernel came from, for people.
	Origin string
	// Discovery is DiscoveryCmdline or DiscoveryACPI.
	Discovery string
}

// FetchRequest asks for the kernel of a distribution package: see
// Service.Fetch. Empty fields take defaults: name DefaultName, package
// kernelbuild.DefaultDistroPackage.
type FetchRequest struct {
	Name    string
	Package string
}

// ImportRequest names a vmlinux or a bzImage, and an optional initrd, to
// copy into the kernel store: see Service.Import. Paths are absolute; an
// empty name is derived from the file name.
type ImportRequest struct {
	Name   string
	Path   string
	Initrd string
}

// BuildRequest asks for the banger kernel compiled from a linux-source
// tarball: see Service.Build. Empty fields take defaults: name DefaultName,
// the newest installed linux-source, one job per CPU.
type BuildRequest struct {
	Name   string
	Source string
	Jobs   int
}

// Progress is one report of a kernel build: the step it is at, and, when
// Fraction is non-zero, how far that step has got (0 to 1).
type Progress struct {
	Time   time.Time
	OpID   string
	Kind   string // OpBuild
	Target string // the kernel's name
	Step   string
	Index  int // 1-based step number
	Total  int // steps of the build
	// Detail is a line of output or a note about the step.
	Detail   string
	Fraction float64
	// Current of TotalUnits, when TotalUnits is non-zero, counts the
	// step's work in Unit (e.g. "objects" compiled).
	Current    int64
	TotalUnits int64
	Unit       string
}
