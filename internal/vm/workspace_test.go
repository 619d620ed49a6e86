package vm

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// sh runs one of the guest scripts here with args and returns its exit
// code and output.
func sh(t *testing.T, script string, args ...string) (int, string) {
	t.Helper()
	cmd := exec.Command("sh", append([]string{"-c", script, "test"}, args...)...)
	cmd.Env = append(os.Environ(), "GIT_CONFIG_GLOBAL="+os.DevNull, "GIT_CONFIG_NOSYSTEM=1")
	out, err := cmd.CombinedOutput()
	if ee, ok := err.(*exec.ExitError); ok {
		return ee.ExitCode(), string(out)
	} else if err != nil {
		t.Fatal(err)
	}
	return 0, string(out)
}

// TestEmptyCheck: a guest path may be missing or an empty directory,
// nothing else (a symlink to an empty directory included).
func TestEmptyCheck(t *testing.T) {
	dir := t.TempDir()
	for _, d := range []string{"empty", "full"} {
		if err := os.Mkdir(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "full", ".hidden"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "file"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("empty", filepath.Join(dir, "link")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("nowhere", filepath.Join(dir, "dangling")); err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]int{"missing": 0, "empty": 0, "full": 1, "file": 1, "link": 1, "dangling": 1} {
		if got, out := sh(t, emptyCheck, filepath.Join(dir, name)); got != want {
			t.Errorf("emptyCheck(%s) = %d, want %d (%s)", name, got, want, out)
		}
	}
}

// TestSetupScript turns a bare clone under .git next to the files into
// the working repository the guest gets.
func TestSetupScript(t *testing.T) {
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git is not installed")
	}
	git := func(dir string, args ...string) string {
		t.Helper()
		cmd := exec.Command("git", append([]string{"-C", dir}, args...)...)
		cmd.Env = append(os.Environ(), "GIT_CONFIG_GLOBAL="+os.DevNull, "GIT_CONFIG_NOSYSTEM=1")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
		return strings.TrimSpace(string(out))
	}
	src := t.TempDir()
	git(src, "init", "-q", "-b", "topic")
	if err := os.WriteFile(filepath.Join(src, "a"), []byte("one\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	git(src, "add", "a")
	git(src, "-c", "user.name=x", "-c", "user.email=x@x", "commit", "-q", "-m", "one")
	head := git(src, "rev-parse", "HEAD")
	guest := filepath.Join(t.TempDir(), "app")
	git(src, "clone", "-q", "--bare", "--no-tags", "--depth", "1", "file://"+src, filepath.Join(guest, ".git"))
	if err := os.WriteFile(filepath.Join(guest, "a"), []byte("changed\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if code, out := sh(t, setupScript, guest, head, "git@example.com:app.git", "Dev", "dev@example.com"); code != 0 {
		t.Fatalf("setup: exit %d: %s", code, out)
	}
	got := strings.Join([]string{git(guest, "status", "--porcelain"), git(guest, "symbolic-ref", "--short", "HEAD"),
		git(guest, "remote", "get-url", "origin"), git(guest, "config", "user.name"), git(guest, "config", "user.email"),
		git(guest, "config", "remote.origin.fetch")}, "|")
	want := "M a|topic|git@example.com:app.git|Dev|dev@example.com|+refs/heads/*:refs/remotes/origin/*"
	if got != want {
		t.Errorf("guest repository: %q, want %q", got, want)
	}

	// Without an origin the remote goes; a HEAD that is not the base fails.
	guest2 := filepath.Join(t.TempDir(), "app")
	git(src, "clone", "-q", "--bare", "--depth", "1", "file://"+src, filepath.Join(guest2, ".git"))
	if code, out := sh(t, setupScript, guest2, head, "", "", ""); code != 0 {
		t.Fatalf("setup without origin: exit %d: %s", code, out)
	}
	if remotes := git(guest2, "remote"); remotes != "" {
		t.Errorf("remotes without an origin: %q", remotes)
	}
	guest3 := filepath.Join(t.TempDir(), "app")
	git(src, "clone", "-q", "--bare", "--depth", "1", "file://"+src, filepath.Join(guest3, ".git"))
	if code, _ := sh(t, setupScript, guest3, strings.Repeat("0", 40), "", "", ""); code == 0 {
		t.Errorf("setup with the wrong base commit succeeded")
	}
}
