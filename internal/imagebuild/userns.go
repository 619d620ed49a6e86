package imagebuild

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"

	"banger/internal/errdefs"
)

// An unshare build runs mmdebstrap (in its root mode, which supports
// running as root of a user namespace), mkfs.ext4 and the removal of the
// tree inside a user namespace that util-linux unshare sets up with
// newuidmap/newgidmap: the calling user is root inside, ids 1-65535 are
// its subordinate ids. Files root owns in the image are therefore the
// user's own files on the host, which is why configure can edit the
// tree from outside the namespace, and mkfs.ext4 -d run inside records
// the in-namespace owners, as a root build does. The mount and pid
// namespaces keep what mmdebstrap mounts (/proc, /sys, /dev nodes) private
// and make everything die with the namespace.

// nsArgs is the command line prefix that runs a command in the namespace.
func (m idMap) nsArgs(unshare string) []string {
	return []string{unshare,
		fmt.Sprintf("--map-users=%d,1,%d", m.SubUID, nsIDs),
		fmt.Sprintf("--map-groups=%d,1,%d", m.SubGID, nsIDs),
		"--map-root-user", "--mount", "--pid", "--fork", "--kill-child", "--"}
}

// checkUnshare checks that unshare can map ranges of ids (--map-users,
// util-linux 2.38 and later).
func checkUnshare(bin string) error {
	out, _ := exec.Command(bin, "--help").CombinedOutput()
	return unshareHelpOK(bin, string(out))
}

func unshareHelpOK(bin, help string) error {
	if !strings.Contains(help, "--map-users") || !strings.Contains(help, "--map-groups") {
		return errdefs.FailedPreconditionf("%s cannot map ranges of ids (no --map-users; util-linux 2.38 or newer has it): upgrade util-linux, or run bangerd as root", bin)
	}
	return nil
}

// runner runs a tool for a build: directly in root mode, inside the user
// namespace in unshare mode.
type runner struct {
	ns []string // nsArgs, or nil
}

func (r runner) run(ctx context.Context, line func(string), bin string, args ...string) error {
	if len(r.ns) == 0 {
		return runTool(ctx, line, bin, args...)
	}
	all := append(append(append([]string{}, r.ns[1:]...), bin), args...)
	// Cancelling kills the namespace outright: the tool is the init of
	// its pid namespace, which drops a SIGTERM it has no handler for,
	// and there is nothing to clean up that the namespace does not take
	// with it (its mounts end with its mount namespace; purge removes
	// the tree).
	return runToolSignal(ctx, syscall.SIGKILL, line, r.ns[0], all...)
}

// purge deletes dir from inside the namespace, where root may remove the
// files of the image's other users; outside, the user cannot. Root mode
// needs nothing here.
func (r runner) purge(dir string) error {
	if len(r.ns) == 0 {
		return nil
	}
	if _, err := os.Lstat(dir); err != nil {
		return nil
	}
	return r.run(context.Background(), nil, "rm", "-rf", "--one-file-system", "--", dir)
}

// devFile is a /dev entry mmdebstrap makes in a root build, where it can
// mknod; in a user namespace it can not and leaves /dev empty.
type devFile struct {
	name         string
	mode         os.FileMode // permission bits
	kind         byte        // 'c' char device, 'd' directory, 'l' symlink
	target       string
	major, minor int
}

