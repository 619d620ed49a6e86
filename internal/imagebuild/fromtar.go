package imagebuild

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"

	"banger/internal/errdefs"
	"banger/internal/tarstream"
)

// TarOptions says which flattened root filesystem tar FromTar makes
// bootable, and where the ext4 image goes.
type TarOptions struct {
	Tar         string // the flattened tree: one entry per path, parents first
	AgentBinary string // static banger-agent binary to inject
	Dest        string // the ext4 file to write; its directory must exist
}

// Init kinds of an image made by FromTar.
const (
	InitSystemd = "systemd" // the image's systemd, with the agent as a unit
	InitAgent   = "agent"   // no init in the image: the agent is PID 1
)

// TarResult is what FromTar made.
type TarResult struct {
	Size int64
	Init string // InitSystemd or InitAgent
}

// TarSteps are FromTar's steps, in order.
var TarSteps = []string{"check", "extract", "inject the agent", "mkfs"}

// FromTar turns a flattened OCI root filesystem tar into a bootable ext4
// image at o.Dest without mounting anything: it checks every entry of the
// tar again, extracts it with tar as root (real root, or root of a user
// namespace with subordinate ids when the process is not root, as Build
// does), injects the agent (as a systemd unit when the image has
// systemd, as /sbin/init otherwise) and packs the tree with mkfs.ext4 -d,
// which records the owners the files have as root sees them. Dest is
// written whole or not at all.
func FromTar(ctx context.Context, o TarOptions, progress func(Progress)) (TarResult, error) {
	return fromTar(ctx, o, findTool, readHostFacts(findTool), progress)
}

