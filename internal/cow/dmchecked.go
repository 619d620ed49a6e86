package cow

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"

	"banger/internal/errdefs"
)

// dmMapperDir is where device nodes are made, as udev would.
const dmMapperDir = "/dev/mapper"

// maxDMName bounds a device name so that its uuid (prefix, state
// directory tag, name) fits DM_UUID_LEN.
const maxDMName = 96

// CheckDMName checks a device name: DMPrefix, then letters, digits, '.',
// '_' or '-', at most 96 bytes in all.
func CheckDMName(name string) error {
	rest, ok := strings.CutPrefix(name, DMPrefix)
	if !ok || rest == "" || len(name) > maxDMName {
		return errdefs.InvalidArgumentf("device name %q: banger makes only devices named %s<id>, at most %d bytes", name, DMPrefix, maxDMName)
	}
	for _, c := range rest {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return errdefs.InvalidArgumentf("device name %q: only letters, digits, '.', '_' and '-' after %s", name, DMPrefix)
		}
	}
	return nil
}

// dmUUID is the uuid of the device name of stateDir: it marks the device
// as that state directory's, so that nobody removes another's.
func dmUUID(stateDir, name string) string {
	return dmUUIDPrefix(stateDir) + name
}

func dmUUIDPrefix(stateDir string) string {
	sum := sha256.Sum256([]byte(stateDir))
	return DMPrefix + hex.EncodeToString(sum[:8]) + "-"
}

// AttachChecked makes the snapshot device name over disk for uid's daemon
// whose state directory is stateDir: the root helper's side of the dm
// strategy. Nothing is trusted by path: the state directory is opened
// without following symlinks and checked (owned by uid, writable by it
// alone); disk, its ".origin" record and the origin it names must be
// inside it, are opened beneath it with no symlink followed, and must be
// regular files owned by uid and not writable by others (the COW file
// with one link). The loop devices are attached to those open files (the
// origin read-only), the device is made with a uuid that marks it as
// stateDir's, and its node /dev/mapper/<name> is given to uid, mode 0600.
// Attaching an attached disk returns its node.
func AttachChecked(stateDir string, uid int, name, disk string) (string, error) {
	if err := CheckDMName(name); err != nil {
		return "", err
	}
	dir, err := openOwnedDir(stateDir, uid)
	if err != nil {
		return "", err
	}
	defer dir.Close()
	cowFile, err := openBeneath(dir, stateDir, disk, unix.O_RDWR)
	if err != nil {
		return "", err
	}
	defer cowFile.Close()
	if err := checkOwnedFile(cowFile, uid, true); err != nil {
		return "", err
	}
	rec, err := openBeneath(dir, stateDir, disk+originSuffix, unix.O_RDONLY)
	if err != nil {
		return "", err
	}
	b, err := io.ReadAll(io.LimitReader(rec, 4096))
	rec.Close()
	if err != nil {
		return "", fmt.Errorf("read %s: %w", disk+originSuffix, err)
	}
	originFile, err := openBeneath(dir, stateDir, string(b), unix.O_RDONLY)
	if err != nil {
		return "", err
	}
	defer originFile.Close()
	if err := checkOwnedFile(originFile, uid, false); err != nil {
		return "", err
	}
	var st unix.Stat_t
	if err := unix.Fstat(int(originFile.Fd()), &st); err != nil {
		return "", err
	}
	sectors := uint64(st.Size) / 512
	if sectors == 0 {
		return "", errdefs.FailedPreconditionf("origin %s is empty", originFile.Name())
	}

	uuid := dmUUID(stateDir, name)
	if info, ok, err := dmStatus(name); err != nil {
		return "", err
	} else if ok {
		if info.uuid != uuid {
			return "", errdefs.AlreadyExistsf("device-mapper device %s exists and is not %s's: remove it (dmsetup remove %s)", name, stateDir, name)
		}
		return makeDMNode(name, info.dev, uid)
	}

	origin, err := attachLoopFile(originFile, originFile.Name(), unix.LO_FLAGS_READ_ONLY|unix.LO_FLAGS_AUTOCLEAR)
	if err != nil {
		return "", err
	}
	defer origin.Close()
	cow, err := attachLoopFile(cowFile, cowFile.Name(), unix.LO_FLAGS_AUTOCLEAR)
	if err != nil {
		return "", err
	}
	defer cow.Close()
	od, err := rdevOf(origin)
	if err != nil {
		return "", err
	}
	cd, err := rdevOf(cow)
	if err != nil {
		return "", err
	}
	params := fmt.Sprintf("%d:%d %d:%d P %d", unix.Major(od), unix.Minor(od), unix.Major(cd), unix.Minor(cd), dmChunkSectors)
	dev, err := dmCreate(name, uuid, []dmTarget{{start: 0, length: sectors, typ: "snapshot", params: params}})
	if err != nil {
		return "", err
	}
	node, err := makeDMNode(name, dev, uid)
	if err != nil {
		return "", errors.Join(err, dmRemove(name))
	}
	return node, nil
}

