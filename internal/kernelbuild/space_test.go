package kernelbuild

import (
	"context"
	"crypto/rand"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"banger/internal/disk"
	"banger/internal/disk/disktest"
	"banger/internal/errdefs"
	"banger/internal/testtier"
)

// sourceTarball makes a linux-source tarball holding a Makefile and a file
// of n bytes, random (so the tarball is about as big) or zeros (so it is
// tiny and unpacks to much more).
func sourceTarball(t *testing.T, n int, random bool) string {
	t.Helper()
	if _, err := exec.LookPath("xz"); err != nil {
		t.Skip("needs xz (apt-get install xz-utils)")
	}
	src := t.TempDir()
	tree := filepath.Join(src, "linux-source-6.1")
	if err := os.MkdirAll(tree, 0o755); err != nil {
		t.Fatal(err)
	}
	data := make([]byte, n)
	if random {
		if _, err := rand.Read(data); err != nil {
			t.Fatal(err)
		}
	}
	for name, b := range map[string][]byte{"Makefile": []byte("all:\n"), "blob": data} {
		if err := os.WriteFile(filepath.Join(tree, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	tarball := filepath.Join(t.TempDir(), "linux-source-6.1.tar.xz")
	cmd := exec.Command("tar", "-cJf", tarball, "-C", src, "linux-source-6.1")
	cmd.Env = append(os.Environ(), "XZ_OPT=-0") // fast: the test is about sizes
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("tar: %v\n%s", err, out)
	}
	return tarball
}

// TestExtractWithoutRoom: an extraction that cannot fit is refused before
// it starts; one that passes the check and then fills the disk fails as
// out of room and leaves no partial tree.
func TestExtractWithoutRoom(t *testing.T) {
	testtier.Root(t)
	work := filepath.Join(disktest.SmallFS(t, 16<<20), "kernel-build")
	if err := os.Mkdir(work, 0o755); err != nil {
		t.Fatal(err)
	}
	sum := strings.Repeat("ab", 32)

	big := sourceTarball(t, 5<<20, true) // needs 4 × 5 MiB on a 16 MiB filesystem
	_, err := extract(context.Background(), big, sum, work, func(Progress) {})
	if errdefs.KindOf(err) != errdefs.FailedPrecondition || !disk.IsNoSpace(err) || !strings.Contains(err.Error(), "extracting the kernel source "+big+" needs") {
		t.Errorf("extract of a 5 MiB tarball = %v (kind %s), want a refusal naming the need", err, errdefs.KindOf(err))
	}
	assertEmpty(t, work)

	bomb := sourceTarball(t, 24<<20, false) // tiny, unpacks to 24 MiB
	_, err = extract(context.Background(), bomb, sum, work, func(Progress) {})
	if errdefs.KindOf(err) != errdefs.FailedPrecondition || !disk.IsNoSpace(err) || !strings.Contains(err.Error(), "is full: free some space") {
		t.Errorf("extract that fills the disk = %v (kind %s), want a failed_precondition saying the disk is full", err, errdefs.KindOf(err))
	}
	assertEmpty(t, work)
}

func assertEmpty(t *testing.T, dir string) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 0 {
		t.Errorf("%s holds %v, want nothing", dir, entries)
	}
}
