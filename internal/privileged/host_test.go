package privileged

import (
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	vnl "github.com/vishvananda/netlink"

	"banger/internal/errdefs"
	"banger/internal/firewall"
	"banger/internal/netnstest"
	"banger/internal/testtier"
)

// kernelState is what the test reads back from the kernel itself, not
// through a Host.
type kernelState struct {
	BridgeType  string
	BridgeUp    bool
	BridgeAddrs []string
	TapType     string
	TapMaster   string
	TapUp       bool
	TapOwner    string
	Rules       firewall.Status
}

func readKernel(t *testing.T, bridge, tap string) kernelState {
	t.Helper()
	var s kernelState
	if br, err := vnl.LinkByName(bridge); err == nil {
		s.BridgeType, s.BridgeUp = br.Type(), br.Attrs().RawFlags&1 != 0
		addrs, err := vnl.AddrList(br, vnl.FAMILY_V4)
		if err != nil {
			t.Fatal(err)
		}
		for _, a := range addrs {
			s.BridgeAddrs = append(s.BridgeAddrs, a.IPNet.String())
		}
	}
	if l, err := vnl.LinkByName(tap); err == nil {
		s.TapType, s.TapUp = l.Type(), l.Attrs().RawFlags&1 != 0
		if m := l.Attrs().MasterIndex; m != 0 {
			ml, err := vnl.LinkByIndex(m)
			if err != nil {
				t.Fatal(err)
			}
			s.TapMaster = ml.Attrs().Name
		}
		b, err := os.ReadFile("/sys/class/net/" + tap + "/owner")
		if err != nil {
			t.Fatal(err)
		}
		s.TapOwner = strings.TrimSpace(string(b))
	}
	st, err := firewall.Read()
	if err != nil {
		t.Fatal(err)
	}
	s.Rules = st
	return s
}

const (
	hostBridge = "banger0"
	hostTap    = "bt-0123456789ab"
)

