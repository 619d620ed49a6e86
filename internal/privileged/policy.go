package privileged

import (
	"errors"
	"fmt"
	"net/netip"
	"path/filepath"

	"banger/internal/errdefs"
	"banger/internal/firewall"
	"banger/internal/netlink"
	"banger/internal/subnet"
)

// Policy is what the helper allows.
type Policy struct {
	UID    int    // the daemon's user; root may always call
	Bridge string // the only bridge it manages
	// CowDir is the only state directory whose XFS file (cow.xfs) it
	// mounts, on CowDir/cow; "" mounts nothing.
	CowDir string
}

// Validate checks the policy itself, before anything is served.
func (p Policy) Validate() error {
	if p.UID < 0 || p.UID > maxID {
		return errdefs.InvalidArgumentf("root helper policy: uid %d is not a uid: pass --allow-uid with the uid bangerd runs as", p.UID)
	}
	if err := netlink.ValidLinkName(p.Bridge); err != nil {
		return fmt.Errorf("root helper policy: bridge: %w", err)
	}
	if p.CowDir != "" && (!filepath.IsAbs(p.CowDir) || filepath.Clean(p.CowDir) != p.CowDir) {
		return errdefs.InvalidArgumentf("root helper policy: --cow-dir %q is not an absolute, clean path", p.CowDir)
	}
	return nil
}

// caller is who sent a request, from SO_PEERCRED.
type caller struct {
	uid, gid, pid int
}

func (c caller) root() bool { return c.uid == 0 }

// allowed reports whether c may call at all.
func (p Policy) allowed(c caller) error {
	if c.root() || c.uid == p.UID {
		return nil
	}
	return errdefs.FailedPreconditionf("uid %d may not use banger's root helper: it serves uid %d and root; run bangerd as uid %d", c.uid, p.UID, p.UID)
}

// bridge checks a bridge argument: only Policy.Bridge is managed.
func (p Policy) bridge(field, name string) error {
	if name == "" {
		return errdefs.InvalidArgumentf("%s: no bridge given", field)
	}
	if name != p.Bridge {
		return errdefs.FailedPreconditionf("%s %q: this root helper manages only bridge %q: set network.bridge to it or restart the helper with --bridge %s", field, name, p.Bridge, name)
	}
	return nil
}

// tap checks a tap argument: a VM's tap or a spare.
func tap(field, name string) error {
	if isVMTap(name) || isSpareTap(name) {
		return nil
	}
	return errdefs.InvalidArgumentf("%s %q is not a banger tap: want \"bt-\" and 12 lowercase hex digits, or a spare \"bp\", 4 hex digits, \"-\" and 8 hex digits", field, name)
}

// bridgeOrTap checks a link the caller may look at.
func (p Policy) bridgeOrTap(field, name string) error {
	if name == p.Bridge {
		return nil
	}
	if err := tap(field, name); err != nil {
		return errdefs.InvalidArgumentf("%s %q is neither bridge %q nor a banger tap", field, name, p.Bridge)
	}
	return nil
}

// maxID is the largest uid or gid a tap may be given: (uint32)-1 means
// "no owner" to the kernel.
const maxID = 1<<32 - 2

// owner checks the owner of a tap to be made: callers other than root may
// give taps only to themselves.
func owner(c caller, uid, gid int) error {
	if uid < 0 || gid < 0 || uid > maxID || gid > maxID {
		return errdefs.InvalidArgumentf("tap owner %d:%d: uid and gid must be between 0 and %d", uid, gid, maxID)
	}
	if c.root() || (uid == c.uid && gid == c.gid) {
		return nil
	}
	return errdefs.FailedPreconditionf("tap owner %d:%d: uid %d may make taps owned only by itself (%d:%d)", uid, gid, c.uid, c.uid, c.gid)
}

// refusal marks an error as the helper's refusal, found while the
// request ran (a link that is not the caller's, a clash with the host's
// routes), so that it is logged as a refusal and not as a failure of the
// host.
type refusal struct{ err error }

func (r refusal) Error() string { return r.err.Error() }
func (r refusal) Unwrap() error { return r.err }

func refuse(err error) error { return refusal{err: err} }

func isRefusal(err error) bool {
	var r refusal
	return errors.As(err, &r)
}

