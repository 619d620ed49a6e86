package imagebuild

import (
	"context"
	"debug/elf"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"banger/internal/disk"
	"banger/internal/errdefs"
)

// Progress is one report from a build: the step it is in (1-based Index
// of Total) and optionally a line of tool output or a note (Detail) and
// how far the step has got (Fraction, 0..1).
//
// When TotalUnits is non-zero, Current of TotalUnits counts the step's
// work in Unit: the bootstrap counts "packages" unpacked and set up.
type Progress struct {
	Step       string
	Index      int
	Total      int
	Detail     string
	Fraction   float64
	Current    int64
	TotalUnits int64
	Unit       string
}

// Result is a built image.
type Result struct {
	RootFS string // WorkDir/<SHA256>/rootfs.ext4
	SHA256 string
	Size   int64
	// IdentityDisk: the image installs each VM's identity from its
	// identity disk at boot (the banger-identity unit); every image this
	// package builds does.
	IdentityDisk bool
}

// MinBuildRoom is less than any image build needs: the bootstrapped tree
// of the smallest image banger builds (systemd, openssh-server, git and
// the guest agent: about 400 MiB) plus the ext4 image made from it. A
// build is refused before it starts when the work directory's filesystem
// has less; the exact need of the image file is checked again once the
// tree is measured.
const MinBuildRoom = 512 << 20

// Steps of a build, in order.
var Steps = []string{"check-tools", "bootstrap", "configure", "mkfs", "finish"}

// Build makes the default image from Debian packages and stores it in
// WorkDir/<sha256>/rootfs.ext4. progress (which may be nil) hears every
// step and every line of tool output. It needs network access to the
// mirror, mmdebstrap (or, as root, debootstrap) and e2fsprogs, and either
// root or, for an ordinary user, a user namespace with subordinate ids
// (ModeUnshare: newuidmap and newgidmap, a range of 65535 ids in
// /etc/subuid and /etc/subgid); the image's owners and modes are the same
// either way. What is missing is a FailedPrecondition error naming the
// fix. On failure or cancellation everything it made is removed.
func Build(ctx context.Context, o Options, progress func(Progress)) (Result, error) {
	return build(ctx, o, findTool, progress)
}

func build(ctx context.Context, o Options, find func(string) (string, error), progress func(Progress)) (res Result, err error) {
	return buildAs(ctx, o, find, readHostFacts(find), progress)
}

