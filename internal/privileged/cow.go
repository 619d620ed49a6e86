package privileged

import (
	"encoding/json"
	"path/filepath"
	"strings"

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

// DMMaker makes and removes the device-mapper snapshot devices of banger's
// dm disk strategy (package cow) for the daemon's user. Like CowMounter it
// is apart from Host.
type DMMaker interface {
	AttachDM(stateDir string, uid int, name, disk string) (string, error)
	DetachDM(stateDir string, uid int, name string) error
	ListDM(stateDir string, uid int) ([]string, error)
}

// AttachDM makes the snapshot device name over disk for uid, after the
// checks of cow.AttachChecked.
func (l *Local) AttachDM(stateDir string, uid int, name, disk string) (string, error) {
	return cow.AttachChecked(stateDir, uid, name, disk)
}

// DetachDM removes the device name if it is stateDir's.
func (l *Local) DetachDM(stateDir string, uid int, name string) error {
	return cow.DetachChecked(stateDir, uid, name)
}

// ListDM names stateDir's devices.
func (l *Local) ListDM(stateDir string, uid int) ([]string, error) {
	return cow.ListChecked(stateDir, uid)
}

type dmArgs struct {
	StateDir string `json:"state_dir"`
	Name     string `json:"name,omitempty"`
	Disk     string `json:"disk,omitempty"`
}

// dmMethod is the handler of AttachDM, DetachDM and ListDM: the state
// directory must be Policy.CowDir, a name must be banger's (cow.CheckDMName)
// and a disk a clean path inside the state directory (checked again, on
// open descriptors, by package cow). The work is done for Policy.UID.
func dmMethod(needName, needDisk bool, do func(m DMMaker, a dmArgs, uid int) (any, error)) handler {
	return func(p Policy, _ caller, raw json.RawMessage) (action, error) {
		var a dmArgs
		if err := decodeStrict(raw, &a); err != nil {
			return nil, errdefs.InvalidArgumentf("arguments: %w", err)
		}
		if err := p.cowDir("state_dir", a.StateDir); err != nil {
			return nil, err
		}
		switch {
		case needName:
			if err := cow.CheckDMName(a.Name); err != nil {
				return nil, err
			}
		case a.Name != "":
			return nil, errdefs.InvalidArgumentf("name: not an argument of this method")
		}
		switch {
		case needDisk:
			if !filepath.IsAbs(a.Disk) || filepath.Clean(a.Disk) != a.Disk || !strings.HasPrefix(a.Disk, a.StateDir+"/") {
				return nil, errdefs.InvalidArgumentf("disk %q: only files inside %s", a.Disk, a.StateDir)
			}
		case a.Disk != "":
			return nil, errdefs.InvalidArgumentf("disk: not an argument of this method")
		}
		return func(h Served) (any, error) {
			m, ok := h.(DMMaker)
			if !ok {
				return nil, errdefs.Unavailablef("this root helper makes no device-mapper devices: upgrade it")
			}
			return do(m, a, p.UID)
		}, nil
	}
}

// AttachDM asks the helper to make the device name over disk.
func (c Client) AttachDM(stateDir, name, disk string) (string, error) {
	var node string
	err := c.call("AttachDM", dmArgs{StateDir: stateDir, Name: name, Disk: disk}, &node)
	return node, err
}

// DetachDM asks the helper to remove the device name.
func (c Client) DetachDM(stateDir, name string) error {
	return c.call("DetachDM", dmArgs{StateDir: stateDir, Name: name}, nil)
}

// ListDM asks the helper for stateDir's devices.
func (c Client) ListDM(stateDir string) ([]string, error) {
	var names []string
	err := c.call("ListDM", dmArgs{StateDir: stateDir}, &names)
	return names, err
}

// CowDM adapts a Client to cow.DMDevices for one state directory.
type CowDM struct {
	Client   *Client
	StateDir string
}

func (d CowDM) AttachDM(name, disk string) (string, error) {
	return d.Client.AttachDM(d.StateDir, name, disk)
}
func (d CowDM) DetachDM(name string) error { return d.Client.DetachDM(d.StateDir, name) }
func (d CowDM) ListDM() ([]string, error)  { return d.Client.ListDM(d.StateDir) }
