package privileged

import (
	"encoding/json"

	"banger/internal/errdefs"
)

// action is a checked request, ready to run on a Host.
type action func(h Host) (any, error)

// handler decodes a method's arguments and checks them against the policy
// and the caller. It returns the action to run, or why it is refused;
// nothing touches the host before it returns.
type handler func(p Policy, c caller, raw json.RawMessage) (action, error)

// typed makes a handler for arguments of type A: strict decoding, then
// check, then do.
func typed[A any](check func(p Policy, c caller, a A) error, do func(h Host, a A) (any, error)) handler {
	return func(p Policy, c caller, raw json.RawMessage) (action, error) {
		var a A
		if err := decodeStrict(raw, &a); err != nil {
			return nil, errdefs.InvalidArgumentf("arguments: %w", err)
		}
		if err := check(p, c, a); err != nil {
			return nil, err
		}
		return func(h Host) (any, error) { return do(h, a) }, nil
	}
}

// none checks nothing, for methods without arguments.
func none(Policy, caller, noArgs) error { return nil }

// methods are the helper's methods by name. Every one is in Host.
var methods = map[string]handler{
	"EnsureBridge": typed(func(p Policy, _ caller, a ensureBridgeArgs) error {
		if err := p.bridge("name", a.Name); err != nil {
			return err
		}
		return addr(a.Addr)
	}, func(h Host, a ensureBridgeArgs) (any, error) { return nil, h.EnsureBridge(a.Name, a.Addr) }),

	"CreateTap": typed(func(_ Policy, c caller, a createTapArgs) error {
		if err := tap("name", a.Name); err != nil {
			return err
		}
		return owner(c, a.UID, a.GID)
	}, func(h Host, a createTapArgs) (any, error) { return nil, h.CreateTap(a.Name, a.UID, a.GID) }),

	"AttachTap": typed(func(p Policy, _ caller, a attachTapArgs) error {
		if err := tap("tap", a.Tap); err != nil {
			return err
		}
		return p.bridge("bridge", a.Bridge)
	}, func(h Host, a attachTapArgs) (any, error) { return nil, h.AttachTap(a.Tap, a.Bridge) }),

	"DetachTap": typed(func(_ Policy, _ caller, a tapArgs) error {
		return tap("tap", a.Tap)
	}, func(h Host, a tapArgs) (any, error) { return nil, h.DetachTap(a.Tap) }),

	"RenameLink": typed(func(_ Policy, _ caller, a renameArgs) error {
		if err := tap("from", a.From); err != nil {
			return err
		}
		return tap("to", a.To)
	}, func(h Host, a renameArgs) (any, error) { return nil, h.RenameLink(a.From, a.To) }),

	"DeleteLink": typed(func(_ Policy, _ caller, a nameArgs) error {
		return tap("name", a.Name)
	}, func(h Host, a nameArgs) (any, error) { return nil, h.DeleteLink(a.Name) }),

	"Links": typed(func(_ Policy, _ caller, a prefixArgs) error {
		return linkPrefix(a.Prefix)
	}, func(h Host, a prefixArgs) (any, error) { return h.Links(a.Prefix) }),

	"LinkExists": typed(func(p Policy, _ caller, a nameArgs) error {
		return p.bridgeOrTap("name", a.Name)
	}, func(h Host, a nameArgs) (any, error) { return h.LinkExists(a.Name) }),

	"LinkIndex": typed(func(p Policy, _ caller, a nameArgs) error {
		return p.bridgeOrTap("name", a.Name)
	}, func(h Host, a nameArgs) (any, error) { return h.LinkIndex(a.Name) }),

	"RoutedPrefixes": typed(func(p Policy, _ caller, a excludeArgs) error {
		if a.Exclude == "" {
			return nil
		}
		return p.bridge("exclude", a.Exclude)
	}, func(h Host, a excludeArgs) (any, error) { return h.RoutedPrefixes(a.Exclude) }),

	"Forwarding": typed(none, func(h Host, _ noArgs) (any, error) { return h.Forwarding() }),

	"SetForwarding": typed(func(_ Policy, _ caller, a forwardingArgs) error {
		if a.On == nil {
			return errdefs.InvalidArgumentf("on: missing: say true or false")
		}
		return nil
	}, func(h Host, a forwardingArgs) (any, error) { return nil, h.SetForwarding(*a.On) }),

	"ApplyRules": typed(func(p Policy, _ caller, a rulesArgs) error {
		s, err := a.Spec.spec()
		if err != nil {
			return err
		}
		return p.rules(s)
	}, func(h Host, a rulesArgs) (any, error) {
		s, err := a.Spec.spec()
		if err != nil {
			return nil, err
		}
		return nil, h.ApplyRules(s)
	}),

	"ReadRules": typed(none, func(h Host, _ noArgs) (any, error) {
		st, err := h.ReadRules()
		return statusToWire(st), err
	}),
}
