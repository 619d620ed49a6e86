package netlink

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	vnl "github.com/vishvananda/netlink"

	"banger/internal/errdefs"
	"banger/internal/netnstest"
)

var gw = netip.MustParsePrefix("10.77.0.1/24")

func TestEnsureBridgeCreatesAndIsIdempotent(t *testing.T) {
	if !netnstest.Isolate(t) {
		return
	}
	b := Bridge{Name: "banger0", Addr: gw}
	for i := range 2 {
		if err := EnsureBridge(b); err != nil {
			t.Fatalf("EnsureBridge #%d: %v", i+1, err)
		}
		if got, want := link(t, "banger0").Type(), "bridge"; got != want {
			t.Errorf("type = %q, want %q", got, want)
		}
		if diff := cmp.Diff([]netip.Prefix{gw}, v4Addrs(t, "banger0"), cmp.Comparer(func(a, b netip.Prefix) bool { return a == b })); diff != "" {
			t.Errorf("addresses after #%d (-want +got):\n%s", i+1, diff)
		}
		if !isUp(t, "banger0") {
			t.Errorf("bridge is down after #%d", i+1)
		}
	}
}

func TestEnsureBridgeReplacesAddresses(t *testing.T) {
	if !netnstest.Isolate(t) {
		return
	}
	if err := EnsureBridge(Bridge{Name: "banger0", Addr: netip.MustParsePrefix("10.77.0.5/24")}); err != nil {
		t.Fatal(err)
	}
	// Another address of a different subnet, as a stale config might leave.
	if err := netnstest.AddrAdd("banger0", "192.0.2.1/24"); err != nil {
		t.Fatal(err)
	}
	if err := EnsureBridge(Bridge{Name: "banger0", Addr: gw}); err != nil {
		t.Fatal(err)
	}
	got := v4Addrs(t, "banger0")
	if len(got) != 1 || got[0] != gw {
		t.Errorf("addresses = %v, want only %v", got, gw)
	}
}

func TestEnsureBridgeRefusesOtherLinkType(t *testing.T) {
	if !netnstest.Isolate(t) {
		return
	}
	addVeth(t, "banger0")
	err := EnsureBridge(Bridge{Name: "banger0", Addr: gw})
	if err == nil {
		t.Fatal("EnsureBridge over a veth link succeeded, want an error")
	}
	if !strings.Contains(err.Error(), "banger0") || !strings.Contains(err.Error(), "veth") {
		t.Errorf("error %q should name the link and its type", err)
	}
	if got, want := errdefs.KindOf(err), errdefs.FailedPrecondition; got != want {
		t.Errorf("kind = %s, want %s", got, want)
	}
	if got, want := link(t, "banger0").Type(), "veth"; got != want {
		t.Errorf("link type = %q after refusal, want %q", got, want)
	}
}

func TestEnsureBridgeBadInput(t *testing.T) {
	tests := []Bridge{
		{Name: "Banger0", Addr: gw},
		{Name: "banger0"},
		{Name: "banger0", Addr: netip.MustParsePrefix("fd00::1/64")},
	}
	for _, b := range tests {
		err := EnsureBridge(b)
		if got, want := errdefs.KindOf(err), errdefs.InvalidArgument; got != want {
			t.Errorf("EnsureBridge(%+v) = %v (kind %s), want kind %s", b, err, got, want)
		}
	}
}

func TestBridgeMACStaysWhenTapsComeAndGo(t *testing.T) {
	if !netnstest.Isolate(t) {
		return
	}
	if err := EnsureBridge(Bridge{Name: "banger0", Addr: gw}); err != nil {
		t.Fatal(err)
	}
	want := BridgeMAC("banger0").String()
	for _, tap := range []string{"bt-one", "bt-two"} {
		if err := CreateTap(tap, 0, 0); err != nil {
			t.Fatal(err)
		}
		if err := AttachTap(tap, "banger0"); err != nil {
			t.Fatal(err)
		}
		if got := link(t, "banger0").Attrs().HardwareAddr.String(); got != want {
			t.Fatalf("bridge MAC with %s attached = %s, want %s", tap, got, want)
		}
	}
	if err := DeleteLink("bt-one"); err != nil {
		t.Fatal(err)
	}
	if got := link(t, "banger0").Attrs().HardwareAddr.String(); got != want {
		t.Fatalf("bridge MAC after a tap left = %s, want %s", got, want)
	}
	if BridgeMAC("banger0").String() == BridgeMAC("banger1").String() || BridgeMAC("x")[0]&1 != 0 {
		t.Error("bridge MACs must differ by name and be unicast")
	}
}

func TestEnsureBridgeRefusesSomeoneElsesBridge(t *testing.T) {
	if !netnstest.Isolate(t) {
		return
	}
	if err := vnl.LinkAdd(&vnl.Bridge{LinkAttrs: vnl.LinkAttrs{Name: "docker0"}}); err != nil {
		t.Fatal(err)
	}
	if err := netnstest.AddrAdd("docker0", "172.17.0.1/16"); err != nil {
		t.Fatal(err)
	}
	err := EnsureBridge(Bridge{Name: "docker0", Addr: gw})
	if !errdefs.Is(err, errdefs.FailedPrecondition) || !strings.Contains(err.Error(), "not made by banger") {
		t.Fatalf("EnsureBridge on docker0 = %v, want FailedPrecondition", err)
	}
	if got := v4Addrs(t, "docker0"); len(got) != 1 || got[0].String() != "172.17.0.1/16" {
		t.Errorf("docker0's addresses changed to %v", got)
	}
}
