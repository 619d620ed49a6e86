package privileged

import (
	"fmt"
	"net/netip"

	"banger/internal/errdefs"
	"banger/internal/firewall"
	"banger/internal/netlink"
)

// Policy is what the helper allows.
type Policy struct {
	UID    int    // the daemon's user; root may always call
	Bridge string // the only bridge it manages
}

// Validate checks the policy itself, before anything is served.
func (p Policy) Validate() error {
	if p.UID < 0 {
		return errdefs.InvalidArgumentf("root helper policy: uid %d is negative: pass --allow-uid with the uid bangerd runs as", p.UID)
	}
	if err := netlink.ValidLinkName(p.Bridge); err != nil {
		return fmt.Errorf("root helper policy: bridge: %w", err)
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

// owner checks the owner of a tap to be made: callers other than root may
// give taps only to themselves.
func owner(c caller, uid, gid int) error {
	if uid < 0 || gid < 0 {
		return errdefs.InvalidArgumentf("tap owner %d:%d: uid and gid must not be negative", uid, gid)
	}
	if c.root() || (uid == c.uid && gid == c.gid) {
		return nil
	}
	return errdefs.FailedPreconditionf("tap owner %d:%d: uid %d may make taps owned only by itself (%d:%d)", uid, gid, c.uid, c.uid, c.gid)
}

// linkPrefix checks a prefix to list links by: VM taps or spares.
func linkPrefix(prefix string) error {
	if prefix == vmTapPrefix || isSparePrefix(prefix) {
		return nil
	}
	return errdefs.InvalidArgumentf("prefix %q: only banger's taps are listed: use %q or a spare prefix (\"bp\", 4 hex digits, \"-\")", prefix, vmTapPrefix)
}

// addr checks a bridge address.
func addr(a netip.Prefix) error {
	if !a.IsValid() || !a.Addr().Is4() {
		return errdefs.InvalidArgumentf("addr %q: want an IPv4 address with prefix, e.g. 10.77.0.1/24", a)
	}
	return nil
}

// rules checks a firewall spec: valid, on Policy.Bridge, VM taps only.
func (p Policy) rules(s firewall.Spec) error {
	if err := p.bridge("spec.bridge", s.Bridge); err != nil {
		return err
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
