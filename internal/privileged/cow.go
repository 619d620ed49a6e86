package privileged

import (
	"encoding/json"
	"path/filepath"

	"banger/internal/cow"
	"banger/internal/errdefs"
)

// CowMounter mounts and unmounts the loop-XFS filesystem of banger's disk
// strategy (package cow) in a state directory, for the daemon's user. It is
// apart from Host: only the root helper and Local serve it.
type CowMounter interface {
	// CowReady checks what MountCow would check of stateDir itself
	// (uid's, writable by it alone) and mounts nothing.
	CowReady(stateDir string, uid int) error
	MountCow(stateDir string, uid int) error
	UnmountCow(stateDir string, uid int) error
}

// CowReady checks stateDir as cow.MountChecked would, mounting nothing.
func (l *Local) CowReady(stateDir string, uid int) error { return cow.CheckStateDir(stateDir, uid) }

// MountCow mounts stateDir's cow.xfs on stateDir/cow for uid, after the
// checks of cow.MountChecked.
func (l *Local) MountCow(stateDir string, uid int) error { return cow.MountChecked(stateDir, uid) }

// UnmountCow unmounts stateDir/cow if it is stateDir's own cow.xfs.
func (l *Local) UnmountCow(stateDir string, uid int) error {
	return cow.UnmountChecked(stateDir, uid)
}

type cowArgs struct {
	StateDir string `json:"state_dir"`
}

// cowMethod is the handler of MountCow and UnmountCow: the state directory
// must be Policy.CowDir, and the work is done for Policy.UID (the daemon's
// user) whoever calls, root included.
func cowMethod(do func(m CowMounter, dir string, uid int) error) handler {
	return func(p Policy, _ caller, raw json.RawMessage) (action, error) {
		var a cowArgs
		if err := decodeStrict(raw, &a); err != nil {
			return nil, errdefs.InvalidArgumentf("arguments: %w", err)
		}
		if err := p.cowDir("state_dir", a.StateDir); err != nil {
			return nil, err
		}
		return func(h Served) (any, error) {
			m, ok := h.(CowMounter)
			if !ok {
				return nil, errdefs.Unavailablef("this root helper does not mount banger's XFS file: upgrade it")
			}
			return nil, do(m, a.StateDir, p.UID)
		}, nil
	}
}

// cowDir checks a state directory argument: only Policy.CowDir.
func (p Policy) cowDir(field, dir string) error {
	switch {
	case p.CowDir == "":
		return errdefs.FailedPreconditionf("%s: this root helper mounts no XFS file for banger's disks: restart it with --cow-dir set to bangerd's state directory, or set vm.disk_strategy to \"sparse\"", field)
	case dir != p.CowDir:
		return errdefs.FailedPreconditionf("%s %q: this root helper mounts only the XFS file of %s: restart it with --cow-dir %s", field, dir, p.CowDir, dir)
	}
	return nil
}

// Client side.

// MountCow asks the helper to mount stateDir's XFS file.
func (c Client) MountCow(stateDir string) error {
	return c.call("MountCow", cowArgs{StateDir: stateDir}, nil)
}

// CowReady asks whether the helper would mount stateDir's XFS file (it was
// started with --cow-dir set to stateDir); it mounts nothing.
func (c Client) CowReady(stateDir string) error {
	return c.call("CowReady", cowArgs{StateDir: stateDir}, nil)
}

// UnmountCow asks the helper to unmount stateDir's XFS file.
func (c Client) UnmountCow(stateDir string) error {
	return c.call("UnmountCow", cowArgs{StateDir: stateDir}, nil)
}

// CowMounts adapts a Client to cow.Mounter for the state directory's own
// file and mount point.
type CowMounts struct{ Client *Client }

func (m CowMounts) MountXFS(file, dir string) error {
	if err := sameStateDir(file, dir); err != nil {
		return err
	}
	return m.Client.MountCow(filepath.Dir(file))
}

// MountsOnAuto is nil when the root helper would mount the state
// directory's XFS file: the admin started it with --cow-dir set to that
// directory, which is consent to the mount; auto then makes the file.
func (m CowMounts) MountsOnAuto(file, dir string) error {
	if err := sameStateDir(file, dir); err != nil {
		return err
	}
	return m.Client.CowReady(filepath.Dir(file))
}

func (m CowMounts) UnmountXFS(file, dir string) error {
	if err := sameStateDir(file, dir); err != nil {
		return err
	}
	return m.Client.UnmountCow(filepath.Dir(file))
}

func sameStateDir(file, dir string) error {
	if filepath.Dir(file) != filepath.Dir(dir) || filepath.Base(file) != "cow.xfs" || filepath.Base(dir) != "cow" {
		return errdefs.InvalidArgumentf("the root helper mounts only <state>/cow.xfs on <state>/cow, not %s on %s", file, dir)
	}
	return nil
}
