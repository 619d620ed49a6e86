package workspace

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// isolateGit keeps the tests' git away from the user's and the system's
// configuration.
func isolateGit(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git is not installed")
	}
	t.Setenv("GIT_CONFIG_GLOBAL", os.DevNull)
	t.Setenv("GIT_CONFIG_NOSYSTEM", "1")
	t.Setenv("HOME", t.TempDir())
}

// git runs git in dir and returns its trimmed output, failing the test on
// an error.
func git(t *testing.T, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", append([]string{"-C", dir}, args...)...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

func write(t *testing.T, dir, rel, content string, mode os.FileMode) {
	t.Helper()
	p := filepath.Join(dir, rel)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(p, mode); err != nil {
		t.Fatal(err)
	}
}

// binary is content no text diff can carry.
const binary = "\x00\x01\x02\xff\xfe binary \x00 data\n\x89PNG"

// newFixture makes a repository with three commits and then, uncommitted:
// a modified file, a deleted file, a rename (git mv), a new executable, a
// changed binary file, an untracked file and an ignored .env. It returns
// the repository's directory.
func newFixture(t *testing.T) string {
	t.Helper()
	isolateGit(t)
	dir := filepath.Join(t.TempDir(), "app")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	git(t, dir, "init", "-q", "-b", "main")
	git(t, dir, "config", "user.name", "Dev Eloper")
	git(t, dir, "config", "user.email", "dev@example.com")
	git(t, dir, "remote", "add", "origin", "https://example.com/app.git")
	write(t, dir, ".gitignore", ".env\n*.log\n", 0o644)
	write(t, dir, "README", "first\n", 0o644)
	git(t, dir, "add", "-A")
	git(t, dir, "commit", "-q", "-m", "one")
	write(t, dir, "src/main.go", "package main\n", 0o644)
	write(t, dir, "mod.txt", "original\n", 0o644)
	write(t, dir, "del.txt", "to be deleted\n", 0o644)
	write(t, dir, "old.txt", "renamed content that is long enough to be detected as a rename\n", 0o644)
	write(t, dir, "bin.dat", binary, 0o644)
	write(t, dir, "tool.sh", "#!/bin/sh\necho tool\n", 0o755)
	if err := os.Symlink("src/main.go", filepath.Join(dir, "link")); err != nil {
		t.Fatal(err)
	}
	git(t, dir, "add", "-A")
	git(t, dir, "commit", "-q", "-m", "two")
	write(t, dir, "README", "second\n", 0o644)
	git(t, dir, "commit", "-q", "-am", "three")
	// Uncommitted changes.
	write(t, dir, "mod.txt", "modified\n", 0o644)
	if err := os.Remove(filepath.Join(dir, "del.txt")); err != nil {
		t.Fatal(err)
	}
	git(t, dir, "mv", "old.txt", "new.txt")
	write(t, dir, "bin.dat", binary+"\x00more", 0o644)
	write(t, dir, "staged.sh", "#!/bin/sh\n", 0o755)
	git(t, dir, "add", "staged.sh")
	write(t, dir, "untracked.txt", "not added\n", 0o644)
	write(t, dir, ".env", "SECRET=1\n", 0o600)
	write(t, dir, "debug.log", "ignored\n", 0o644)
	return dir
}
