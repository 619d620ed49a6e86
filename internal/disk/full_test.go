package disk

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"banger/internal/disk/disktest"
	"banger/internal/testtier"
)

// TestWorkDiskOnAFullFilesystem: mkfs.ext4 reports running out of room
// only in its message; the template it was making is judged out of room
// by the free space left, before its temporary file goes, and nothing is
// left behind.
func TestWorkDiskOnAFullFilesystem(t *testing.T) {
	testtier.Root(t)
	mnt := disktest.SmallFS(t, 16<<20)
	free, err := FreeSpace(mnt)
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(filepath.Join(mnt, "filler"))
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.Fallocate(int(f.Fd()), 0, 0, free.Available-512<<10); err != nil {
		t.Fatal(err)
	}
	f.Close()

	toolErr := errors.New("debugfs failed: exit status 1")
	if err := OutOfRoom(toolErr, mnt); !errors.Is(err, syscall.ENOSPC) || !errors.Is(err, toolErr) {
		t.Errorf("OutOfRoom with 512 KiB left = %v, want the tool's error matching ENOSPC", err)
	}

	cache := filepath.Join(mnt, "cache")
	w := NewWorkDisks(cache)
	err = w.Create(context.Background(), filepath.Join(t.TempDir(), "work.ext4"), 8<<30)
	if !IsNoSpace(err) {
		t.Errorf("work disk on a full cache = %v, want an out-of-room error", err)
	}
	entries, _ := os.ReadDir(cache)
	if len(entries) != 0 {
		t.Errorf("the cache holds %v after the failure, want nothing", entries)
	}
}