// exercise runs the life of one VM's networking on h and returns the
// kernel's state while the VM is attached and after its tap is deleted.
func exercise(t *testing.T, h Host) (attached, deleted kernelState) {
	t.Helper()
	must := func(what string, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	must("EnsureBridge", h.EnsureBridge(hostBridge, netip.MustParsePrefix("10.77.0.1/24")))
	must("CreateTap", h.CreateTap(hostTap, os.Getuid(), os.Getgid()))
	must("AttachTap", h.AttachTap(hostTap, hostBridge))
	spec := firewall.Spec{Bridge: hostBridge, Gateway: netip.MustParsePrefix("10.77.0.1/24"), DNSPort: 53,
		VMs: []firewall.VM{{Tap: hostTap, IP: netip.MustParseAddr("10.77.0.2"), MAC: net.HardwareAddr{0x0a, 0, 0, 0, 0, 2}, NAT: true}}}
	must("ApplyRules", h.ApplyRules(spec))
	st, err := h.ReadRules()
	must("ReadRules", err)
	if !st.Present || st.NATVMs != 1 {
		t.Errorf("ReadRules = %+v, want present with 1 NAT VM", st)
	}
	taps, err := h.Links("bt-")
	must("Links", err)
	if diff := cmp.Diff([]string{hostTap}, taps); diff != "" {
		t.Errorf("Links(bt-) (-want +got):\n%s", diff)
	}
	idx, err := h.LinkIndex(hostBridge)
	must("LinkIndex", err)
	if l, err := vnl.LinkByName(hostBridge); err != nil || l.Attrs().Index != idx {
		t.Errorf("LinkIndex(%s) = %d, kernel says %v (%v)", hostBridge, idx, l, err)
	}
	routes, err := h.RoutedPrefixes("")
	must("RoutedPrefixes", err)
	if !contains(routes, netip.MustParsePrefix("10.77.0.0/24")) {
		t.Errorf("RoutedPrefixes = %v, want the bridge's 10.77.0.0/24", routes)
	}
	attached = readKernel(t, hostBridge, hostTap)
	must("DetachTap", h.DetachTap(hostTap))
	must("DeleteLink", h.DeleteLink(hostTap))
	if ok, err := h.LinkExists(hostTap); err != nil || ok {
		t.Errorf("LinkExists after delete = %v, %v", ok, err)
	}
	return attached, readKernel(t, hostBridge, hostTap)
}

func contains(ps []netip.Prefix, p netip.Prefix) bool {
	for _, q := range ps {
		if q == p {
			return true
		}
	}
	return false
}

// TestRealHost: the same VM networking through the helper and in-process
// leaves the kernel in the same, expected state.
func TestRealHost(t *testing.T) {
	testtier.Root(t)
	if !netnstest.Isolate(t) {
		return
	}
	hp := startHelper(t, Policy{UID: 4711, Bridge: hostBridge}, NewLocal(), requestTimeout)
	wantAttached := kernelState{
		BridgeType: "bridge", BridgeUp: true, BridgeAddrs: []string{"10.77.0.1/24"},
		TapType: "tuntap", TapMaster: hostBridge, TapUp: true, TapOwner: strconv.Itoa(os.Getuid()),
	}
	wantDeleted := kernelState{BridgeType: "bridge", BridgeUp: true, BridgeAddrs: []string{"10.77.0.1/24"}}

	var got [2]kernelState
	for i, path := range []struct {
		name string
		host Host
	}{
		{"through the helper", Client{Socket: hp.socket}},
		{"in-process", NewLocal()},
	} {
		attached, deleted := exercise(t, path.host)
		if attached.Rules.Chains == 0 || attached.Rules.Rules == 0 || attached.Rules.NATVMs != 1 {
			t.Errorf("%s: rules while attached %+v", path.name, attached.Rules)
		}
		got[i] = attached
		// The counts are the firewall package's business; they must be
		// the same on both paths and stay after the tap goes.
		wantAttached.Rules, wantDeleted.Rules = attached.Rules, attached.Rules
		if diff := cmp.Diff(wantAttached, attached); diff != "" {
			t.Errorf("%s: kernel while attached (-want +got):\n%s", path.name, diff)
		}
		if diff := cmp.Diff(wantDeleted, deleted); diff != "" {
			t.Errorf("%s: kernel after delete (-want +got):\n%s", path.name, diff)
		}
		// Start the next path from a bare namespace.
		if err := vnl.LinkDel(&vnl.Bridge{LinkAttrs: vnl.LinkAttrs{Name: hostBridge}}); err != nil {
			t.Fatal(err)
		}
		if err := firewall.Remove(); err != nil {
			t.Fatal(err)
		}
	}
	if diff := cmp.Diff(got[0], got[1]); diff != "" {
		t.Errorf("kernel while attached, helper (-) and in-process (+):\n%s", diff)
	}
}

// TestRealHostRefusals: the helper refuses to touch links that are not
// banger's, and they survive.
func TestRealHostRefusals(t *testing.T) {
	testtier.Root(t)
	if !netnstest.Isolate(t) {
		return
	}
	hp := startHelper(t, Policy{UID: 4711, Bridge: hostBridge}, NewLocal(), requestTimeout)
	c := Client{Socket: hp.socket}
	tests := []struct {
		name string
		call func() error
		kind errdefs.Kind
	}{
		{"delete lo", func() error { return c.DeleteLink("lo") }, errdefs.InvalidArgument},
		{"rename lo", func() error { return c.RenameLink("lo", "bt-0123456789ab") }, errdefs.InvalidArgument},
		{"bridge lo", func() error { return c.EnsureBridge("lo", netip.MustParsePrefix("10.77.0.1/24")) }, errdefs.FailedPrecondition},
	}
	for _, tt := range tests {
		if err := tt.call(); errdefs.KindOf(err) != tt.kind {
			t.Errorf("%s: %v, want kind %s", tt.name, err, tt.kind)
		}
	}
	if l, err := vnl.LinkByName("lo"); err != nil || l.Attrs().RawFlags&1 == 0 {
		t.Errorf("lo after the refusals: %v, %v; want it there and up", l, err)
	}
	// A real failure of the host keeps its kind through the helper.
	if err := c.AttachTap("bt-ffffffffffff", hostBridge); errdefs.KindOf(err) != errdefs.NotFound {
		t.Errorf("attach a missing tap: %v, want not_found", err)
	}
}
