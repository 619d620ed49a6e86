package disk

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// TestWorkDiskUUIDWithoutTune2fs: work disks get a fresh UUID in every
// superblock copy, each with a valid checksum, without running tune2fs (a
// runner that has none), and e2fsck finds the result clean.
func TestWorkDiskUUIDWithoutTune2fs(t *testing.T) {
	needTool(t, "mkfs.ext4")
	e2fsck := needTool(t, "e2fsck")
	w := NewWorkDisks(filepath.Join(t.TempDir(), "cache"))
	w.run = runner{find: func(name string) (string, error) {
		if name == "tune2fs" {
			return "", errors.New("tune2fs must not run for a template with metadata_csum_seed")
		}
		return findTool(name)
	}}
	dir := t.TempDir()
	const size = 256 * mib
	a, b := filepath.Join(dir, "a.ext4"), filepath.Join(dir, "b.ext4")
	for _, p := range []string{a, b} {
		if err := w.Create(context.Background(), p, size); err != nil {
			t.Fatalf("Create(%s): %v", p, err)
		}
	}
	tmpl, err := readSuperblock(w.templatePath(size))
	if err != nil {
		t.Fatal(err)
	}
	sa, err := readSuperblock(a)
	if err != nil {
		t.Fatal(err)
	}
	sb, err := readSuperblock(b)
	if err != nil {
		t.Fatal(err)
	}
	if sa.uuid == tmpl.uuid || sb.uuid == tmpl.uuid || sa.uuid == sb.uuid {
		t.Errorf("UUIDs template %x, a %x, b %x: want three different", tmpl.uuid, sa.uuid, sb.uuid)
	}
	if out, err := exec.Command(e2fsck, "-fn", a).CombinedOutput(); err != nil {
		t.Errorf("e2fsck -fn %s: %v\n%s", a, err, out)
	}
	// Every backup superblock carries the new UUID with a valid checksum.
	f, err := os.Open(a)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	head := make([]byte, sbSize)
	if _, err := f.ReadAt(head, sbOffset); err != nil {
		t.Fatal(err)
	}
	offs := superblockCopies(sa, head)
	if len(offs) < 3 {
		t.Fatalf("superblock copies at %v: want the primary and at least two backups for %d bytes", offs, size)
	}
	for _, off := range offs[1:] {
		b := make([]byte, sbSize)
		if _, err := f.ReadAt(b, off); err != nil {
			t.Fatal(err)
		}
		cp, problem := parseSuperblock(b)
		if problem != "" || cp.uuid != sa.uuid {
			t.Errorf("backup superblock at byte %d: %q, UUID %x; want a valid copy with %x", off, problem, cp.uuid, sa.uuid)
		}
	}
}

func TestIsPower(t *testing.T) {
	for _, g := range []uint64{1, 3, 9, 27, 5, 25, 7, 49} {
		if !isPower(g, 3) && !isPower(g, 5) && !isPower(g, 7) {
			t.Errorf("%d: not found a power of 3, 5 or 7", g)
		}
	}
	for _, g := range []uint64{2, 4, 6, 10, 15, 21} {
		if isPower(g, 3) || isPower(g, 5) || isPower(g, 7) {
			t.Errorf("%d: taken for a power of 3, 5 or 7", g)
		}
	}
}
