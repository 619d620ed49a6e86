package netlink

import (
	"net/netip"
	"testing"

	"banger/internal/errdefs"
	"banger/internal/netnstest"
)

// nobody is the uid and gid the tap tests give their taps.
const nobody = 65534

func TestCreateTapFlagsAndOwner(t *testing.T) {
	if !netnstest.Isolate(t) {
		return
	}
	if err := CreateTap("bt-flags", nobody, nobody); err != nil {
		t.Fatal(err)
	}
	// IFF_TAP|IFF_NO_PI|IFF_VNET_HDR|IFF_PERSIST; not IFF_MULTI_QUEUE.
	tests := []struct{ attr, want string }{
		{"tun_flags", "0x5802"},
		{"owner", "65534"},
		{"group", "65534"},
	}
	for _, tt := range tests {
		if got := sysfs(t, "bt-flags", tt.attr); got != tt.want {
			t.Errorf("%s = %q, want %q", tt.attr, got, tt.want)
		}
	}
	if isUp(t, "bt-flags") {
		t.Error("new tap is up, want down")
	}
	if got := masterName(t, "bt-flags"); got != "" {
		t.Errorf("new tap has master %q, want none", got)
	}
}

func TestCreateTapExisting(t *testing.T) {
	if !netnstest.Isolate(t) {
		return
	}
	addVeth(t, "bt-veth")
	if err := CreateTap("bt-tap", 0, 0); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"bt-veth", "bt-tap"} {
		err := CreateTap(name, nobody, nobody)
		if got, want := errdefs.KindOf(err), errdefs.AlreadyExists; got != want {
			t.Errorf("CreateTap(%s) again = %v (kind %s), want kind %s", name, err, got, want)
		}
	}
	if got, want := link(t, "bt-veth").Type(), "veth"; got != want {
		t.Errorf("bt-veth type = %q, want %q", got, want)
	}
	if got, want := sysfs(t, "bt-tap", "owner"), "0"; got != want {
		t.Errorf("bt-tap owner = %q after refused CreateTap, want %q", got, want)
	}
}

func TestCreateTapBadInput(t *testing.T) {
	tests := []struct {
		name     string
		uid, gid int
	}{
		{"Tap0", 0, 0},
		{"averyveryverylongtap", 0, 0},
		{"bt-neg", -1, 0},
		{"bt-neg", 0, -1},
	}
	for _, tt := range tests {
		err := CreateTap(tt.name, tt.uid, tt.gid)
		if got, want := errdefs.KindOf(err), errdefs.InvalidArgument; got != want {
			t.Errorf("CreateTap(%q, %d, %d) = %v (kind %s), want kind %s", tt.name, tt.uid, tt.gid, err, got, want)
		}
	}
}

func TestTapLifecycle(t *testing.T) {
	if !netnstest.Isolate(t) {
		return
	}
	if err := EnsureBridge(Bridge{Name: "banger0", Addr: netip.MustParsePrefix("10.77.0.1/24")}); err != nil {
		t.Fatal(err)
	}
	if err := CreateTap("bp-0", nobody, nobody); err != nil {
		t.Fatal(err)
	}
	// A pool tap is renamed to the VM's tap, then attached.
	if err := RenameLink("bp-0", "bt-vm1"); err != nil {
		t.Fatal(err)
	}
	if ok, _ := LinkExists("bp-0"); ok {
		t.Error("bp-0 still exists after rename")
	}
	for i := range 2 {
		if err := AttachTap("bt-vm1", "banger0"); err != nil {
			t.Fatalf("AttachTap #%d: %v", i+1, err)
		}
		if got, want := masterName(t, "bt-vm1"), "banger0"; got != want {
			t.Errorf("master after AttachTap #%d = %q, want %q", i+1, got, want)
		}
		if !isUp(t, "bt-vm1") {
			t.Errorf("tap down after AttachTap #%d", i+1)
		}
	}
	if err := RenameLink("bt-vm1", "bt-vm2"); !errdefs.Is(err, errdefs.FailedPrecondition) {
		t.Errorf("RenameLink of an up tap = %v, want a FailedPrecondition error", err)
	}
	for i := range 2 {
		if err := DetachTap("bt-vm1"); err != nil {
			t.Fatalf("DetachTap #%d: %v", i+1, err)
		}
		if got := masterName(t, "bt-vm1"); got != "" {
			t.Errorf("master after DetachTap #%d = %q, want none", i+1, got)
		}
		if isUp(t, "bt-vm1") {
			t.Errorf("tap up after DetachTap #%d", i+1)
		}
	}
	for i := range 2 {
		if err := DeleteLink("bt-vm1"); err != nil {
			t.Fatalf("DeleteLink #%d: %v", i+1, err)
		}
	}
	if ok, err := LinkExists("bt-vm1"); ok || err != nil {
		t.Errorf("LinkExists after delete = %v, %v; want false, nil", ok, err)
	}
	if err := DetachTap("bt-vm1"); err != nil {
		t.Errorf("DetachTap of a missing tap = %v, want nil", err)
	}
}

func TestAttachTapErrors(t *testing.T) {
	if !netnstest.Isolate(t) {
		return
	}
	addVeth(t, "notabridge")
	if err := CreateTap("bt-a", 0, 0); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		tap, bridge string
		want        errdefs.Kind
	}{
		{"bt-missing", "notabridge", errdefs.NotFound},
		{"bt-a", "nobridge", errdefs.NotFound},
		{"bt-a", "notabridge", errdefs.FailedPrecondition},
	}
	for _, tt := range tests {
		err := AttachTap(tt.tap, tt.bridge)
		if got := errdefs.KindOf(err); got != tt.want {
			t.Errorf("AttachTap(%s, %s) = %v (kind %s), want kind %s", tt.tap, tt.bridge, err, got, tt.want)
		}
	}
}
