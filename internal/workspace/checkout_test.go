package workspace

import (
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"banger/internal/errdefs"
)

func paths(files []File) []string {
	var out []string
	for _, f := range files {
		out = append(out, f.Path)
	}
	return out
}

// TestOpenSelectsFiles: tracked files as in the working tree (deleted ones
// left out, renamed ones under their new name), untracked ones only on
// request, ignored ones never; modes and symlinks as they are.
func TestOpenSelectsFiles(t *testing.T) {
	dir := newFixture(t)
	ctx := context.Background()
	co, err := Open(ctx, filepath.Join(dir, "src"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{".gitignore", "README", "bin.dat", "link", "mod.txt", "new.txt", "src/main.go", "staged.sh", "tool.sh"}
	if diff := cmp.Diff(want, paths(co.Files)); diff != "" {
		t.Errorf("files (-want +got):\n%s", diff)
	}
	if co.Root != dir || co.Branch != "main" || co.Origin != "https://example.com/app.git" ||
		co.UserName != "Dev Eloper" || co.UserEmail != "dev@example.com" || co.Head != git(t, dir, "rev-parse", "HEAD") {
		t.Errorf("checkout = %+v", co)
	}
	byPath := make(map[string]File)
	for _, f := range co.Files {
		byPath[f.Path] = f
	}
	if m := byPath["tool.sh"].Mode; m.Perm()&0o111 == 0 {
		t.Errorf("tool.sh mode %v: not executable", m)
	}
	if f := byPath["link"]; f.Mode&fs.ModeSymlink == 0 || f.Link != "src/main.go" {
		t.Errorf("link = %+v, want a symlink to src/main.go", f)
	}
	var total int64
	for _, f := range co.Files {
		total += f.Size
	}
	if co.TotalSize() != total || total == 0 {
		t.Errorf("TotalSize %d, sum %d", co.TotalSize(), total)
	}

	co, err = Open(ctx, dir, Options{IncludeUntracked: true})
	if err != nil {
		t.Fatal(err)
	}
	want = []string{".gitignore", "README", "bin.dat", "link", "mod.txt", "new.txt", "src/main.go", "staged.sh", "tool.sh", "untracked.txt"}
	if diff := cmp.Diff(want, paths(co.Files)); diff != "" {
		t.Errorf("files with untracked (-want +got):\n%s", diff)
	}

	git(t, dir, "checkout", "-q", "--detach")
	if co, err = Open(ctx, dir, Options{}); err != nil || co.Branch != "" {
		t.Errorf("detached HEAD: branch %q, err %v", co.Branch, err)
	}
}

// TestOpenRefuses: what cannot ship is refused with invalid_argument
// before anything is made.
func TestOpenRefuses(t *testing.T) {
	tests := []struct {
		name string
		make func(t *testing.T) string
		want string
	}{
		{"not a git checkout", func(t *testing.T) string { isolateGit(t); return t.TempDir() }, "is not in a git checkout"},
		{"missing path", func(t *testing.T) string { isolateGit(t); return filepath.Join(t.TempDir(), "nope") }, "give the path of a git checkout"},
		{"bare repository", func(t *testing.T) string {
			dir := newFixture(t)
			bare := filepath.Join(t.TempDir(), "bare.git")
			git(t, dir, "clone", "-q", "--bare", dir, bare)
			return bare
		}, "bare git repository"},
		{".git directory", func(t *testing.T) string { return filepath.Join(newFixture(t), ".git") }, "bare git repository"},
		{"no commit", func(t *testing.T) string {
			isolateGit(t)
			dir := t.TempDir()
			git(t, dir, "init", "-q")
			return dir
		}, "has no commit yet"},
		{"symlink out of the repository", func(t *testing.T) string {
			dir := newFixture(t)
			if err := os.Symlink("../../outside", filepath.Join(dir, "src", "out")); err != nil {
				t.Fatal(err)
			}
			git(t, dir, "add", "src/out")
			return dir
		}, "symlink src/out points outside the repository"},
		{"absolute symlink", func(t *testing.T) string {
			dir := newFixture(t)
			if err := os.Symlink("/etc/passwd", filepath.Join(dir, "pw")); err != nil {
				t.Fatal(err)
			}
			git(t, dir, "add", "pw")
			return dir
		}, "symlink pw points outside the repository"},
		{"untracked symlink out, with --include-untracked", func(t *testing.T) string {
			dir := newFixture(t)
			if err := os.Symlink("..", filepath.Join(dir, "up")); err != nil {
				t.Fatal(err)
			}
			return dir
		}, "symlink up points outside"},
		{"submodule", func(t *testing.T) string {
			dir := newFixture(t)
			head := git(t, dir, "rev-parse", "HEAD")
			git(t, dir, "update-index", "--add", "--cacheinfo", "160000,"+head+",vendor/lib")
			return dir
		}, "has a submodule at vendor/lib"},
		{".gitmodules", func(t *testing.T) string {
			dir := newFixture(t)
			write(t, dir, ".gitmodules", "[submodule \"x\"]\n\tpath = x\n\turl = ../x\n", 0o644)
			return dir
		}, "has submodules (.gitmodules)"},
		{"nested repository", func(t *testing.T) string {
			dir := newFixture(t)
			nested := filepath.Join(dir, "nested")
			git(t, dir, "init", "-q", nested)
			write(t, nested, "f", "x", 0o644)
			return dir
		}, "holds another git repository at nested/"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := tt.make(t)
			_, err := Open(context.Background(), dir, Options{IncludeUntracked: true})
			if !errdefs.Is(err, errdefs.InvalidArgument) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Open(%s): %v; want invalid_argument containing %q", dir, err, tt.want)
			}
		})
	}
}

// TestInsideRepo checks the lexical symlink rule.
func TestInsideRepo(t *testing.T) {
	tests := []struct {
		rel, target string
		want        bool
	}{
		{"a", "b", true},
		{"d/a", "../b", true},
		{"d/e/a", "../../b", true},
		{"d/a", "../../b", false},
		{"a", "..", false},
		{"a", "/etc/passwd", false},
		{"a", ".git/config", false},
		{"d/a", "./x/../../y", true},
	}
	for _, tt := range tests {
		if got := insideRepo(tt.rel, tt.target); got != tt.want {
			t.Errorf("insideRepo(%q, %q) = %v, want %v", tt.rel, tt.target, got, tt.want)
		}
	}
}
