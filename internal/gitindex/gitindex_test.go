package gitindex

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"banger/internal/errdefs"
)

func git(t *testing.T, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", append([]string{"-C", dir}, args...)...)
	cmd.Env = append(os.Environ(), "GIT_CONFIG_GLOBAL=/dev/null", "GIT_CONFIG_NOSYSTEM=1")
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("git %v: %v\n%s", args, err, errb.String())
	}
	return strings.TrimSpace(out.String())
}

// newRepo makes a repository with one commit of files whose names sort
// differently as paths and as tree entries, an executable and a symlink,
// every file's mtime an hour old (so none is racily clean), and returns it
// with its tree as index entries without stat data.
func newRepo(t *testing.T, format string) (string, []Entry) {
	t.Helper()
	dir := t.TempDir()
	git(t, dir, "init", "-q", "-b", "main", "--object-format="+format)
	files := map[string]string{"a-b": "1\n", "a/b": "2\n", "a.b": "3\n", "a/c/d": "4\n", "run.sh": "#!/bin/sh\n", "zero": ""}
	old := time.Now().Add(-time.Hour)
	for name, body := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		mode := os.FileMode(0o644)
		if strings.HasSuffix(name, ".sh") {
			mode = 0o755
		}
		if err := os.WriteFile(p, []byte(body), mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(p, old, old.Add(time.Duration(len(name))*time.Millisecond+123)); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink("a/b", filepath.Join(dir, "link")); err != nil {
		t.Fatal(err)
	}
	git(t, dir, "add", "-A")
	git(t, dir, "-c", "user.name=t", "-c", "user.email=t@x", "commit", "-q", "-m", "c")
	var entries []Entry
	for _, line := range strings.Split(git(t, dir, "ls-tree", "-r", "--full-tree", "HEAD"), "\n") {
		meta, path, _ := strings.Cut(line, "\t")
		f := strings.Fields(meta)
		mode, err := strconv.ParseUint(f[0], 8, 32)
		if err != nil {
			t.Fatal(err)
		}
		oid, err := ParseOID(f[2])
		if err != nil {
			t.Fatal(err)
		}
		entries = append(entries, Entry{Path: path, Mode: uint32(mode), OID: oid})
	}
	return dir, entries
}

func lstat(t *testing.T, dir string) func(string) (Stat, bool) {
	return func(p string) (Stat, bool) {
		fi, err := os.Lstat(filepath.Join(dir, p))
		if err != nil {
			return Stat{}, false
		}
		return FromFileInfo(fi)
	}
}

func oidSize(format string) int {
	if format == "sha256" {
		return 32
	}
	return 20
}

// TestEncodeIsGitsIndex: an index Encode writes with full stat data is
// one git reads as its own and finds every file of clean by stat alone
// (git diff-files compares stat data and lists any entry whose data
// differs, without refreshing); ls-files shows the same entries as git's.
func TestEncodeIsGitsIndex(t *testing.T) {
	for _, format := range []string{"sha1", "sha256"} {
		t.Run(format, func(t *testing.T) {
			dir, entries := newRepo(t, format)
			want := git(t, dir, "ls-files", "-s")
			for i := range entries {
				entries[i].Stat, _ = lstat(t, dir)(entries[i].Path)
				entries[i].Stat.Executable = false
			}
			idx, err := Encode(entries, oidSize(format))
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, ".git", "index"), idx, 0o644); err != nil {
				t.Fatal(err)
			}
			if got := git(t, dir, "ls-files", "-s"); got != want {
				t.Errorf("ls-files -s of the encoded index:\n%s\nwant git's:\n%s", got, want)
			}
			if got := git(t, dir, "diff-files", "--name-only"); got != "" {
				t.Errorf("diff-files lists %q: the encoded stat data does not match", got)
			}
			back, err := Decode(idx, oidSize(format))
			if err != nil {
				t.Fatal(err)
			}
			if len(back) != len(entries) || back[0].Path != "a-b" || back[1].Path != "a.b" || back[2].Path != "a/b" {
				t.Errorf("decoded entries out of git's order: %v", back)
			}
		})
	}
}

// TestFill: entries the plan marks unchanged (mtime and size) get the
// files' stat data when they still match and git trusts them; an entry
// marked dirty, a file changed since the plan was made, a file whose
// execute bit changed and a symlink get none, so git checks their
// content: git status shows exactly the real changes, and diff-files
// (stat only) lists only the entries left for git to check.
func TestFill(t *testing.T) {
	dir, entries := newRepo(t, "sha1")
	st := lstat(t, dir)
	for i, e := range entries {
		if e.Path == "a/b" {
			continue // marked dirty although unchanged: git finds it clean
		}
		s, _ := st(e.Path)
		entries[i].Stat = Stat{MtimeSec: s.MtimeSec, MtimeNsec: s.MtimeNsec, Size: s.Size}
	}
	plan, err := Encode(entries, 20)
	if err != nil {
		t.Fatal(err)
	}
	// Changed after the plan: same size, new mtime; and an execute bit.
	if err := os.WriteFile(filepath.Join(dir, "a-b"), []byte("9\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(filepath.Join(dir, "a.b"), 0o755); err != nil {
		t.Fatal(err)
	}
	idx, filled, err := Fill(plan, 20, st)
	if err != nil {
		t.Fatal(err)
	}
	if filled != 3 { // a/c/d, run.sh, zero
		t.Errorf("filled %d entries, want 3", filled)
	}
	if err := os.WriteFile(filepath.Join(dir, ".git", "index"), idx, 0o644); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff("a-b\na.b\na/b\nlink", git(t, dir, "diff-files", "--name-only")); diff != "" {
		t.Errorf("entries left for git to check (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff("M a-b\n M a.b", git(t, dir, "status", "--porcelain")); diff != "" {
		t.Errorf("git status (-want +got):\n%s", diff)
	}
}

// TestDecodeRefusesGarbage: a plan read back from a guest is untrusted:
// truncations, bad checksums, absurd counts and disorder are errors, not
// panics or huge allocations.
func TestDecodeRefusesGarbage(t *testing.T) {
	_, entries := newRepo(t, "sha1")
	good, err := Encode(entries, 20)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Decode(good, 32); err == nil {
		t.Errorf("Decode with the wrong hash size succeeded")
	}
	withSum := func(body []byte) []byte {
		h, _ := newHash(20)
		h.Write(body)
		return append(append([]byte(nil), body...), h.Sum(nil)...)
	}
	body := good[:len(good)-20]
	huge := append([]byte(nil), body...)
	huge[8], huge[9], huge[10], huge[11] = 0xff, 0xff, 0xff, 0xff
	swapped, _ := Encode(entries, 20)
	b2 := append([]byte(nil), swapped[:len(swapped)-20]...)
	// The first two entries ("a-b", "a.b") have names of equal length:
	// swap their names to break the order.
	i := bytes.Index(b2, []byte("a-b\x00"))
	j := bytes.Index(b2, []byte("a.b\x00"))
	b2[i+1], b2[j+1] = '.', '-'
	for name, data := range map[string][]byte{
		"empty":        nil,
		"bad checksum": append(append([]byte(nil), body...), make([]byte, 20)...),
		"truncated":    withSum(body[:len(body)-10]),
		"huge count":   withSum(huge),
		"out of order": withSum(b2),
		"extension":    withSum(append(append([]byte(nil), body...), []byte("TREE\x00\x00\x00\x00")...)),
	} {
		if _, err := Decode(data, 20); !errdefs.Is(err, errdefs.InvalidArgument) {
			t.Errorf("%s: Decode: %v, want invalid_argument", name, err)
		}
	}
}