// DetachChecked removes the device name and its node if the device is
// stateDir's; a missing device is not an error.
func DetachChecked(stateDir string, uid int, name string) error {
	if err := CheckDMName(name); err != nil {
		return err
	}
	dir, err := openOwnedDir(stateDir, uid)
	if err != nil {
		return err
	}
	dir.Close()
	info, ok, err := dmStatus(name)
	if err != nil {
		return err
	}
	if ok {
		if info.uuid != dmUUID(stateDir, name) {
			return errdefs.FailedPreconditionf("device-mapper device %s is not %s's: refusing to remove it", name, stateDir)
		}
		if err := dmRemove(name); err != nil {
			return err
		}
	}
	return removeDMNode(name)
}

// ListChecked names stateDir's devices.
func ListChecked(stateDir string, uid int) ([]string, error) {
	dir, err := openOwnedDir(stateDir, uid)
	if err != nil {
		return nil, err
	}
	dir.Close()
	if ok, why := DMAvailable(); !ok {
		return nil, errdefs.FailedPreconditionf("%s", why)
	}
	names, err := dmList()
	if err != nil {
		return nil, err
	}
	prefix := dmUUIDPrefix(stateDir)
	var out []string
	for _, n := range names {
		if !strings.HasPrefix(n, DMPrefix) {
			continue
		}
		info, ok, err := dmStatus(n)
		if err != nil {
			return nil, err
		}
		if ok && strings.HasPrefix(info.uuid, prefix) {
			out = append(out, n)
		}
	}
	return out, nil
}

// openBeneath opens path, which must be inside stateDir (held open as
// dir), resolving it beneath dir with no symlink followed.
func openBeneath(dir *os.File, stateDir, path string, flags int) (*os.File, error) {
	rel, ok := strings.CutPrefix(path, stateDir+"/")
	if !filepath.IsAbs(path) || filepath.Clean(path) != path || !ok || rel == "" {
		return nil, errdefs.InvalidArgumentf("%q is not a clean path inside the state directory %s", path, stateDir)
	}
	fd, err := unix.Openat2(int(dir.Fd()), rel, &unix.OpenHow{
		Flags:   uint64(flags | unix.O_CLOEXEC | unix.O_NOFOLLOW),
		Resolve: unix.RESOLVE_BENEATH | unix.RESOLVE_NO_SYMLINKS | unix.RESOLVE_NO_MAGICLINKS | unix.RESOLVE_NO_XDEV,
	})
	if err != nil {
		if errors.Is(err, unix.ENOENT) {
			return nil, fmt.Errorf("open %s: %w", path, os.ErrNotExist)
		}
		return nil, errdefs.FailedPreconditionf("open %s beneath %s (symlinks and other filesystems refused): %w", path, stateDir, err)
	}
	return os.NewFile(uintptr(fd), path), nil
}

// checkOwnedFile checks an open file: regular, owned by uid, not writable
// by others, and (single) with one link.
func checkOwnedFile(f *os.File, uid int, single bool) error {
	var st unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &st); err != nil {
		return fmt.Errorf("stat %s: %w", f.Name(), err)
	}
	switch {
	case st.Mode&unix.S_IFMT != unix.S_IFREG:
		return errdefs.FailedPreconditionf("%s is not a regular file: refusing it", f.Name())
	case int(st.Uid) != uid:
		return errdefs.FailedPreconditionf("%s is owned by uid %d, not %d: refusing it", f.Name(), st.Uid, uid)
	case st.Mode&0o022 != 0:
		return errdefs.FailedPreconditionf("%s is writable by others: chmod 600 it", f.Name())
	case single && st.Nlink != 1:
		return errdefs.FailedPreconditionf("%s has %d links: refusing it", f.Name(), st.Nlink)
	}
	return nil
}

func rdevOf(f *os.File) (uint64, error) {
	var st unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &st); err != nil {
		return 0, fmt.Errorf("stat %s: %w", f.Name(), err)
	}
	return st.Rdev, nil
}

// makeDMNode makes /dev/mapper/<name> for dev (replacing what udev or an
// older attach left there), owned by uid, mode 0600.
func makeDMNode(name string, dev uint64, uid int) (string, error) {
	if err := os.MkdirAll(dmMapperDir, 0o755); err != nil {
		return "", fmt.Errorf("make %s: %w", dmMapperDir, err)
	}
	node := filepath.Join(dmMapperDir, name)
	if err := removeDMNode(name); err != nil {
		return "", err
	}
	tmp := node + ".banger-tmp"
	os.Remove(tmp)
	if err := unix.Mknod(tmp, unix.S_IFBLK|0o600, int(dev)); err != nil {
		return "", fmt.Errorf("make the node of %s: %w", name, err)
	}
	if err := os.Lchown(tmp, uid, -1); err != nil {
		os.Remove(tmp)
		return "", fmt.Errorf("give %s to uid %d: %w", node, uid, err)
	}
	if err := os.Rename(tmp, node); err != nil {
		os.Remove(tmp)
		return "", fmt.Errorf("make the node of %s: %w", name, err)
	}
	return node, nil
}

// removeDMNode removes /dev/mapper/<name> when it is a block device or a
// symlink (udev's); a missing node is not an error.
func removeDMNode(name string) error {
	node := filepath.Join(dmMapperDir, name)
	fi, err := os.Lstat(node)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if fi.Mode()&os.ModeDevice == 0 && fi.Mode()&os.ModeSymlink == 0 {
		return errdefs.FailedPreconditionf("%s is neither a device node nor a link: remove it", node)
	}
	return removeFile(node)
}