// devFiles is mmdebstrap's own list (@devfiles in /usr/bin/mmdebstrap),
// all owned by root.
var devFiles = []devFile{
	{name: "console", mode: 0o666, kind: 'c', major: 5, minor: 1},
	{name: "fd", mode: 0o777, kind: 'l', target: "/proc/self/fd"},
	{name: "full", mode: 0o666, kind: 'c', major: 1, minor: 7},
	{name: "null", mode: 0o666, kind: 'c', major: 1, minor: 3},
	{name: "ptmx", mode: 0o666, kind: 'c', major: 5, minor: 2},
	{name: "pts", mode: 0o755, kind: 'd'},
	{name: "random", mode: 0o666, kind: 'c', major: 1, minor: 8},
	{name: "shm", mode: 0o755, kind: 'd'},
	{name: "stderr", mode: 0o777, kind: 'l', target: "/proc/self/fd/2"},
	{name: "stdin", mode: 0o777, kind: 'l', target: "/proc/self/fd/0"},
	{name: "stdout", mode: 0o777, kind: 'l', target: "/proc/self/fd/1"},
	{name: "tty", mode: 0o666, kind: 'c', major: 5, minor: 0},
	{name: "urandom", mode: 0o666, kind: 'c', major: 1, minor: 9},
	{name: "zero", mode: 0o666, kind: 'c', major: 1, minor: 5},
}

// addDevDirs makes the directories and symlinks of devFiles in the tree's
// /dev, which an unshare bootstrap leaves empty.
func addDevDirs(dir string) error {
	root, err := os.OpenRoot(filepath.Join(dir, "dev"))
	if err != nil {
		return fmt.Errorf("open the tree's /dev: %w", err)
	}
	defer root.Close()
	for _, f := range devFiles {
		if _, err := root.Lstat(f.name); err == nil {
			continue
		}
		switch f.kind {
		case 'd':
			if err := root.Mkdir(f.name, f.mode); err != nil {
				return err
			}
			if err := root.Chmod(f.name, f.mode); err != nil {
				return err
			}
		case 'l':
			if err := root.Symlink(f.target, f.name); err != nil {
				return err
			}
		}
	}
	return nil
}

// devNodesScript is the debugfs script that adds the device nodes of
// devFiles to an image's /dev with their modes (debugfs makes them owned
// by root, mode 0): mke2fs -d copies a tree, and a user namespace cannot
// make device nodes in one. debugfs's mknod takes a name in the current
// directory, not a path.
func devNodesScript() string {
	var b strings.Builder
	b.WriteString("cd /dev\n")
	for _, f := range devFiles {
		if f.kind != 'c' {
			continue
		}
		fmt.Fprintf(&b, "mknod %s c %d %d\n", f.name, f.major, f.minor)
		fmt.Fprintf(&b, "set_inode_field %s mode 020%03o\n", f.name, f.mode)
	}
	return b.String()
}

// addDevNodes writes the device nodes into image with debugfs and checks
// they are there: debugfs exits 0 whatever its commands do.
func addDevNodes(ctx context.Context, debugfs, image string, line func(string)) error {
	script, err := os.CreateTemp(filepath.Dir(image), "devnodes-")
	if err != nil {
		return err
	}
	defer os.Remove(script.Name())
	_, err = script.WriteString(devNodesScript())
	if cerr := script.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("write the debugfs script: %w", err)
	}
	if err := runTool(ctx, line, debugfs, "-w", "-f", script.Name(), image); err != nil {
		return err
	}
	var listing []string
	if err := runTool(ctx, func(s string) { listing = append(listing, s) }, debugfs, "-R", "ls -l /dev", image); err != nil {
		return err
	}
	return checkDevNodes(listing)
}

// checkDevNodes checks a debugfs "ls -l /dev" listing for every device
// node of devFiles, root-owned with its mode.
func checkDevNodes(listing []string) error {
	have := map[string]string{}
	for _, l := range listing {
		f := strings.Fields(l)
		if len(f) >= 6 {
			have[f[len(f)-1]] = f[1] + " " + f[3] + ":" + f[4]
		}
	}
	for _, f := range devFiles {
		if f.kind != 'c' {
			continue
		}
		want := fmt.Sprintf("20%03o 0:0", f.mode)
		if got := have[f.name]; got != want {
			return fmt.Errorf("debugfs did not make /dev/%s (mode and owner %q, want %q)", f.name, got, want)
		}
	}
	return nil
}
