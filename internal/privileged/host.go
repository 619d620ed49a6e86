package privileged

import (
	"net/netip"

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
