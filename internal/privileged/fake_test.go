package privileged

import (
	"fmt"
	"net/netip"
	"sort"
	"strings"
	"sync"

	"banger/internal/errdefs"
	"banger/internal/firewall"
)

// fakeLink is one link of fakeHost.
type fakeLink struct {
	Bridge   bool
	Kind     string       // a link neither bridge nor tap ("veth", "tun"); "" for those
	Alias    string       // bridges EnsureBridge made: "banger"
	Addr     netip.Prefix // bridges
	Master   string       // taps: the bridge they are on
	Up       bool
	UID, GID int
	Index    int
}

// fakeHost is a stateful in-memory Host: links, forwarding and the last
// rules applied. It records every call that reaches it.
type fakeHost struct {
	mu         sync.Mutex
	links      map[string]*fakeLink
	nextIndex  int
	forwarding bool
	rules      *firewall.Spec
	routes     []netip.Prefix
	calls      []string
}

func newFakeHost() *fakeHost {
	return &fakeHost{
		links:     map[string]*fakeLink{"eth0": {Kind: "device", Up: true, Index: 2}},
		nextIndex: 3,
		routes:    []netip.Prefix{netip.MustParsePrefix("192.168.1.0/24")},
	}
}

// record notes a call; the caller holds mu.
func (f *fakeHost) record(format string, args ...any) {
	f.calls = append(f.calls, fmt.Sprintf(format, args...))
}

// Calls returns the calls so far.
func (f *fakeHost) Calls() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.calls...)
}

// state is the fake's state without the call log, for comparing two fakes.
func (f *fakeHost) state() map[string]any {
	f.mu.Lock()
	defer f.mu.Unlock()
	links := map[string]fakeLink{}
	for n, l := range f.links {
		links[n] = *l
	}
	var rules any
	if f.rules != nil {
		rules = specToWire(*f.rules)
	}
	return map[string]any{"links": links, "forwarding": f.forwarding, "rules": rules}
}

func (f *fakeHost) EnsureBridge(name string, addr netip.Prefix) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.record("EnsureBridge %s %s", name, addr)
	l := f.links[name]
	if l == nil {
		l = &fakeLink{Bridge: true, Alias: "banger", Index: f.nextIndex}
		f.nextIndex++
		f.links[name] = l
	}
	if !l.Bridge {
		return errdefs.FailedPreconditionf("link %s exists and is not a bridge", name)
	}
	l.Addr, l.Up = addr, true
	return nil
}

func (f *fakeHost) CreateTap(name string, uid, gid int) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.record("CreateTap %s %d:%d", name, uid, gid)
	if f.links[name] != nil {
		return errdefs.AlreadyExistsf("create tap %s: a link of that name already exists", name)
	}
	f.links[name] = &fakeLink{UID: uid, GID: gid, Index: f.nextIndex}
	f.nextIndex++
	return nil
}

func (f *fakeHost) AttachTap(tap, bridge string) error {
	return f.AttachTapChecked(tap, bridge, func(_, _ LinkFacts) error { return nil })
}

func (f *fakeHost) DetachTap(tap string) error {
	return f.DetachTapChecked(tap, func(LinkFacts) error { return nil })
}

func (f *fakeHost) RenameLink(from, to string) error {
	return f.RenameLinkChecked(from, to, func(LinkFacts) error { return nil })
}

func (f *fakeHost) DeleteLink(name string) error {
	return f.DeleteLinkChecked(name, func(LinkFacts) error { return nil })
}

// facts is what the fake's kernel says about link name; the caller holds
// mu.
func (f *fakeHost) facts(name string) LinkFacts {
	l := f.links[name]
	lf := LinkFacts{Name: name, Index: l.Index, Kind: l.Kind, Alias: l.Alias}
	switch {
	case l.Bridge:
		lf.Kind = "bridge"
	case l.Kind == "":
		lf.Kind, lf.Tap, lf.Owner = "tuntap", true, uint32(l.UID)
	}
	return lf
}

func (f *fakeHost) AttachTapChecked(tap, bridge string, may func(tap, bridge LinkFacts) error) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.record("AttachTap %s %s", tap, bridge)
	t, br := f.links[tap], f.links[bridge]
	switch {
	case t == nil:
		return errdefs.NotFoundf("tap %s does not exist", tap)
	case br == nil:
		return errdefs.NotFoundf("bridge %s does not exist", bridge)
	}
	if err := may(f.facts(tap), f.facts(bridge)); err != nil {
		return err
	}
	if !br.Bridge {
		return errdefs.FailedPreconditionf("attach tap %s: link %s is not a bridge", tap, bridge)
	}
	t.Master, t.Up = bridge, true
	return nil
}

