package store

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"
)

// t0 is the fixed clock of stores made by newStore.
var t0 = time.Date(2025, 3, 1, 12, 0, 0, 123456789, time.UTC)

// newStore opens a fresh database in a temporary directory with a fixed
// clock, and closes it when the test ends.
func newStore(t testing.TB) *Store {
	t.Helper()
	s, err := Open(context.Background(), filepath.Join(t.TempDir(), "state.db"))
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	s.now = func() time.Time { return t0 }
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s
}

// hexID returns a valid 16-hex-character id derived from prefix and n.
func hexID(prefix byte, n int) string { return fmt.Sprintf("%c%015x", prefix, n) }

func testImage(n int) Image {
	return Image{
		ID:         hexID('a', n),
		Name:       fmt.Sprintf("image-%d", n),
		RootFS:     fmt.Sprintf("/var/lib/banger/images/%d/rootfs.ext4", n),
		Kernel:     "/var/lib/banger/kernels/k1/vmlinux",
		RootFSSize: 1 << 30,
		CreatedAt:  t0.Add(time.Duration(n) * time.Minute),
		State:      ImageReady,
		Identity:   ImageIdentityDebugfs,
	}
}

func testVM(n int, imageID string) VM {
	return VM{
		ID:         hexID('b', n),
		Name:       fmt.Sprintf("vm-%d", n),
		State:      "creating",
		ImageID:    imageID,
		VCPUs:      2,
		MemoryMiB:  1024,
		DiskBytes:  8 << 30,
		Driver:     "firecracker",
		Dir:        fmt.Sprintf("/var/lib/banger/vms/%d", n),
		RuntimeDir: fmt.Sprintf("/run/banger/vms/%d", n),
		CreatedAt:  t0.Add(time.Duration(n) * time.Second),
	}
}

// mustCreateImage creates testImage(n) and returns it.
func mustCreateImage(t testing.TB, s *Store, n int) Image {
	t.Helper()
	img := testImage(n)
	if err := s.CreateImage(context.Background(), img); err != nil {
		t.Fatalf("CreateImage: %v", err)
	}
	return img
}

// mustCreateVM creates testVM(n, imageID) and returns it as stored.
func mustCreateVM(t testing.TB, s *Store, n int, imageID string) VM {
	t.Helper()
	vm := testVM(n, imageID)
	if err := s.CreateVM(context.Background(), vm); err != nil {
		t.Fatalf("CreateVM: %v", err)
	}
	vm.UpdatedAt = s.now()
	return vm
}
