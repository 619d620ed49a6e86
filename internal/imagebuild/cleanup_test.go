package imagebuild

import (
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"

	"banger/internal/testtier"
)

// TestRemoveTreeDetachesMounts is the guard against deleting host files
// through a mount a killed bootstrap left in its tree.
func TestRemoveTreeDetachesMounts(t *testing.T) {
	testtier.Root(t) // bind-mounts a directory
	host := t.TempDir()
	writeTree(t, host, map[string]string{"precious": "keep me"})
	tree := filepath.Join(t.TempDir(), "tree")
	writeTree(t, tree, map[string]string{"dev/x": "", "etc/passwd": ""})
	if err := unix.Mount(host, filepath.Join(tree, "dev"), "", unix.MS_BIND, ""); err != nil {
		t.Skipf("needs mount: %v", err)
	}
	t.Cleanup(func() { _ = unix.Unmount(filepath.Join(tree, "dev"), unix.MNT_DETACH) })

	if err := removeTree(tree); err != nil {
		t.Fatalf("removeTree: %v", err)
	}
	if _, err := os.Stat(tree); err == nil {
		t.Errorf("%s still exists", tree)
	}
	if got, err := os.ReadFile(filepath.Join(host, "precious")); err != nil || string(got) != "keep me" {
		t.Errorf("removeTree deleted through a mount: precious = %q, %v", got, err)
	}
}

func TestMountsUnder(t *testing.T) {
	got, err := mountsUnder("/proc")
	if err != nil {
		t.Fatal(err)
	}
	if len(got) == 0 || got[len(got)-1] != "/proc" {
		t.Errorf("mountsUnder(/proc) = %v, want /proc last", got)
	}
	if got, _ := mountsUnder("/pro"); len(got) != 0 {
		t.Errorf("mountsUnder(/pro) = %v, want none (prefix of a name is not a parent)", got)
	}
}

func TestStaleBuildAreas(t *testing.T) {
	work := t.TempDir()
	stale := filepath.Join(work, buildPrefix+"stale")
	writeTree(t, work, map[string]string{buildPrefix + "stale/tree/etc/x": ""})
	busy, err := newBuildArea(work, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(stale); err == nil {
		t.Errorf("stale build area %s survived", stale)
	}
	// A second build leaves the first one's area alone while it is locked.
	other, err := newBuildArea(work, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(busy.dir); err != nil {
		t.Errorf("a running build's area was removed: %v", err)
	}
	for _, a := range []*buildArea{busy, other} {
		if err := a.remove(); err != nil {
			t.Error(err)
		}
	}
	if entries, _ := os.ReadDir(work); len(entries) != 0 {
		t.Errorf("work dir holds %v, want nothing", entries)
	}
}

func TestInstallReusesExistingDigest(t *testing.T) {
	work := t.TempDir()
	var paths []string
	for i := range 2 {
		area, err := newBuildArea(work, nil)
		if err != nil {
			t.Fatal(err)
		}
		img := filepath.Join(area.dir, RootFSName)
		writeTree(t, area.dir, map[string]string{RootFSName: "same bytes"})
		sum, _, err := fileSHA256(img)
		if err != nil {
			t.Fatal(err)
		}
		p, err := install(img, area.dir, work, sum)
		if err != nil {
			t.Fatalf("install %d: %v", i, err)
		}
		paths = append(paths, p)
		if err := area.remove(); err != nil {
			t.Fatal(err)
		}
	}
	if paths[0] != paths[1] {
		t.Errorf("installs went to %v, want one path", paths)
	}
	if got, err := os.ReadFile(paths[0]); err != nil || string(got) != "same bytes" {
		t.Errorf("installed image = %q, %v", got, err)
	}
	if entries, _ := os.ReadDir(work); len(entries) != 1 {
		t.Errorf("work dir holds %v, want one digest directory", entries)
	}
}
