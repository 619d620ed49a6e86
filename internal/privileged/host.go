package privileged

import (
	"net/netip"

	"banger/internal/errdefs"
	"banger/internal/firewall"
	"banger/internal/netlink"
)

// Host is the privileged host networking work the daemon needs. Local
// does it in-process; Client asks a root helper to.
type Host interface {
	EnsureBridge(name string, addr netip.Prefix) error
	CreateTap(name string, uid, gid int) error
	AttachTap(tap, bridge string) error
	DetachTap(tap string) error
	RenameLink(from, to string) error
	DeleteLink(name string) error
	Links(prefix string) ([]string, error)
	LinkExists(name string) (bool, error)
	LinkIndex(name string) (int, error)
	RoutedPrefixes(exclude string) ([]netip.Prefix, error)
	Forwarding() (bool, error)
	SetForwarding(on bool) error
	ApplyRules(spec firewall.Spec) error
	ReadRules() (firewall.Status, error)
}

// Local implements Host in the calling process with the netlink and
// firewall adapters; it needs CAP_NET_ADMIN. Rules are applied through one
// firewall.Applier, so that consecutive specs cost small transactions.
type Local struct {
	applier *firewall.Applier
}

// NewLocal returns a Local with a fresh firewall.Applier.
func NewLocal() *Local { return &Local{applier: &firewall.Applier{}} }

// EnsureBridge creates or fixes the bridge (netlink.EnsureBridge).
func (l *Local) EnsureBridge(name string, addr netip.Prefix) error {
	return netlink.EnsureBridge(netlink.Bridge{Name: name, Addr: addr})
}

// CreateTap makes a persistent tap owned by uid and gid.
func (l *Local) CreateTap(name string, uid, gid int) error { return netlink.CreateTap(name, uid, gid) }

// AttachTap puts the tap on the bridge and sets it up.
func (l *Local) AttachTap(tap, bridge string) error { return netlink.AttachTap(tap, bridge) }

// DetachTap takes the tap off its bridge and sets it down.
func (l *Local) DetachTap(tap string) error { return netlink.DetachTap(tap) }

// RenameLink renames a link that is down.
func (l *Local) RenameLink(from, to string) error { return netlink.RenameLink(from, to) }

// DeleteLink removes a link; a missing one is not an error.
func (l *Local) DeleteLink(name string) error { return netlink.DeleteLink(name) }

// Links lists the links whose name starts with prefix, sorted.
func (l *Local) Links(prefix string) ([]string, error) { return netlink.Links(prefix) }

// LinkExists reports whether the link exists.
func (l *Local) LinkExists(name string) (bool, error) { return netlink.LinkExists(name) }

// LinkIndex returns the link's interface index.
func (l *Local) LinkIndex(name string) (int, error) { return netlink.LinkIndex(name) }

// RoutedPrefixes lists the IPv4 prefixes the host routes, but exclude's.
func (l *Local) RoutedPrefixes(exclude string) ([]netip.Prefix, error) {
	return netlink.RoutedPrefixes(exclude)
}

// Forwarding reports whether IPv4 forwarding is on.
func (l *Local) Forwarding() (bool, error) { return netlink.Forwarding() }

// SetForwarding turns IPv4 forwarding on or off.
func (l *Local) SetForwarding(on bool) error { return netlink.SetForwarding(on) }

// ApplyRules makes banger's nftables tables match spec.
func (l *Local) ApplyRules(spec firewall.Spec) error { return l.applier.Apply(spec) }

// ReadRules reports the state of banger's nftables tables.
func (l *Local) ReadRules() (firewall.Status, error) { return firewall.Read() }

// LinkFacts is what the kernel says about a link at the moment the root
// helper is about to change it.
type LinkFacts struct {
	Name  string
	Index int
	Kind  string // the kernel's link kind: "tuntap", "bridge", "veth", …
	Tap   bool   // a tuntap in tap mode (not a tun)
	Owner uint32 // a tuntap's owner uid (TUNSETOWNER); 0 also when it has none
	Alias string // banger's bridge has netlink.BridgeAlias
}

// CheckedLinks changes links only after a check of the link the kernel
// has at that moment: each call looks its links up once, passes what they
// are to may, and changes those very links (by index, so a rename in
// between cannot redirect the change) only if may returns nil, whose error
// it returns otherwise. Missing links are treated as by Host: an error
// for AttachTap and RenameLink, nothing to do for DetachTap and DeleteLink.
type CheckedLinks interface {
	AttachTapChecked(tap, bridge string, may func(tap, bridge LinkFacts) error) error
	DetachTapChecked(tap string, may func(LinkFacts) error) error
	RenameLinkChecked(from, to string, may func(LinkFacts) error) error
	DeleteLinkChecked(name string, may func(LinkFacts) error) error
}

// Served is what Serve runs requests on: a Host whose link changes can be
// checked at the moment they are made. Local is one.
type Served interface {
	Host
	CheckedLinks
}

var _ Served = (*Local)(nil)

// facts describes a looked-up link.
func facts(l *netlink.Link) LinkFacts {
	return LinkFacts{Name: l.Name, Index: l.Index, Kind: l.Kind, Tap: l.Tap, Owner: l.Owner, Alias: l.Alias}
}

// lookupOrNotFound finds the named link; a missing one is NotFound.
func lookupOrNotFound(name, what string) (*netlink.Link, error) {
	l, err := netlink.LookupLink(name)
	if err != nil {
		return nil, err
	}
	if l == nil {
		return nil, errdefs.NotFoundf("%s %s does not exist", what, name)
	}
	return l, nil
}

// AttachTapChecked puts the tap on the bridge and sets it up if may
// allows it.
func (l *Local) AttachTapChecked(tap, bridge string, may func(tap, bridge LinkFacts) error) error {
	t, err := lookupOrNotFound(tap, "tap")
	if err != nil {
		return err
	}
	br, err := lookupOrNotFound(bridge, "bridge")
	if err != nil {
		return err
	}
	if err := may(facts(t), facts(br)); err != nil {
		return err
	}
	return t.Attach(br)
}

// DetachTapChecked takes the tap off its bridge and sets it down if may
// allows it; a missing tap is not an error.
func (l *Local) DetachTapChecked(tap string, may func(LinkFacts) error) error {
	t, err := netlink.LookupLink(tap)
	if err != nil || t == nil {
		return err
	}
	if err := may(facts(t)); err != nil {
		return err
	}
	return t.Detach()
}

// RenameLinkChecked renames a link that is down if may allows it.
func (l *Local) RenameLinkChecked(from, to string, may func(LinkFacts) error) error {
	if err := netlink.ValidLinkName(to); err != nil {
		return err
	}
	t, err := lookupOrNotFound(from, "link")
	if err != nil {
		return err
	}
	if err := may(facts(t)); err != nil {
		return err
	}
	return t.Rename(to)
}

// DeleteLinkChecked removes a link if may allows it; a missing link is
// not an error.
func (l *Local) DeleteLinkChecked(name string, may func(LinkFacts) error) error {
	t, err := netlink.LookupLink(name)
	if err != nil || t == nil {
		return err
	}
	if err := may(facts(t)); err != nil {
		return err
	}
	return t.Delete()
}
