package netlink

import (
	"errors"
	"fmt"

	vnl "github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"banger/internal/errdefs"
)

// Link is one link as the kernel described it when LookupLink ran.
// Changes made through it act on that link by its interface index, so a
// rename after the lookup cannot redirect them to another link of the
// looked-up name.
type Link struct {
	Index  int
	Name   string
	Kind   string // the kernel's link kind: "tuntap", "bridge", "veth", …
	Tap    bool   // a tuntap in tap mode (not a tun)
	Owner  uint32 // a tuntap's owner uid (TUNSETOWNER); 0 also when it has none
	Group  uint32 // a tuntap's group; 0 also when it has none
	Alias  string // the link's ifalias (banger's bridge has BridgeAlias)
	Up     bool
	Master int // the index of the bridge it is on, 0 when none

	link vnl.Link
}

// LookupLink describes the named link; a missing link gives (nil, nil).
func LookupLink(name string) (*Link, error) {
	l, err := lookup(name)
	if err != nil || l == nil {
		return nil, err
	}
	a := l.Attrs()
	h := &Link{
		Index: a.Index, Name: a.Name, Kind: l.Type(), Alias: a.Alias,
		Up: a.RawFlags&unix.IFF_UP != 0, Master: a.MasterIndex, link: l,
	}
	if t, ok := l.(*vnl.Tuntap); ok {
		h.Tap = t.Mode == vnl.TUNTAP_MODE_TAP
		h.Owner, h.Group = t.Owner, t.Group
	}
	return h, nil
}

// Delete removes the link; one already gone is not an error.
func (l *Link) Delete() error {
	if err := vnl.LinkDel(l.link); err != nil && !isNotFound(err) {
		return hostErr("delete link "+l.Name, err)
	}
	return nil
}

// Rename renames the link, which must be down (as the kernel requires;
// Detach sets a tap down). A link that already has the name to is
// refused with AlreadyExists.
func (l *Link) Rename(to string) error {
	if err := ValidLinkName(to); err != nil {
		return err
	}
	if l.Name == to {
		return nil
	}
	if l.Up {
		return errdefs.FailedPreconditionf("rename link %s to %s: it is up: set it down first", l.Name, to)
	}
	if other, err := lookup(to); err != nil {
		return err
	} else if other != nil {
		return errdefs.AlreadyExistsf("rename link %s to %s: a link named %s already exists: delete it or pick another name", l.Name, to, to)
	}
	if err := vnl.LinkSetName(l.link, to); err != nil {
		if errors.Is(err, unix.EEXIST) {
			return errdefs.AlreadyExistsf("rename link %s to %s: %w: pick another name", l.Name, to, err)
		}
		if isNotFound(err) {
			return errdefs.NotFoundf("rename link %s to %s: it is gone", l.Name, to)
		}
		return hostErr(fmt.Sprintf("rename link %s to %s", l.Name, to), err)
	}
	return nil
}

// Attach puts the link on bridge br and sets it up. It is idempotent.
func (l *Link) Attach(br *Link) error {
	if br.Kind != "bridge" {
		return errdefs.FailedPreconditionf("attach tap %s: link %s is a %s, not a bridge", l.Name, br.Name, br.Kind)
	}
	if l.Master != br.Index {
		if err := vnl.LinkSetMasterByIndex(l.link, br.Index); err != nil {
			if isNotFound(err) {
				return errdefs.NotFoundf("attach tap %s to bridge %s: one of them is gone", l.Name, br.Name)
			}
			return hostErr(fmt.Sprintf("attach tap %s to bridge %s", l.Name, br.Name), err)
		}
	}
	if !l.Up {
		if err := vnl.LinkSetUp(l.link); err != nil {
			if isNotFound(err) {
				return errdefs.NotFoundf("set tap %s up: it is gone", l.Name)
			}
			return hostErr("set tap "+l.Name+" up", err)
		}
	}
	return nil
}

// Detach takes the link off its bridge and sets it down. It is
// idempotent; a link already gone is not an error.
func (l *Link) Detach() error {
	if l.Master != 0 {
		if err := vnl.LinkSetNoMaster(l.link); err != nil && !isNotFound(err) {
			return hostErr("detach tap "+l.Name, err)
		}
	}
	if l.Up {
		if err := vnl.LinkSetDown(l.link); err != nil && !isNotFound(err) {
			return hostErr("set tap "+l.Name+" down", err)
		}
	}
	return nil
}