func buildAs(ctx context.Context, o Options, find func(string) (string, error), host hostFacts, progress func(Progress)) (res Result, err error) {
	o = o.withDefaults()
	if err := o.Validate(); err != nil {
		return Result{}, err
	}
	if progress == nil {
		progress = func(Progress) {}
	}
	step := 0
	begin := func(i int) {
		step = i
		progress(Progress{Step: Steps[i], Index: i + 1, Total: len(Steps)})
	}
	report := func(detail string, fraction float64) {
		progress(Progress{Step: Steps[step], Index: step + 1, Total: len(Steps), Detail: detail, Fraction: fraction})
	}
	line := func(s string) { report(s, 0) }

	begin(0)
	mode, ids, _, err := chooseMode(host)
	if err != nil {
		return Result{}, err
	}
	t, agent, err := preflight(o, find, mode)
	if err != nil {
		return Result{}, err
	}
	var r runner
	if mode == ModeUnshare {
		r.ns = ids.nsArgs(t.unshare)
		report("without root: in a user namespace with subordinate ids", 0)
	}
	if err := disk.CheckRoom(o.WorkDir, MinBuildRoom, "building an image"); err != nil {
		return Result{}, err
	}
	area, err := newBuildArea(o.WorkDir, r.purge)
	if err != nil {
		return Result{}, err
	}
	defer func() {
		if rerr := area.remove(); rerr != nil && err == nil {
			err = fmt.Errorf("clean up the build: %w", rerr)
		}
	}()
	treeDir := filepath.Join(area.dir, "tree")
	image := filepath.Join(area.dir, RootFSName)

	begin(1)
	if err := bootstrap(ctx, r, t.bootstrap, o, treeDir, func(p Progress) {
		p.Step, p.Index, p.Total = Steps[step], step+1, len(Steps)
		progress(p)
	}); err != nil {
		return Result{}, fmt.Errorf("bootstrap %s from %s: %w", o.Suite, o.Mirror, disk.RoomError(err, area.dir))
	}
	begin(2)
	if err := ctx.Err(); err != nil {
		return Result{}, err
	}
	if err := configure(treeDir, agent); err != nil {
		return Result{}, fmt.Errorf("configure the image: %w", err)
	}
	if mode == ModeUnshare {
		if err := addDevDirs(treeDir); err != nil {
			return Result{}, fmt.Errorf("configure the image: %w", err)
		}
	}
	begin(3)
	used, err := treeUsage(treeDir)
	if err != nil {
		return Result{}, fmt.Errorf("measure the image tree: %w", err)
	}
	size := imageSize(used)
	report(fmt.Sprintf("files use %d MiB; image is %d MiB", used>>20, size>>20), 0)
	// mkfs.ext4 -d writes the files' blocks again, next to the tree.
	if err := disk.CheckRoom(area.dir, used, fmt.Sprintf("making the ext4 image of %d MiB of files", used>>20)); err != nil {
		return Result{}, err
	}
	if err := mkfs(ctx, r, t, treeDir, image, size, line); err != nil {
		return Result{}, fmt.Errorf("make the ext4 image: %w", disk.RoomError(err, area.dir))
	}
	if mode == ModeUnshare {
		if err := addDevNodes(ctx, t.debugfs, image, line); err != nil {
			return Result{}, fmt.Errorf("add device nodes to the image: %w", err)
		}
	}
	begin(4)
	sum, n, err := fileSHA256(image)
	if err != nil {
		return Result{}, err
	}
	if err := ctx.Err(); err != nil {
		return Result{}, err
	}
	rootfs, err := install(image, area.dir, o.WorkDir, sum)
	if err != nil {
		return Result{}, err
	}
	return Result{RootFS: rootfs, SHA256: sum, Size: n, IdentityDisk: true}, nil
}

// preflight checks the tools and the agent binary before anything slow
// starts, and returns the tools and the agent's bytes.
func preflight(o Options, find func(string) (string, error), mode Mode) (tools, []byte, error) {
	t, err := checkTools(find, mode)
	if err != nil {
		return tools{}, nil, err
	}
	if mode == ModeUnshare {
		if err := checkUnshare(t.unshare); err != nil {
			return tools{}, nil, err
		}
	}
	agent, err := readAgent(o.AgentBinary)
	if err != nil {
		return tools{}, nil, err
	}
	return t, agent, nil
}

// readAgent reads the agent binary and checks that it is a static x86_64
// ELF executable, which runs in any image.
func readAgent(p string) ([]byte, error) {
	data, err := os.ReadFile(p)
	if errors.Is(err, os.ErrNotExist) {
		return nil, errdefs.FailedPreconditionf("agent binary %s does not exist: build it with \"make build\" or set BANGER_AGENT_BIN", p)
	}
	if err != nil {
		return nil, fmt.Errorf("read agent binary: %w", err)
	}
	f, err := elf.Open(p)
	if err != nil {
		return nil, errdefs.FailedPreconditionf("agent binary %s is not an ELF executable: build it with \"make build\"", p)
	}
	defer f.Close()
	if f.Machine != elf.EM_X86_64 || (f.Type != elf.ET_EXEC && f.Type != elf.ET_DYN) {
		return nil, errdefs.FailedPreconditionf("agent binary %s is not an x86_64 executable: build it for linux/amd64", p)
	}
	for _, prog := range f.Progs {
		if prog.Type == elf.PT_INTERP {
			return nil, errdefs.FailedPreconditionf("agent binary %s is dynamically linked: build it with CGO_ENABLED=0", p)
		}
	}
	return data, nil
}
