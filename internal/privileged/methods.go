package privileged

import (
	"encoding/json"

	"banger/internal/errdefs"
)

// action is a checked request, ready to run on a Served host. Checks that
// need the host's state at the time of the change (a link's owner, the
// host's routes) run inside it; they fail with a refusal.
type action func(h Served) (any, error)

// handler decodes a method's arguments and checks them against the policy
// and the caller. It returns the action to run, or why it is refused;
// nothing touches the host before it returns.
type handler func(p Policy, c caller, raw json.RawMessage) (action, error)

// typed makes a handler for arguments of type A: strict decoding, then
// check, then do.
func typed[A any](check func(p Policy, c caller, a A) error, do func(h Served, c caller, a A) (any, error)) handler {
	return func(p Policy, c caller, raw json.RawMessage) (action, error) {
		var a A
		if err := decodeStrict(raw, &a); err != nil {
			return nil, errdefs.InvalidArgumentf("arguments: %w", err)
		}
		if err := check(p, c, a); err != nil {
			return nil, err
		}
		return func(h Served) (any, error) { return do(h, c, a) }, nil
	}
}

// none checks nothing, for methods without arguments.
func none(Policy, caller, noArgs) error { return nil }

// methods are the helper's methods by name. Every one is in Host, but
// CowReady, MountCow and UnmountCow (CowMounter) and AttachDM, DetachDM
// and ListDM (DMMaker).
var methods = map[string]handler{
	"EnsureBridge": typed(func(p Policy, _ caller, a ensureBridgeArgs) error {
		if err := p.bridge("name", a.Name); err != nil {
			return err
		}
		return addr("addr", a.Addr)
	}, func(h Served, _ caller, a ensureBridgeArgs) (any, error) {
		routes, err := h.RoutedPrefixes(a.Name)
		if err != nil {
			return nil, err
		}
		if err := clash(a.Addr, routes); err != nil {
			return nil, err
		}
		return nil, h.EnsureBridge(a.Name, a.Addr)
	}),

	"CreateTap": typed(func(_ Policy, c caller, a createTapArgs) error {
		if err := tap("name", a.Name); err != nil {
			return err
		}
		return owner(c, a.UID, a.GID)
	}, func(h Served, _ caller, a createTapArgs) (any, error) { return nil, h.CreateTap(a.Name, a.UID, a.GID) }),

	"AttachTap": typed(func(p Policy, _ caller, a attachTapArgs) error {
		if err := tap("tap", a.Tap); err != nil {
			return err
		}
		return p.bridge("bridge", a.Bridge)
	}, func(h Served, c caller, a attachTapArgs) (any, error) {
		return nil, h.AttachTapChecked(a.Tap, a.Bridge, c.mayAttach)
	}),

	"DetachTap": typed(func(_ Policy, _ caller, a tapArgs) error {
		return tap("tap", a.Tap)
	}, func(h Served, c caller, a tapArgs) (any, error) {
		return nil, h.DetachTapChecked(a.Tap, c.mayChangeTap)
	}),

	"RenameLink": typed(func(_ Policy, _ caller, a renameArgs) error {
		if err := tap("from", a.From); err != nil {
			return err
		}
		return tap("to", a.To)
	}, func(h Served, c caller, a renameArgs) (any, error) {
		return nil, h.RenameLinkChecked(a.From, a.To, c.mayChangeTap)
	}),

	"DeleteLink": typed(func(_ Policy, _ caller, a nameArgs) error {
		return tap("name", a.Name)
	}, func(h Served, c caller, a nameArgs) (any, error) {
		return nil, h.DeleteLinkChecked(a.Name, c.mayChangeTap)
	}),

	"Links": typed(func(_ Policy, _ caller, a prefixArgs) error {
		return linkPrefix(a.Prefix)
	}, func(h Served, _ caller, a prefixArgs) (any, error) { return h.Links(a.Prefix) }),

	"LinkExists": typed(func(p Policy, _ caller, a nameArgs) error {
		return p.bridgeOrTap("name", a.Name)
	}, func(h Served, _ caller, a nameArgs) (any, error) { return h.LinkExists(a.Name) }),

	"LinkIndex": typed(func(p Policy, _ caller, a nameArgs) error {
		return p.bridgeOrTap("name", a.Name)
	}, func(h Served, _ caller, a nameArgs) (any, error) { return h.LinkIndex(a.Name) }),

	"RoutedPrefixes": typed(func(p Policy, _ caller, a excludeArgs) error {
		if a.Exclude == "" {
			return nil
		}
		return p.bridge("exclude", a.Exclude)
	}, func(h Served, _ caller, a excludeArgs) (any, error) { return h.RoutedPrefixes(a.Exclude) }),

	"Forwarding": typed(none, func(h Served, _ caller, _ noArgs) (any, error) { return h.Forwarding() }),

	"SetForwarding": typed(func(_ Policy, _ caller, a forwardingArgs) error {
		if a.On == nil {
			return errdefs.InvalidArgumentf("on: missing: say true or false")
		}
		return nil
	}, func(h Served, _ caller, a forwardingArgs) (any, error) { return nil, h.SetForwarding(*a.On) }),

	"ApplyRules": typed(func(p Policy, _ caller, a rulesArgs) error {
		s, err := a.Spec.spec()
		if err != nil {
			return err
		}
		return p.rules(s)
	}, func(h Served, _ caller, a rulesArgs) (any, error) {
		s, err := a.Spec.spec()
		if err != nil {
			return nil, err
		}
		return nil, h.ApplyRules(s)
	}),

	"MountCow": cowMethod(func(m CowMounter, dir string, uid int) error { return m.MountCow(dir, uid) }),

	// CowReady answers whether this helper would mount the XFS file of
	// the state directory (its policy's --cow-dir), mounting nothing: an
	// unprivileged daemon's auto strategy asks before it makes the file.
	"CowReady": cowMethod(func(m CowMounter, dir string, uid int) error { return m.CowReady(dir, uid) }),

	"UnmountCow": cowMethod(func(m CowMounter, dir string, uid int) error { return m.UnmountCow(dir, uid) }),

	"AttachDM": dmMethod(true, true, func(m DMMaker, a dmArgs, uid int) (any, error) {
		return m.AttachDM(a.StateDir, uid, a.Name, a.Disk)
	}),

	"DetachDM": dmMethod(true, false, func(m DMMaker, a dmArgs, uid int) (any, error) {
		return nil, m.DetachDM(a.StateDir, uid, a.Name)
	}),

	"ListDM": dmMethod(false, false, func(m DMMaker, a dmArgs, uid int) (any, error) {
		return m.ListDM(a.StateDir, uid)
	}),

	"ReadRules": typed(none, func(h Served, _ caller, _ noArgs) (any, error) {
		st, err := h.ReadRules()
		return statusToWire(st), err
	}),
}