func fromTar(ctx context.Context, o TarOptions, find func(string) (string, error), host hostFacts, progress func(Progress)) (res TarResult, err error) {
	if progress == nil {
		progress = func(Progress) {}
	}
	step := 0
	begin := func(i int) {
		step = i
		progress(Progress{Step: TarSteps[i], Index: i + 1, Total: len(TarSteps)})
	}
	line := func(s string) {
		progress(Progress{Step: TarSteps[step], Index: step + 1, Total: len(TarSteps), Detail: s})
	}
	begin(0)
	if o.Tar == "" || o.Dest == "" || o.AgentBinary == "" {
		return TarResult{}, errdefs.InvalidArgumentf("make a bootable image: the tar, the agent binary and the destination are required")
	}
	mode, ids, _, err := chooseMode(host)
	if err != nil {
		return TarResult{}, err
	}
	t, err := checkTarTools(find, mode)
	if err != nil {
		return TarResult{}, err
	}
	if mode == ModeUnshare {
		if err := checkUnshare(t.unshare); err != nil {
			return TarResult{}, err
		}
	}
	agent, err := readAgent(o.AgentBinary)
	if err != nil {
		return TarResult{}, err
	}
	if err := checkRootfsTarFile(o.Tar); err != nil {
		return TarResult{}, err
	}
	var r runner
	if mode == ModeUnshare {
		r.ns = ids.nsArgs(t.unshare)
		line("without root: in a user namespace with subordinate ids")
	}
	area, err := newBuildArea(filepath.Dir(o.Dest), r.purge)
	if err != nil {
		return TarResult{}, err
	}
	defer func() {
		if rerr := area.remove(); rerr != nil && err == nil {
			err = fmt.Errorf("clean up the build: %w", rerr)
		}
	}()
	treeDir := filepath.Join(area.dir, "tree")
	image := filepath.Join(area.dir, RootFSName)
	if err := os.Mkdir(treeDir, 0o755); err != nil {
		return TarResult{}, fmt.Errorf("create the image tree: %w", err)
	}

	begin(1)
	if err := r.run(ctx, line, t.tar, tarExtractArgs(o.Tar, treeDir)...); err != nil {
		return TarResult{}, fmt.Errorf("extract %s: %w", o.Tar, err)
	}
	begin(2)
	init, err := injectAgent(treeDir, agent)
	if err != nil {
		return TarResult{}, fmt.Errorf("inject the agent: %w", err)
	}
	line("boots with " + init)
	begin(3)
	used, err := treeUsage(treeDir)
	if err != nil {
		return TarResult{}, fmt.Errorf("measure the image tree: %w", err)
	}
	size := imageSize(used)
	line(fmt.Sprintf("files use %d MiB; image is %d MiB", used>>20, size>>20))
	if err := mkfs(ctx, r, t, treeDir, image, size, line); err != nil {
		return TarResult{}, fmt.Errorf("make the ext4 image: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return TarResult{}, err
	}
	if err := syncPath(image); err != nil {
		return TarResult{}, err
	}
	if err := os.Rename(image, o.Dest); err != nil {
		return TarResult{}, fmt.Errorf("move the image into place: %w", err)
	}
	if err := syncPath(filepath.Dir(o.Dest)); err != nil {
		return TarResult{}, err
	}
	return TarResult{Size: size, Init: init}, nil
}

// tarExtractArgs is GNU tar's command line that extracts file into dir
// with the owners (by number, never by the host's names), modes, set-id
// bits and extended attributes the entries carry.
func tarExtractArgs(file, dir string) []string {
	return []string{"--extract", "--file", file, "--directory", dir,
		"--numeric-owner", "--same-owner", "--same-permissions",
		"--xattrs", "--xattrs-include=*", "--no-overwrite-dir"}
}

// checkTarTools finds tar, mkfs.ext4 and tune2fs, and unshare in unshare
// mode.
func checkTarTools(find func(string) (string, error), mode Mode) (tools, error) {
	var t tools
	need := []struct {
		name string
		dst  *string
	}{{"tar", &t.tar}, {"mkfs.ext4", &t.mkfs}, {"tune2fs", &t.tune2fs}}
	if mode == ModeUnshare {
		need = append(need, struct {
			name string
			dst  *string
		}{"unshare", &t.unshare})
	}
	var missing []string
	for _, tool := range need {
		p, err := find(tool.name)
		if err != nil {
			missing = append(missing, tool.name)
			continue
		}
		*tool.dst = p
	}
	if len(missing) > 0 {
		return tools{}, errdefs.FailedPreconditionf("making a pulled image bootable needs %s: install them with \"apt-get install tar e2fsprogs uidmap\"",
			strings.Join(missing, " and "))
	}
	return t, nil
}

func checkRootfsTarFile(p string) error {
	f, err := os.Open(p)
	if err != nil {
		return fmt.Errorf("open the flattened image: %w", err)
	}
	defer f.Close()
	return checkRootfsTar(f)
}

// checkRootfsTar reads a flattened root filesystem tar to its end and
// refuses it unless tar can extract it without writing outside its
// target: every name relative and free of "..", each path once, no entry
// under a symlink or a non-directory, hard links only to a regular file
// or fifo seen before, and only directories, regular files, symlinks,
// hard links and fifos. The flattener promises all that; this checks it
// again right before the tree is extracted as root.
func checkRootfsTar(r io.Reader) error {
	seen := map[string]byte{} // cleaned name → tar type flag
	tr := tar.NewReader(r)
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return errdefs.InvalidArgumentf("read the flattened image: %w", err)
		}
		refuse := func(why string) error {
			return errdefs.InvalidArgumentf("flattened image: tar entry %q %s: refused", hdr.Name, why)
		}
		if strings.HasPrefix(hdr.Name, "/") {
			return refuse("is absolute")
		}
		name, err := tarstream.EntryName(hdr.Name)
		if err != nil {
			return err
		}
		name = filepath.ToSlash(name)
		typ := hdr.Typeflag
		switch typ {
		case tar.TypeDir, tar.TypeReg, tar.TypeSymlink, tar.TypeLink, tar.TypeFifo:
		default:
			return refuse(fmt.Sprintf("has type %q, which a root filesystem image does not take", typ))
		}
		if name == "." {
			if typ != tar.TypeDir {
				return refuse("is the root but not a directory")
			}
			continue
		}
		if _, dup := seen[name]; dup {
			return refuse("comes twice")
		}
		for p := path.Dir(name); p != "."; p = path.Dir(p) {
			switch t, ok := seen[p]; {
			case !ok:
			case t == tar.TypeSymlink:
				return refuse("lies under the symlink " + p)
			case t != tar.TypeDir:
				return refuse("lies under " + p + ", which is not a directory")
			}
		}
		if typ == tar.TypeLink {
			if strings.HasPrefix(hdr.Linkname, "/") {
				return refuse("is a hard link to an absolute path")
			}
			target, err := tarstream.EntryName(hdr.Linkname)
			if err != nil {
				return refuse("is a hard link with a bad target")
			}
			if t, ok := seen[filepath.ToSlash(target)]; !ok || (t != tar.TypeReg && t != tar.TypeFifo) {
				return refuse(fmt.Sprintf("is a hard link to %q, which is not a regular file or fifo before it", hdr.Linkname))
			}
		}
		seen[name] = typ
	}
}

