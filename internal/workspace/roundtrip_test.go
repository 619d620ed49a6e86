package workspace

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"banger/internal/errdefs"
	"banger/internal/gitindex"
)

// extract unpacks a tar stream written by WriteTar into dir, as the guest
// agent does (files, directories, symlinks, modes, files' mtimes).
func extract(t *testing.T, r io.Reader, dir string) map[string]*tar.Header {
	t.Helper()
	hdrs := make(map[string]*tar.Header)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(r)
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return hdrs
		}
		if err != nil {
			t.Fatal(err)
		}
		hdrs[hdr.Name] = hdr
		p := filepath.Join(dir, hdr.Name)
		switch hdr.Typeflag {
		case tar.TypeDir:
			err = os.MkdirAll(p, os.FileMode(hdr.Mode))
		case tar.TypeSymlink:
			err = os.Symlink(hdr.Linkname, p)
		case tar.TypeReg:
			var b []byte
			if b, err = io.ReadAll(tr); err == nil {
				if err = os.WriteFile(p, b, os.FileMode(hdr.Mode)); err == nil {
					if err = os.Chmod(p, os.FileMode(hdr.Mode)); err == nil {
						err = os.Chtimes(p, hdr.ModTime, hdr.ModTime)
					}
				}
			}
		default:
			t.Fatalf("unexpected tar entry %s of type %c", hdr.Name, hdr.Typeflag)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
}

// runArgv runs argv with dir as its working directory and returns its
// standard output.
func runArgv(t *testing.T, dir string, argv []string, env ...string) []byte {
	t.Helper()
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("%v: %v\n%s", argv, err, errb.String())
	}
	return out.Bytes()
}

// stagedTree is `git ls-files -s` of everything in the working tree at dir
// that is not ignored, computed in a temporary index: paths, modes and
// blob ids, so equal trees are byte-identical.
func stagedTree(t *testing.T, dir string) string {
	t.Helper()
	idx := filepath.Join(t.TempDir(), "index")
	env := "GIT_INDEX_FILE=" + idx
	runArgv(t, dir, []string{"git", "read-tree", "HEAD"}, env)
	runArgv(t, dir, []string{"git", "add", "-A"}, env)
	return string(runArgv(t, dir, []string{"git", "ls-files", "-s"}, env))
}

