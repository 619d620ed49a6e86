package netlink

import (
	"errors"
	"fmt"
	"io/fs"

	vnl "github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"banger/internal/errdefs"
)

// tapFlags are the flags Firecracker and qemu open taps with. IFF_TUN_EXCL
// makes the kernel refuse a name that already exists instead of attaching
// to that device; it is not kept in the device's flags.
const tapFlags = vnl.TUNTAP_NO_PI | vnl.TUNTAP_VNET_HDR | vnl.TUNTAP_TUN_EXCL

// CreateTap makes a persistent tap (IFF_TAP|IFF_NO_PI|IFF_VNET_HDR, one
// queue, the flags Firecracker and qemu open taps with) owned by uid and
// gid, so an unprivileged VMM can open it. The tap is left down and
// detached. An existing link of that name gives an error wrapping
// errdefs.AlreadyExists.
func CreateTap(name string, uid, gid int) error {
	if err := ValidLinkName(name); err != nil {
		return err
	}
	if uid < 0 || gid < 0 {
		return errdefs.InvalidArgumentf("tap %s owner %d:%d: uid and gid must not be negative", name, uid, gid)
	}
	if l, err := lookup(name); err != nil {
		return err
	} else if l != nil {
		return errdefs.AlreadyExistsf("create tap %s: a %s link of that name already exists: delete it or pick another name", name, l.Type())
	}
	t := &vnl.Tuntap{
		LinkAttrs: vnl.LinkAttrs{Name: name},
		Mode:      vnl.TUNTAP_MODE_TAP,
		Flags:     tapFlags,
		Queues:    1,
		Owner:     uint32(uid),
		Group:     uint32(gid),
	}
	err := vnl.LinkAdd(t)
	// With Queues set the library hands back the queue files open; the
	// tap is persistent, so they are only closed.
	for _, f := range t.Fds {
		_ = f.Close()
	}
	if err == nil {
		return nil
	}
	if errors.Is(err, fs.ErrNotExist) {
		return errdefs.FailedPreconditionf("create tap %s: /dev/net/tun: %w: load the tun module (modprobe tun)", name, err)
	}
	// The library formats ioctl errors without wrapping them; a name
	// taken since the check above shows up as an existing link.
	if ok, _ := LinkExists(name); ok {
		return errdefs.AlreadyExistsf("create tap %s: a link of that name already exists: delete it or pick another name", name)
	}
	if errors.Is(err, unix.EPERM) || errors.Is(err, unix.EACCES) {
		return hostErr("create tap "+name, err)
	}
	return fmt.Errorf("create tap %s: %w: check that bangerd has CAP_NET_ADMIN and /dev/net/tun works", name, err)
}

// AttachTap puts the tap on the bridge and sets it up. It is idempotent.
func AttachTap(tap, bridge string) error {
	t, err := LookupLink(tap)
	if err != nil {
		return err
	}
	if t == nil {
		return errdefs.NotFoundf("tap %s does not exist", tap)
	}
	br, err := LookupLink(bridge)
	if err != nil {
		return err
	}
	if br == nil {
		return errdefs.NotFoundf("bridge %s does not exist", bridge)
	}
	return t.Attach(br)
}

// DetachTap takes the tap off its bridge and sets it down. It is
// idempotent; a missing tap is not an error.
func DetachTap(tap string) error {
	t, err := LookupLink(tap)
	if err != nil || t == nil {
		return err
	}
	return t.Detach()
}