// injectAgent puts the agent and what boots it into the extracted tree
// at dir, through an os.Root so that no symlink of the image can make a
// write land outside it, and returns the init kind. An image with
// systemd gets the default image's units (the agent, host keys, the
// /root seed), the work disk in fstab and an empty machine-id; any other
// image gets the agent as /sbin/init, which runs it as PID 1. Both get
// /etc/banger and the identity placeholders the VM service fills in.
func injectAgent(dir string, agent []byte) (string, error) {
	root, err := os.OpenRoot(dir)
	if err != nil {
		return "", fmt.Errorf("open the image tree: %w", err)
	}
	defer root.Close()
	t := tree{root}
	// The directories the injected files need, 0755 whatever the
	// daemon's umask: a missing /sbin made 0700 would keep the image's
	// users from reading what is in it.
	for _, d := range []string{"usr/local/bin", "sbin", "etc/systemd/system/multi-user.target.wants"} {
		if err := t.mkdirs(d); err != nil {
			return "", err
		}
	}
	if err := t.write("usr/local/bin/banger-agent", agent, 0o755); err != nil {
		return "", err
	}
	if err := t.mkdir("etc/banger", 0o700); err != nil {
		return "", err
	}
	if err := t.writeIdentity(); err != nil {
		return "", err
	}
	init := initKind(root)
	if init == InitAgent {
		return init, t.symlink("/usr/local/bin/banger-agent", "sbin/init")
	}
	if _, err := root.Lstat("sbin/init"); errors.Is(err, fs.ErrNotExist) {
		if err := t.symlink("/lib/systemd/systemd", "sbin/init"); err != nil {
			return "", err
		}
	}
	if err := t.installUnits(); err != nil {
		return "", err
	}
	if err := t.appendFstab(); err != nil {
		return "", err
	}
	if err := t.resetMachineID(); err != nil {
		return "", err
	}
	if _, err := root.Lstat("etc/ssh"); err == nil {
		if err := t.write("etc/ssh/sshd_config.d/banger.conf", []byte(sshdConfig), 0o644); err != nil {
			return "", err
		}
		if err := t.removeHostKeys(); err != nil {
			return "", err
		}
	}
	return init, nil
}

// initKind is InitSystemd when the image has systemd (/lib/systemd/systemd
// or /usr/lib/systemd/systemd) and /sbin/init is absent or points to
// systemd, InitAgent otherwise.
func initKind(root *os.Root) string {
	has := false
	for _, p := range []string{"lib/systemd/systemd", "usr/lib/systemd/systemd"} {
		if st, err := root.Stat(p); err == nil && st.Mode().IsRegular() {
			has = true
		}
	}
	if !has {
		return InitAgent
	}
	st, err := root.Lstat("sbin/init")
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return InitSystemd
	case err != nil:
		return InitAgent
	case st.Mode()&fs.ModeSymlink != 0:
		if target, err := root.Readlink("sbin/init"); err == nil && path.Base(target) == "systemd" {
			return InitSystemd
		}
	}
	return InitAgent
}

// appendFstab adds the work disk's line to /etc/fstab, keeping what the
// image has there.
func (t tree) appendFstab() error {
	old, err := t.r.ReadFile("etc/fstab")
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	if strings.Contains(string(old), "LABEL=work ") {
		return nil
	}
	text := string(old)
	if text != "" && !strings.HasSuffix(text, "\n") {
		text += "\n"
	}
	return t.write("etc/fstab", []byte(text+fstab), 0o644)
}

// mkdirs makes every missing directory of name with mode 0755 exactly,
// leaving existing ones (and symlinks to directories) as they are.
func (t tree) mkdirs(name string) error {
	cur := ""
	for _, el := range strings.Split(name, "/") {
		cur = path.Join(cur, el)
		if _, err := t.r.Stat(cur); err == nil {
			continue
		} else if !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		if err := t.r.Mkdir(cur, 0o755); err != nil {
			return err
		}
		if err := t.r.Chmod(cur, 0o755); err != nil {
			return err
		}
	}
	return nil
}