// TestShipExportApply ships the fixture as the guest would get it, checks
// the guest's repository, changes it in every way a patch must carry,
// exports the patch without touching the guest's index, and applies it to
// a host copy at the base commit: the trees come out identical.
func TestShipExportApply(t *testing.T) {
	ctx := context.Background()
	host := newFixture(t)
	ageFiles(t, host, time.Hour)
	// Unchanged but for permissions git does not record: it ships in the
	// stream, not from HEAD's blob.
	if err := os.Chmod(filepath.Join(host, ".gitignore"), 0o600); err != nil {
		t.Fatal(err)
	}
	co, err := Open(ctx, host, Options{IncludeUntracked: true})
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := co.WriteTar(ctx, &buf, 2); err != nil {
		t.Fatal(err)
	}
	guest := filepath.Join(t.TempDir(), "guest")
	hdrs := extract(t, &buf, guest)
	// Unchanged files with git's own permissions come from HEAD's blobs.
	for _, name := range []string{".env", "debug.log", "del.txt", "old.txt", "README", "src/main.go", "tool.sh"} {
		if _, ok := hdrs[name]; ok {
			t.Errorf("%s is in the stream", name)
		}
	}
	if h := hdrs["staged.sh"]; h == nil || h.Mode&0o111 == 0 || h.Uid != 0 {
		t.Errorf("staged.sh header %+v: want executable, owned by root", h)
	}
	list, err := os.ReadFile(filepath.Join(guest, CheckoutList))
	if err != nil || string(list) != "README\x00src/main.go\x00tool.sh\x00" {
		t.Errorf("checkout list %q, %v", list, err)
	}
	// What the daemon's setup does in the guest (internal/vm setupScript
	// and fillIndex).
	git(t, guest, "config", "core.bare", "false")
	filled := fillIndex(t, guest)
	// internal/vm checkoutScript.
	runArgv(t, guest, []string{"sh", "-c", "umask 022 && git checkout-index -f -u -z --stdin < " + CheckoutList + " && rm " + CheckoutList})
	// Every file unchanged from HEAD is trusted by its stat data: git
	// checks by content only what the host changed (mod.txt, bin.dat;
	// del.txt and old.txt are gone) and the symlink.
	if diff := cmp.Diff("bin.dat\ndel.txt\nlink\nmod.txt\nold.txt", git(t, guest, "diff-files", "--name-only")); diff != "" {
		t.Errorf("index entries git must check by content (-want +got):\n%s", diff)
	}
	if filled != 1 { // .gitignore; the others were checked out
		t.Errorf("filled %d index entries, want 1", filled)
	}
	for name, want := range map[string]fs.FileMode{".gitignore": 0o600, "README": 0o644, "tool.sh": 0o755, "staged.sh": 0o755} {
		if fi, err := os.Lstat(filepath.Join(guest, name)); err != nil || fi.Mode().Perm() != want {
			t.Errorf("%s in the guest: %v, %v; want mode %v", name, fi.Mode(), err, want)
		}
	}
	if diff := cmp.Diff(statusWithoutStaging(t, host), statusWithoutStaging(t, guest)); diff != "" {
		t.Errorf("git status in the guest differs from the host's (-host +guest):\n%s", diff)
	}
	if got := git(t, guest, "rev-list", "--count", "HEAD"); got != "2" {
		t.Errorf("guest history has %s commits, want the depth 2", got)
	}
	if got, want := git(t, guest, "rev-parse", "HEAD"), co.Head; got != want {
		t.Errorf("guest HEAD %s, want %s", got, want)
	}
	if got := git(t, guest, "symbolic-ref", "--short", "HEAD"); got != "main" {
		t.Errorf("guest branch %q, want main", got)
	}
	if diff := cmp.Diff(stagedTree(t, host), stagedTree(t, guest)); diff != "" {
		t.Errorf("guest tree differs from the host's working tree (-host +guest):\n%s", diff)
	}

	// Change the guest: a commit, then uncommitted changes of every kind.
	base := co.Head
	write(t, guest, "README", "changed in a guest commit\n", 0o644)
	git(t, guest, "-c", "user.name=G", "-c", "user.email=g@x", "commit", "-q", "-am", "guest commit")
	if err := os.Remove(filepath.Join(guest, "mod.txt")); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(filepath.Join(guest, "src/main.go"), filepath.Join(guest, "src/app.go")); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(filepath.Join(guest, "README"), 0o755); err != nil {
		t.Fatal(err)
	}
	write(t, guest, "img/new.bin", binary+binary, 0o644)
	write(t, guest, "notes.txt", "new\n", 0o644)
	write(t, guest, ".env", "GUEST_SECRET=1\n", 0o600)
	git(t, guest, "add", "notes.txt") // staged, so the real index differs from HEAD
	indexBefore, err := os.ReadFile(filepath.Join(guest, ".git", "index"))
	if err != nil {
		t.Fatal(err)
	}
	argv, err := ExportCommand(guest, base)
	if err != nil {
		t.Fatal(err)
	}
	patch := runArgv(t, "/", argv)
	indexAfter, _ := os.ReadFile(filepath.Join(guest, ".git", "index"))
	if !bytes.Equal(indexBefore, indexAfter) {
		t.Errorf("the export changed the guest's index")
	}
	if bytes.Contains(patch, []byte("GUEST_SECRET")) {
		t.Errorf("the patch carries the ignored .env")
	}
	if !bytes.Contains(patch, []byte("GIT binary patch")) {
		t.Errorf("the patch has no binary hunk:\n%s", patch)
	}

	// Apply on a copy of the host at the base commit.
	cp := filepath.Join(t.TempDir(), "copy")
	git(t, host, "clone", "-q", host, cp)
	if err := Apply(ctx, cp, base, patch); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(stagedTree(t, guest), stagedTree(t, cp)); diff != "" {
		t.Errorf("host copy after apply differs from the guest (-guest +copy):\n%s", diff)
	}
	if _, err := os.Stat(filepath.Join(cp, ".env")); err == nil {
		t.Errorf(".env arrived on the host")
	}

	// A dirty checkout or one that moved is refused and left as it was.
	dirty := filepath.Join(t.TempDir(), "dirty")
	git(t, host, "clone", "-q", host, dirty)
	write(t, dirty, "README", "local edit\n", 0o644)
	statusBefore := git(t, dirty, "status", "--porcelain")
	if err := Apply(ctx, dirty, base, patch); !errdefs.Is(err, errdefs.FailedPrecondition) {
		t.Errorf("Apply on a dirty checkout: %v, want failed_precondition", err)
	}
	if got := git(t, dirty, "status", "--porcelain"); got != statusBefore {
		t.Errorf("dirty checkout changed: %q, was %q", got, statusBefore)
	}
	git(t, dirty, "-c", "user.name=H", "-c", "user.email=h@x", "commit", "-q", "-am", "moved on")
	if err := Apply(ctx, dirty, base, patch); !errdefs.Is(err, errdefs.FailedPrecondition) {
		t.Errorf("Apply on a checkout that moved: %v, want failed_precondition", err)
	}
	if got := git(t, dirty, "status", "--porcelain"); got != "" {
		t.Errorf("moved checkout changed: %q", got)
	}
}