func (f *fakeHost) DetachTapChecked(tap string, may func(LinkFacts) error) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.record("DetachTap %s", tap)
	t := f.links[tap]
	if t == nil {
		return nil
	}
	if err := may(f.facts(tap)); err != nil {
		return err
	}
	t.Master, t.Up = "", false
	return nil
}

func (f *fakeHost) RenameLinkChecked(from, to string, may func(LinkFacts) error) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.record("RenameLink %s %s", from, to)
	l := f.links[from]
	if l == nil {
		return errdefs.NotFoundf("link %s does not exist", from)
	}
	if err := may(f.facts(from)); err != nil {
		return err
	}
	switch {
	case l.Up:
		return errdefs.FailedPreconditionf("rename link %s to %s: it is up: set it down first", from, to)
	case f.links[to] != nil:
		return errdefs.AlreadyExistsf("rename link %s to %s: a link named %s already exists", from, to, to)
	}
	delete(f.links, from)
	f.links[to] = l
	return nil
}

func (f *fakeHost) DeleteLinkChecked(name string, may func(LinkFacts) error) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.record("DeleteLink %s", name)
	if f.links[name] == nil {
		return nil
	}
	if err := may(f.facts(name)); err != nil {
		return err
	}
	delete(f.links, name)
	return nil
}

func (f *fakeHost) Links(prefix string) ([]string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.record("Links %s", prefix)
	var names []string
	for n := range f.links {
		if strings.HasPrefix(n, prefix) {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	return names, nil
}

func (f *fakeHost) LinkExists(name string) (bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.record("LinkExists %s", name)
	return f.links[name] != nil, nil
}

func (f *fakeHost) LinkIndex(name string) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.record("LinkIndex %s", name)
	l := f.links[name]
	if l == nil {
		return 0, errdefs.NotFoundf("link %s does not exist", name)
	}
	return l.Index, nil
}

func (f *fakeHost) RoutedPrefixes(exclude string) ([]netip.Prefix, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.record("RoutedPrefixes %s", exclude)
	out := append([]netip.Prefix(nil), f.routes...)
	for n, l := range f.links {
		if l.Bridge && n != exclude && l.Addr.IsValid() {
			out = append(out, l.Addr.Masked())
		}
	}
	return out, nil
}

func (f *fakeHost) Forwarding() (bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.record("Forwarding")
	return f.forwarding, nil
}

func (f *fakeHost) CowReady(stateDir string, uid int) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.record("CowReady %s %d", stateDir, uid)
	return nil
}

func (f *fakeHost) MountCow(stateDir string, uid int) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.record("MountCow %s %d", stateDir, uid)
	return nil
}

func (f *fakeHost) UnmountCow(stateDir string, uid int) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.record("UnmountCow %s %d", stateDir, uid)
	return nil
}

func (f *fakeHost) AttachDM(stateDir string, uid int, name, disk string) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.record("AttachDM %s %d %s %s", stateDir, uid, name, disk)
	return "/dev/mapper/" + name, nil
}

func (f *fakeHost) DetachDM(stateDir string, uid int, name string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.record("DetachDM %s %d %s", stateDir, uid, name)
	return nil
}

func (f *fakeHost) ListDM(stateDir string, uid int) ([]string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.record("ListDM %s %d", stateDir, uid)
	return nil, nil
}

func (f *fakeHost) SetForwarding(on bool) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.record("SetForwarding %t", on)
	f.forwarding = on
	return nil
}

func (f *fakeHost) ApplyRules(spec firewall.Spec) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.record("ApplyRules %s %d VMs", spec.Bridge, len(spec.VMs))
	if err := spec.Validate(); err != nil {
		return err
	}
	f.rules = &spec
	return nil
}

func (f *fakeHost) ReadRules() (firewall.Status, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.record("ReadRules")
	if f.rules == nil {
		return firewall.Status{}, nil
	}
	nat := 0
	for _, vm := range f.rules.VMs {
		if vm.NAT {
			nat++
		}
	}
	return firewall.Status{Present: true, Chains: 4, Rules: 10, NATVMs: nat}, nil
}
