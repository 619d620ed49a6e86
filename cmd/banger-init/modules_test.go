package main

import (
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/sys/unix"

	"banger/internal/initramfs/initlayout"
)

// fakeKernel loads modules into a set, refusing one whose dependencies
// are not loaded yet (as the kernel does: unknown symbols), and records
// what it was asked to load.
type fakeKernel struct {
	mu     sync.Mutex
	deps   map[string][]string
	loaded map[string]bool
	tried  []string
	fail   map[string]error
	// hold, when set for a module, is called before it loads.
	hold map[string]func() error
}

func newFakeKernel(list []initlayout.ListEntry) *fakeKernel {
	k := &fakeKernel{deps: map[string][]string{}, loaded: map[string]bool{}, fail: map[string]error{}, hold: map[string]func() error{}}
	for _, e := range list {
		k.deps[moduleName(e.File)] = e.Depends
	}
	return k
}

func (k *fakeKernel) load(file, name string) error {
	k.mu.Lock()
	k.tried = append(k.tried, name)
	hold := k.hold[name]
	k.mu.Unlock()
	if hold != nil {
		if err := hold(); err != nil {
			return err
		}
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	if file != name+".ko" {
		return errors.New("wrong file " + file)
	}
	for _, d := range k.deps[name] {
		if !k.loaded[d] {
			return errors.New("unknown symbols: " + d + " is not loaded")
		}
	}
	if err := k.fail[name]; err != nil {
		return err
	}
	k.loaded[name] = true
	return nil
}

// bangerList is the list banger writes for Debian's cloud kernel.
var bangerList = initlayout.ParseList(`virtio_ring.ko
virtio.ko virtio_ring
virtio_mmio.ko virtio virtio_ring
virtio_blk.ko virtio virtio_ring
failover.ko
net_failover.ko failover
virtio_net.ko net_failover virtio virtio_ring
virtio_console.ko virtio virtio_ring
virtio_rng.ko virtio virtio_ring
vsock.ko
vmw_vsock_virtio_transport_common.ko vsock
vmw_vsock_virtio_transport.ko virtio virtio_ring vmw_vsock_virtio_transport_common vsock
`)

func TestLoadModulesAfterDependencies(t *testing.T) {
	k := newFakeKernel(bangerList)
	if err := loadModules(bangerList, k.load); err != nil {
		t.Fatal(err)
	}
	for _, e := range bangerList {
		if !k.loaded[moduleName(e.File)] {
			t.Errorf("%s not loaded", e.File)
		}
	}
	if len(k.tried) != len(bangerList) {
		t.Errorf("tried %d loads, want %d: %v", len(k.tried), len(bangerList), k.tried)
	}
}

// TestLoadModulesInParallel: the block driver and the network driver need
// only the virtio core, so neither waits for the other. The block
// driver's load holds until the network driver's load has begun: loading
// one module at a time, in list order, never gets there.
func TestLoadModulesInParallel(t *testing.T) {
	k := newFakeKernel(bangerList)
	netStarted := make(chan struct{})
	k.hold["virtio_net"] = func() error { close(netStarted); return nil }
	k.hold["virtio_blk"] = func() error {
		select {
		case <-netStarted:
			return nil
		case <-time.After(20 * time.Second): // a bound on the deadlock, not a timing
			return errors.New("virtio_net did not start loading while virtio_blk was loading: modules load one at a time")
		}
	}
	if err := loadModules(bangerList, k.load); err != nil {
		t.Fatal(err)
	}
}

func TestLoadModulesFailure(t *testing.T) {
	k := newFakeKernel(bangerList)
	k.fail["virtio_ring"] = errors.New("load /lib/modules/virtio_ring.ko: exec format error")
	err := loadModules(bangerList, k.load)
	if err == nil || err.Error() != "module virtio_ring: load /lib/modules/virtio_ring.ko: exec format error" {
		t.Fatalf("loadModules = %v, want virtio_ring's error", err)
	}
	// Nothing that needs virtio_ring was tried; the rest loaded.
	for _, name := range k.tried {
		for _, d := range k.deps[name] {
			if d == "virtio_ring" {
				t.Errorf("%s was tried though virtio_ring failed", name)
			}
		}
	}
	want := map[string]bool{"failover": true, "net_failover": true, "vsock": true, "vmw_vsock_virtio_transport_common": true}
	if diff := cmp.Diff(want, k.loaded); diff != "" {
		t.Errorf("loaded (-want +got):\n%s", diff)
	}
}

func TestLoadModulesBadList(t *testing.T) {
	for _, tc := range []struct{ list, err string }{
		{"virtio_blk.ko virtio\nvirtio.ko\n", "virtio_blk depends on virtio, which is not listed before it"},
		{"a.ko b\nb.ko a\n", "a depends on b, which is not listed before it"},
		{"virtio.ko\nvirtio.ko\n", "virtio is listed twice"},
	} {
		list := initlayout.ParseList(tc.list)
		k := newFakeKernel(list)
		err := loadModules(list, k.load)
		if err == nil || !strings.Contains(err.Error(), tc.err) {
			t.Errorf("list %q: loadModules = %v, want %q", tc.list, err, tc.err)
		}
		if len(k.tried) != 0 {
			t.Errorf("list %q: tried %v before refusing the list", tc.list, k.tried)
		}
	}
}

// TestWaitAndMount: the node appears before the disk can be opened, and
// the mount is tried again while it fails with ENXIO; another error ends
// the wait at once.
func TestWaitAndMount(t *testing.T) {
	cfg := parseCmdline("root=/dev/vda rw")
	checks, mounts := 0, 0
	exists := func(string) bool { checks++; return checks > 2 }
	dev, err := waitAndMount(cfg, exists, func(dev string) error {
		mounts++
		if mounts < 3 {
			return unix.ENXIO
		}
		return nil
	})
	if err != nil || dev != "/dev/vda" || mounts != 3 {
		t.Errorf("waitAndMount = %q, %v after %d mounts; want /dev/vda mounted on the third try", dev, err, mounts)
	}

	mounts = 0
	_, err = waitAndMount(cfg, func(string) bool { return true }, func(string) error { mounts++; return unix.EINVAL })
	if !errors.Is(err, unix.EINVAL) || mounts != 1 {
		t.Errorf("waitAndMount with EINVAL = %v after %d mounts; want EINVAL at once", err, mounts)
	}
	if _, err := waitAndMount(parseCmdline("root=LABEL=x"), exists, nil); err == nil {
		t.Error("root=LABEL=x accepted")
	}
}