// ageFiles sets the modification time of every file of dir but .git's
// to age ago, as in a checkout not edited for a while (the index plan
// vouches only for files older than its status check).
func ageFiles(t *testing.T, dir string, age time.Duration) {
	t.Helper()
	old := time.Now().Add(-age)
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.Name() == ".git" {
			if err == nil {
				err = filepath.SkipDir
			}
			return err
		}
		if d.Type().IsRegular() {
			return os.Chtimes(p, old, old)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// fillIndex completes the shipped index plan of the repository at dir
// with the files' stat data, as the daemon does with the guest's, and
// returns how many entries it filled.
func fillIndex(t *testing.T, dir string) int {
	t.Helper()
	p := filepath.Join(dir, ".git", "index")
	plan, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	idx, filled, err := gitindex.Fill(plan, 20, func(rel string) (gitindex.Stat, bool) {
		fi, err := os.Lstat(filepath.Join(dir, rel))
		if err != nil {
			return gitindex.Stat{}, false
		}
		return gitindex.FromFileInfo(fi)
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, idx, 0o644); err != nil {
		t.Fatal(err)
	}
	return filled
}

// statusWithoutStaging is git status of dir with staged and unstaged
// changes alike (the guest's index is HEAD's, so what the host staged
// shows there as not staged): "path change" lines, sorted.
func statusWithoutStaging(t *testing.T, dir string) string {
	t.Helper()
	idx := filepath.Join(t.TempDir(), "index")
	env := "GIT_INDEX_FILE=" + idx
	runArgv(t, dir, []string{"git", "read-tree", "HEAD"}, env)
	runArgv(t, dir, []string{"git", "add", "-A"}, env)
	return string(runArgv(t, dir, []string{"git", "diff", "--cached", "--name-status", "--no-renames", "HEAD"}, env))
}

// TestExportCommandRefusesOptions: --base cannot smuggle an option into
// git diff.
func TestExportCommandRefusesOptions(t *testing.T) {
	for _, base := range []string{"--output=/etc/x", "-p", "", "a b", "x;y"} {
		if _, err := ExportCommand("/root/app", base); !errdefs.Is(err, errdefs.InvalidArgument) {
			t.Errorf("ExportCommand(%q): %v, want invalid_argument", base, err)
		}
	}
}

// TestApplyRefusesHostilePatches: the patch comes from the guest, so it is
// untrusted; git apply must refuse paths that leave the working tree or
// reach into .git, and change nothing.
func TestApplyRefusesHostilePatches(t *testing.T) {
	ctx := context.Background()
	host := newFixture(t)
	cp := filepath.Join(t.TempDir(), "copy")
	git(t, host, "clone", "-q", host, cp)
	base := git(t, cp, "rev-parse", "HEAD")
	newFile := func(name string) []byte {
		return []byte("diff --git a/" + name + " b/" + name + "\nnew file mode 100644\nindex 0000000..e69de29\n--- /dev/null\n+++ b/" + name +
			"\n@@ -0,0 +1 @@\n+owned\n")
	}
	for _, name := range []string{"../outside", ".git/hooks/post-checkout", "src/../../outside2"} {
		err := Apply(ctx, cp, base, newFile(name))
		if !errdefs.Is(err, errdefs.FailedPrecondition) {
			t.Errorf("Apply of a patch creating %s: %v, want failed_precondition", name, err)
		}
	}
	for _, p := range []string{filepath.Join(filepath.Dir(cp), "outside"), filepath.Join(cp, ".git/hooks/post-checkout"), filepath.Join(filepath.Dir(cp), "outside2")} {
		if _, err := os.Lstat(p); err == nil {
			t.Errorf("%s was written", p)
		}
	}
	if got := git(t, cp, "status", "--porcelain"); got != "" {
		t.Errorf("the checkout changed: %q", got)
	}
	// The same patch for a path inside the tree applies: the refusals
	// above are about the paths, not the patch's form.
	if err := Apply(ctx, cp, base, newFile("inside.txt")); err != nil {
		t.Fatalf("Apply of a benign patch: %v", err)
	}
	if got := git(t, cp, "status", "--porcelain"); got != "A  inside.txt" {
		t.Errorf("status after a benign apply: %q", got)
	}
}
