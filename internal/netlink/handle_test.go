package netlink

import (
	"net/netip"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"banger/internal/netnstest"
	"banger/internal/testtier"
)

// TestLookupLinkFacts: LookupLink says what a link is, owner included.
func TestLookupLinkFacts(t *testing.T) {
	testtier.Root(t)
	if !netnstest.Isolate(t) {
		return
	}
	if err := CreateTap("bt-owned", nobody, 4711); err != nil {
		t.Fatal(err)
	}
	addVeth(t, "bt-veth")
	if err := EnsureBridge(Bridge{Name: "br-test", Addr: netip.MustParsePrefix("10.77.0.1/24")}); err != nil {
		t.Fatal(err)
	}
	ignore := cmpopts.IgnoreFields(Link{}, "Index", "Master", "link")
	tests := []struct {
		name string
		want *Link
	}{
		{"bt-owned", &Link{Name: "bt-owned", Kind: "tuntap", Tap: true, Owner: nobody, Group: 4711}},
		{"bt-veth", &Link{Name: "bt-veth", Kind: "veth"}},
		{"br-test", &Link{Name: "br-test", Kind: "bridge", Alias: BridgeAlias, Up: true}},
		{"bt-missing", nil},
	}
	for _, tt := range tests {
		got, err := LookupLink(tt.name)
		if err != nil {
			t.Fatalf("LookupLink(%s): %v", tt.name, err)
		}
		if diff := cmp.Diff(tt.want, got, ignore); diff != "" {
			t.Errorf("LookupLink(%s) (-want +got):\n%s", tt.name, diff)
		}
		if got != nil && got.Index != link(t, tt.name).Attrs().Index {
			t.Errorf("LookupLink(%s).Index = %d, kernel says %d", tt.name, got.Index, link(t, tt.name).Attrs().Index)
		}
	}
}

// TestLinkActsByIndex: a link renamed after it was looked up is still the
// one changed, and a new link that took its old name is left alone.
func TestLinkActsByIndex(t *testing.T) {
	testtier.Root(t)
	if !netnstest.Isolate(t) {
		return
	}
	if err := CreateTap("bt-first", 0, 0); err != nil {
		t.Fatal(err)
	}
	l, err := LookupLink("bt-first")
	if err != nil || l == nil {
		t.Fatalf("LookupLink: %v, %v", l, err)
	}
	if err := RenameLink("bt-first", "bt-moved"); err != nil {
		t.Fatal(err)
	}
	addVeth(t, "bt-first") // someone else's link takes the name
	if err := l.Delete(); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	if ok, _ := LinkExists("bt-moved"); ok {
		t.Error("the looked-up tap, renamed to bt-moved, survived its Delete")
	}
	if got := link(t, "bt-first").Type(); got != "veth" {
		t.Errorf("bt-first is now a %q, want the veth left alone", got)
	}
}
