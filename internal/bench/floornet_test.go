package bench

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	vnl "github.com/vishvananda/netlink"

	"banger/internal/api"
	"banger/internal/config"
	"banger/internal/cow"
	"banger/internal/disk"
	"banger/internal/netlink"
	"banger/internal/netnstest"
	"banger/internal/network"
	"banger/internal/store"
	"banger/internal/vm"
)

// floorNet is the floor's place on banger's network: a tap of its own on
// the bridge the world's daemon made, in the world's network namespace,
// and an address of the bridge's subnet.
type floorNet struct {
	ns      *netnstest.NS // the world's network namespace
	bridge  string
	tap     string
	addr    netip.Prefix // the floor guests' address: the subnet's last host address
	gateway netip.Addr   // the bridge's address: the guests' router and resolver, as banger gives them
}

// attachment is how floor VM id is wired, in the vm service's terms: what
// banger's network service would answer for a VM on the floor's tap.
func (n floorNet) attachment(id string) vm.NetAttachment {
	return vm.NetAttachment{Tap: n.tap, MAC: network.MACFor(id), Addr: n.addr, Gateway: n.gateway, DNS: n.gateway}
}

// newFloorNet makes the floor's tap in namespace netns with banger's
// netlink code (as banger's warm pool makes its taps) and attaches it to
// banger's bridge, which must exist: the daemon makes it when it starts.
// The tap is removed when tb ends.
func newFloorNet(tb testing.TB, netns string) floorNet {
	tb.Helper()
	n := floorNet{ns: netnstest.Open(tb, netns), bridge: config.DefaultBridge}
	var b [4]byte
	_, _ = rand.Read(b[:])
	n.tap = "bf-" + hex.EncodeToString(b[:]) // not banger's bt- or pool prefix: the daemon leaves it alone
	err := n.ns.Do(func() error {
		if err := netlink.CreateTap(n.tap, os.Getuid(), os.Getgid()); err != nil {
			return err
		}
		if err := netlink.AttachTap(n.tap, n.bridge); err != nil {
			return err
		}
		gw, err := bridgeAddr(n.bridge)
		n.gateway, n.addr = gw.Addr(), netip.PrefixFrom(lastHost(gw), gw.Bits())
		return err
	})
	tb.Cleanup(func() {
		if err := n.ns.Do(func() error { return netlink.DeleteLink(n.tap) }); err != nil {
			tb.Errorf("remove the floor's tap %s: %v", n.tap, err)
		}
	})
	if err != nil {
		tb.Fatalf("put the floor's tap on bridge %s in namespace %s: %v", n.bridge, netns, err)
	}
	return n
}

// bridgeAddr is the IPv4 address of bridge, with its prefix length.
func bridgeAddr(bridge string) (netip.Prefix, error) {
	l, err := vnl.LinkByName(bridge)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("find bridge %s: %w", bridge, err)
	}
	addrs, err := vnl.AddrList(l, vnl.FAMILY_V4)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("addresses of %s: %w", bridge, err)
	}
	for _, a := range addrs {
		ip, ok := netip.AddrFromSlice(a.IP.To4())
		ones, _ := a.Mask.Size()
		if ok {
			return netip.PrefixFrom(ip, ones), nil
		}
	}
	return netip.Prefix{}, fmt.Errorf("bridge %s has no IPv4 address", bridge)
}

// lastHost is the last host address of p's network (the one before its
// broadcast address): banger leases addresses from the first up.
func lastHost(p netip.Prefix) netip.Addr {
	a := p.Masked().Addr().As4()
	u := binary.BigEndian.Uint32(a[:]) | (1<<(32-p.Bits()) - 1)
	binary.BigEndian.PutUint32(a[:], u-1)
	return netip.AddrFrom4(a)
}

// newGuestFloor is the floor of world w, whose daemon is running and has
// registered img: it boots img's files on accelerator accel, with its tap
// on the daemon's bridge. Like banger's, its work-disk template is made
// before the samples.
func (w *world) newGuestFloor(ctx context.Context, accel string, img api.Image) guestFloor {
	w.tb.Helper()
	bin, err := exec.LookPath(qemuBin)
	if err != nil {
		w.tb.Fatalf("find %s: %v", qemuBin, err)
	}
	// The floor clones root disks as the daemon does, with the strategy
	// it chose, over a directory of the floor's own.
	info, err := w.client.Info(ctx)
	if err != nil {
		w.tb.Fatalf("system info: %v", err)
	}
	if err := os.MkdirAll(w.path("floor-state"), 0o700); err != nil {
		w.tb.Fatal(err)
	}
	disks, _, err := cow.Open(ctx, cow.Options{StateDir: w.path("floor-state"), UID: os.Getuid(), Force: info.DiskStrategy, Driver: cow.DriverQEMU})
	if err != nil {
		w.tb.Fatalf("open the daemon's disk strategy %q for the floor: %v", info.DiskStrategy, err)
	}
	dir := w.path("floor")
	if disks.Dir() != "" {
		dir = filepath.Join(disks.Dir(), "floor")
	}
	f := guestFloor{
		bin:   bin,
		accel: accel,
		image: store.Image{ID: img.ID, Name: img.Name, RootFS: img.RootFS, Kernel: img.Kernel, Initrd: img.Initrd, Identity: img.Identity},
		dir:   dir,
		disks: disks,
		work:  disk.NewWorkDisks(w.path("floor-cache")),
		net:   newFloorNet(w.tb, w.netns),
	}
	if err := f.work.Create(ctx, w.path("floor/warm-up.ext4"), guestDisk); err != nil {
		w.tb.Fatalf("make the floor's work-disk template: %v", err)
	}
	_ = os.Remove(w.path("floor/warm-up.ext4"))
	return f
}
