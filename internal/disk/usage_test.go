package disk

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/google/go-cmp/cmp"

	"banger/internal/errdefs"
)

func TestUsageOf(t *testing.T) {
	dir := t.TempDir()
	// A sparse file: 64 MiB apparent, one 4 KiB block written.
	sparse := filepath.Join(dir, "sparse.img")
	f, err := os.Create(sparse)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt(make([]byte, 4096), 1<<20); err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(64 << 20); err != nil {
		t.Fatal(err)
	}
	f.Close()
	sub := filepath.Join(dir, "sub")
	if err := os.Mkdir(sub, 0o700); err != nil {
		t.Fatal(err)
	}
	data := filepath.Join(sub, "data")
	if err := os.WriteFile(data, make([]byte, 100<<10), 0o600); err != nil {
		t.Fatal(err)
	}
	// A hard link is counted once, a symlink not at all.
	if err := os.Link(data, filepath.Join(dir, "link")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(data, filepath.Join(dir, "sym")); err != nil {
		t.Fatal(err)
	}

	got, err := UsageOf(dir)
	if err != nil {
		t.Fatal(err)
	}
	if got.Files != 2 || got.Apparent != 64<<20+100<<10 {
		t.Errorf("UsageOf = %+v, want 2 files, %d apparent bytes", got, 64<<20+100<<10)
	}
	if got.Allocated < 100<<10+4096 || got.Allocated > 2<<20 {
		t.Errorf("allocated = %d, want the written blocks only (about 104 KiB), not the sparse file's size", got.Allocated)
	}

	one, err := UsageOf(sparse)
	if err != nil {
		t.Fatal(err)
	}
	if one.Files != 1 || one.Apparent != 64<<20 || one.Allocated >= 1<<20 {
		t.Errorf("UsageOf(sparse file) = %+v", one)
	}

	none, err := UsageOf(filepath.Join(dir, "missing"))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(Usage{}, none); diff != "" {
		t.Errorf("UsageOf(missing) (-want +got):\n%s", diff)
	}
}

func TestFreeSpace(t *testing.T) {
	dir := t.TempDir()
	f, err := FreeSpace(filepath.Join(dir, "not", "yet", "made"))
	if err != nil {
		t.Fatal(err)
	}
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		t.Fatal(err)
	}
	if f.Total != int64(st.Blocks)*int64(st.Bsize) || f.Available <= 0 || f.Available > f.Total {
		t.Errorf("FreeSpace = %+v, want the filesystem of %s (%d bytes)", f, dir, int64(st.Blocks)*int64(st.Bsize))
	}
}

func TestCheckRoom(t *testing.T) {
	dir := t.TempDir()
	if err := CheckRoom(dir, 1, "write one byte"); err != nil {
		t.Fatalf("CheckRoom(1 byte) = %v", err)
	}
	err := CheckRoom(dir, 1<<50, "copy the root disk of VM a")
	if err == nil {
		t.Fatal("CheckRoom(1 PiB) succeeded")
	}
	if errdefs.KindOf(err) != errdefs.FailedPrecondition {
		t.Errorf("kind = %s, want failed_precondition", errdefs.KindOf(err))
	}
	if !IsNoSpace(err) {
		t.Errorf("IsNoSpace(%v) = false", err)
	}
	var ns *NoSpaceError
	if !errors.As(err, &ns) || ns.Need != 1<<50 || ns.Free <= 0 {
		t.Errorf("error %v does not carry the need and the free space", err)
	}
	for _, want := range []string{"copy the root disk of VM a needs 1.0 PiB", dir, "is free", "banger vm prune"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
}

func TestOutOfRoom(t *testing.T) {
	dir := t.TempDir()
	toolErr := errors.New("mkfs.ext4 failed: exit status 1")
	if got := OutOfRoom(toolErr, dir); got != toolErr {
		t.Errorf("OutOfRoom on a filesystem with room = %v, want the error unchanged", got)
	}
	if got := OutOfRoom(nil, dir); got != nil {
		t.Errorf("OutOfRoom(nil) = %v", got)
	}
	enospc := &os.PathError{Op: "write", Path: "x", Err: syscall.ENOSPC}
	if got := OutOfRoom(enospc, dir); got != enospc {
		t.Errorf("OutOfRoom(ENOSPC) = %v, want it unchanged", got)
	}
}