// mayChangeTap is the check made, at the moment of the change, on a link
// the helper is asked to attach, detach, rename or delete for c: it must
// be a tap (a tuntap in tap mode: not a tun, bridge, veth or any other
// link, whatever its name) and, unless c is root, owned by c's uid. Only
// CAP_NET_ADMIN can set a tap's owner (TUNSETOWNER), and the helper sets
// it to the caller's uid when it makes a tap for a caller, so the taps a
// caller may change are the ones the helper made for it.
func (c caller) mayChangeTap(l LinkFacts) error {
	if !l.Tap {
		kind := l.Kind
		if kind == "tuntap" {
			kind = "tun"
		}
		return refuse(errdefs.FailedPreconditionf("link %s (index %d) is a %s link, not a tap: the root helper changes only banger's taps; remove or rename that link yourself", l.Name, l.Index, kind))
	}
	if !c.root() && l.Owner != uint32(c.uid) {
		return refuse(errdefs.FailedPreconditionf("tap %s (index %d) is not owned by uid %d: the root helper changes only the taps it made for their caller; remove it as root if it is stale", l.Name, l.Index, c.uid))
	}
	return nil
}

// mayAttach checks a tap and the bridge it is to be put on, at the moment
// of the change: the tap as mayChangeTap, the bridge must be a bridge
// banger made (EnsureBridge marks it).
func (c caller) mayAttach(tap, br LinkFacts) error {
	if err := c.mayChangeTap(tap); err != nil {
		return err
	}
	if br.Kind != "bridge" || br.Alias != netlink.BridgeAlias {
		return refuse(errdefs.FailedPreconditionf("bridge %s (index %d) is a %s link with alias %q, not a bridge banger made: taps go only on banger's bridge; set network.bridge to a name no other tool uses", br.Name, br.Index, br.Kind, br.Alias))
	}
	return nil
}

// linkPrefix checks a prefix to list links by: VM taps or spares.
func linkPrefix(prefix string) error {
	if prefix == vmTapPrefix || isSparePrefix(prefix) {
		return nil
	}
	return errdefs.InvalidArgumentf("prefix %q: only banger's taps are listed: use %q or a spare prefix (\"bp\", 4 hex digits, \"-\")", prefix, vmTapPrefix)
}

// addr checks a bridge address with the rules the config applies to
// network.subnet (package subnet): a host address of a private IPv4
// prefix of /16 to /28.
func addr(field string, a netip.Prefix) error {
	if why := subnet.GatewayProblem(a); why != "" {
		return errdefs.InvalidArgumentf("%s %s %s: set network.subnet to a private range such as 10.77.0.0/24", field, a, why)
	}
	return nil
}

// clash refuses a bridge address whose network overlaps a prefix the
// host routes (routes, read by the helper itself at the time of the
// request, without those of banger's bridge).
func clash(a netip.Prefix, routes []netip.Prefix) error {
	r, ok := subnet.Clash(a.Masked(), routes)
	if !ok {
		return nil
	}
	msg := fmt.Sprintf("addr %s: its network %s overlaps the host's route to %s", a, a.Masked(), r)
	if free, ok := subnet.Free(a.Bits(), routes); ok {
		return refuse(errdefs.FailedPreconditionf("%s: set network.subnet = %q in bangerd's config", msg, free))
	}
	return refuse(errdefs.FailedPreconditionf("%s and no private /%d is free: set network.subnet to a range the host does not use", msg, a.Bits()))
}

// guestDNSPort is the one host port the rules may open to guests: banger's
// DNS server on the bridge address.
const guestDNSPort = 53

// rules checks a firewall spec: on Policy.Bridge, a gateway the config
// would allow, DNS on port 53 only, valid, VM taps only.
func (p Policy) rules(s firewall.Spec) error {
	if err := p.bridge("spec.bridge", s.Bridge); err != nil {
		return err
	}
	if err := addr("spec.gateway", s.Gateway); err != nil {
		return err
	}
	if s.DNSPort != guestDNSPort {
		return errdefs.InvalidArgumentf("spec.dns_port %d: the root helper opens only port %d to guests, where banger's DNS server answers them", s.DNSPort, guestDNSPort)
	}
	if err := s.Validate(); err != nil {
		return err
	}
	for i, vm := range s.VMs {
		if !isVMTap(vm.Tap) {
			return errdefs.InvalidArgumentf("spec.vms[%d].tap %q is not a VM tap: want \"bt-\" and 12 lowercase hex digits", i, vm.Tap)
		}
	}
	return nil
}

// vmTapPrefix starts every VM's tap.
const vmTapPrefix = "bt-"

// isVMTap: "bt-" and 12 lowercase hex digits (network.TapName).
func isVMTap(name string) bool {
	return len(name) == 15 && name[:3] == vmTapPrefix && isHex(name[3:])
}

// isSparePrefix: "bp", 4 lowercase hex digits and "-" (the prefix of one
// bridge's spare taps).
func isSparePrefix(p string) bool {
	return len(p) == 7 && p[:2] == "bp" && isHex(p[2:6]) && p[6] == '-'
}

// isSpareTap: a spare prefix and 8 lowercase hex digits.
func isSpareTap(name string) bool {
	return len(name) == 15 && isSparePrefix(name[:7]) && isHex(name[7:])
}

func isHex(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return s != ""
}
