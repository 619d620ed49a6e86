// Package paths decides where banger keeps its files (config, state, cache,
// runtime sockets) and enforces the safety rules for the directories that
// hold state and sockets: private, owned by the right user, never a
// symlink, never repaired when others could have written to them, and
// everything below them made without following a symlink. It only
// computes paths and creates or checks directories; it must not create,
// open or remove any file inside them.
package paths

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"banger/internal/errdefs"
)

// FallbackRuntimeRoot is where the runtime directory goes when
// XDG_RUNTIME_DIR is unset: /tmp/banger-runtime-<uid>.
const FallbackRuntimeRoot = "/tmp"

// Layout is the set of directories one banger installation uses.
type Layout struct {
	ConfigDir  string // config.toml
	StateDir   string // the database, the daemon log, per-VM disks
	CacheDir   string // downloads and build products that can be recreated
	RuntimeDir string // sockets; private to the owner, gone after a reboot
}

// UserLayout derives the layout of a user install from the XDG base
// directory variables, read through getenv (os.Getenv in production):
//
//	config   $XDG_CONFIG_HOME/banger  (default ~/.config/banger)
//	state    $XDG_STATE_HOME/banger   (default ~/.local/state/banger)
//	cache    $XDG_CACHE_HOME/banger   (default ~/.cache/banger)
//	runtime  $XDG_RUNTIME_DIR/banger  (default /tmp/banger-runtime-<uid>)
//
// As the XDG specification requires, a relative value is ignored as if it
// were unset. HOME is needed only for a default it derives.
func UserLayout(getenv func(string) string, uid int) (Layout, error) {
	home := getenv("HOME")
	base := func(env, fallback string) (string, error) {
		if v := getenv(env); filepath.IsAbs(v) {
			return filepath.Join(v, "banger"), nil
		}
		if home == "" {
			return "", errdefs.FailedPreconditionf("cannot find banger's directories: HOME is not set and %s is unset or relative: set HOME, or set %s to an absolute path", env, env)
		}
		if !filepath.IsAbs(home) {
			return "", errdefs.FailedPreconditionf("cannot find banger's directories: HOME=%q is not an absolute path: set HOME to your home directory, or set %s to an absolute path", home, env)
		}
		return filepath.Join(home, fallback, "banger"), nil
	}
	var (
		l   Layout
		err error
	)
	if l.ConfigDir, err = base("XDG_CONFIG_HOME", ".config"); err != nil {
		return Layout{}, err
	}
	if l.StateDir, err = base("XDG_STATE_HOME", filepath.Join(".local", "state")); err != nil {
		return Layout{}, err
	}
	if l.CacheDir, err = base("XDG_CACHE_HOME", ".cache"); err != nil {
		return Layout{}, err
	}
	if v := getenv("XDG_RUNTIME_DIR"); filepath.IsAbs(v) {
		l.RuntimeDir = filepath.Join(v, "banger")
	} else {
		l.RuntimeDir = filepath.Join(FallbackRuntimeRoot, "banger-runtime-"+strconv.Itoa(uid))
	}
	return l, nil
}

// ConfigFile is the path of the config file.
func (l Layout) ConfigFile() string { return filepath.Join(l.ConfigDir, "config.toml") }

// DBPath is the path of the state database.
func (l Layout) DBPath() string { return filepath.Join(l.StateDir, "banger.db") }

// Socket is the path of the daemon's API socket.
func (l Layout) Socket() string { return filepath.Join(l.RuntimeDir, "bangerd.sock") }

// DaemonLog is the path of the daemon's log file.
func (l Layout) DaemonLog() string { return filepath.Join(l.StateDir, "bangerd.log") }

// VMDir is the directory holding the persistent files of the VM with id.
func (l Layout) VMDir(id string) string { return filepath.Join(l.StateDir, "vms", id) }

// SnapshotDir is the directory holding the files of the snapshot with id.
func (l Layout) SnapshotDir(id string) string { return filepath.Join(l.StateDir, "snapshots", id) }

// VMRuntimeDir is the directory holding the sockets of the VM with id.
func (l Layout) VMRuntimeDir(id string) string { return filepath.Join(l.RuntimeDir, "vms", id) }

// Ensure creates the config and cache directories (mode 0700, with their
// parents) and makes the state and runtime directories private to uid: the
// state directory with its parents created if missing, the runtime
// directory with EnsurePrivateDir. Both are refused, not repaired, when
// they exist as a symlink, belong to another user or have group or other
// permission bits (see EnsurePrivateDir). The parent of an XDG runtime
// directory is created if missing; the /tmp fallback's parent is never
// created.
func (l Layout) Ensure(uid int) error {
	for _, d := range []struct{ what, dir string }{
		{"config", l.ConfigDir}, {"state", l.StateDir}, {"cache", l.CacheDir},
	} {
		if d.dir == "" || !filepath.IsAbs(d.dir) {
			return errdefs.InvalidArgumentf("%s directory %q is not an absolute path", d.what, d.dir)
		}
		dir := d.dir
		if d.dir == l.StateDir {
			dir = filepath.Dir(dir)
		}
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return errdefs.FailedPreconditionf("create %s directory: %w: check the permissions of its parent or set the XDG variable to a writable directory", d.what, err)
		}
	}
	if l.RuntimeDir == "" || !filepath.IsAbs(l.RuntimeDir) {
		return errdefs.InvalidArgumentf("runtime directory %q is not an absolute path", l.RuntimeDir)
	}
	if err := ensurePrivate(stateDir, l.StateDir, uid); err != nil {
		return err
	}
	if parent := filepath.Dir(l.RuntimeDir); parent != FallbackRuntimeRoot {
		if err := os.MkdirAll(parent, 0o700); err != nil {
			return errdefs.FailedPreconditionf("create the parent of runtime directory %s: %w: set XDG_RUNTIME_DIR to a directory you own", l.RuntimeDir, err)
		}
	}
	if err := EnsurePrivateDir(l.RuntimeDir, uid); err != nil {
		return err
	}
	return nil
}

// MakePrivateDir creates dir, which must lie below the state or the
// runtime directory (VMDir and VMRuntimeDir give such paths), with
// MkdirPrivate from that root: privately for uid and without following a
// symlink anywhere below the root.
func (l Layout) MakePrivateDir(dir string, uid int) error {
	for _, root := range []string{l.RuntimeDir, l.StateDir} {
		if root == "" {
			continue
		}
		rel, err := filepath.Rel(root, dir)
		if err != nil || rel == "." || rel == ".." || strings.HasPrefix(rel, "../") {
			continue
		}
		_, err = MkdirPrivate(root, rel, uid)
		return err
	}
	return errdefs.FailedPreconditionf("directory %s is neither below the state directory %s nor below the runtime directory %s: it was made by a bangerd with other XDG directories; run bangerd with those", dir, l.StateDir, l.RuntimeDir)
}
