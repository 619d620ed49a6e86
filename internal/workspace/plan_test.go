package workspace

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"banger/internal/gitindex"
)

// shippedPlan returns the index plan WriteTar wrote for co, the files
// the stream carries and its checkout list.
func shippedPlan(t *testing.T, co *Checkout) (entries []gitindex.Entry, files []string, checkout string) {
	t.Helper()
	var buf bytes.Buffer
	if err := co.WriteTar(context.Background(), &buf, 1); err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(&buf)
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		switch {
		case hdr.Name == IndexFile:
			if entries, err = gitindex.Decode(b, 20); err != nil {
				t.Fatal(err)
			}
		case hdr.Name == CheckoutList:
			checkout = string(b)
		case hdr.Typeflag == tar.TypeReg && !strings.HasPrefix(hdr.Name, ".git/"):
			files = append(files, hdr.Name)
		}
	}
	if entries == nil {
		t.Fatal("the stream has no index plan")
	}
	return entries, files, checkout
}

// TestPlanVouchesOnlyForOldUnchangedFiles: the index plan carries HEAD's
// entries (deleted and renamed-away paths included, so git status shows
// them gone). Unchanged files with git's own permissions and no
// converting attribute are left out of the stream for the guest's git to
// check out. Of the unchanged files the stream carries, the plan vouches
// (mtime and size) only for those last modified well before the ship
// began: not for a file touched just now (it could change between git's
// check and the copy without its mtime showing it), not for changed
// files, not for symlinks.
func TestPlanVouchesOnlyForOldUnchangedFiles(t *testing.T) {
	host := newFixture(t)
	ageFiles(t, host, time.Hour)
	for _, name := range []string{".gitignore", "src/main.go"} {
		if err := os.Chmod(filepath.Join(host, name), 0o640); err != nil {
			t.Fatal(err)
		}
	}
	now := time.Now()
	if err := os.Chtimes(filepath.Join(host, "src/main.go"), now, now); err != nil {
		t.Fatal(err)
	}
	// A filter (even one git does not know) may change the bytes.
	if err := os.WriteFile(filepath.Join(host, ".git/info/attributes"), []byte("tool.sh filter=crypt\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	co, err := Open(context.Background(), host, Options{})
	if err != nil {
		t.Fatal(err)
	}
	entries, files, checkout := shippedPlan(t, co)
	if checkout != "README\x00" {
		t.Errorf("checkout list %q, want README only", checkout)
	}
	if diff := cmp.Diff([]string{".gitignore", "bin.dat", "mod.txt", "new.txt", "src/main.go", "staged.sh", "tool.sh"}, files); diff != "" {
		t.Errorf("files in the stream (-want +got):\n%s", diff)
	}
	vouched := make(map[string]bool)
	var paths []string
	for _, e := range entries {
		paths = append(paths, e.Path)
		if e.Stat != (gitindex.Stat{}) {
			vouched[e.Path] = true
			fi, err := os.Lstat(filepath.Join(host, e.Path))
			if err != nil {
				t.Fatal(err)
			}
			if int64(e.Stat.MtimeSec) != fi.ModTime().Unix() || int(e.Stat.MtimeNsec) != fi.ModTime().Nanosecond() || int64(e.Stat.Size) != fi.Size() {
				t.Errorf("%s vouched with %+v, the file has mtime %v and size %d", e.Path, e.Stat, fi.ModTime(), fi.Size())
			}
		}
	}
	wantPaths := []string{".gitignore", "README", "bin.dat", "del.txt", "link", "mod.txt", "old.txt", "src/main.go", "tool.sh"}
	if diff := cmp.Diff(wantPaths, paths); diff != "" {
		t.Errorf("plan entries (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(map[string]bool{".gitignore": true, "tool.sh": true}, vouched); diff != "" {
		t.Errorf("vouched-for entries (-want +got):\n%s", diff)
	}
	if got := git(t, host, "status", "--porcelain"); got == "" {
		t.Errorf("the fixture lost its changes")
	}
}

// TestParseStatusV2 reads every record kind of git status --porcelain=v2
// -z: changes, a rename with its original path, an unmerged path, and a
// header.
func TestParseStatusV2(t *testing.T) {
	out := "# branch.oid abc\x00" +
		"1 .M N... 100644 100644 100644 aaa aaa a file.txt\x00" +
		"2 R. N... 100644 100644 100644 bbb bbb R100 new name\x00old name\x00" +
		"u UU N... 100644 100644 100644 100644 c1 c2 c3 conflict\x00"
	got, err := parseStatusV2(out)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]bool{"a file.txt": true, "new name": true, "old name": true, "conflict": true}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("dirty paths (-want +got):\n%s", diff)
	}
	for _, bad := range []string{"? untracked\x00", "1 .M N... short\x00"} {
		if _, err := parseStatusV2(bad); err == nil {
			t.Errorf("parseStatusV2(%q) succeeded", bad)
		}
	}
}
