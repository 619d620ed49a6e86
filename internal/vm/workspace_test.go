package vm

import (
	"bytes"
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"banger/internal/agent/proto"
	"banger/internal/errdefs"
	"banger/internal/gitindex"
	"banger/internal/tarstream"
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

// localAgent runs the guest agent's commands and uploads on this machine.
type localAgent struct{ Agent }

func (localAgent) Run(ctx context.Context, req proto.ExecRequest, stdout, stderr io.Writer) (int, error) {
	cmd := exec.CommandContext(ctx, req.Argv[0], req.Argv[1:]...)
	cmd.Dir, cmd.Stdout, cmd.Stderr = req.Cwd, stdout, stderr
	cmd.Env = append(os.Environ(), "GIT_CONFIG_GLOBAL="+os.DevNull, "GIT_CONFIG_NOSYSTEM=1")
	err := cmd.Run()
	if ee, ok := err.(*exec.ExitError); ok {
		return ee.ExitCode(), nil
	}
	return 0, err
}

func (localAgent) Upload(_ context.Context, dir string, r io.Reader) error {
	_, err := tarstream.Extract(dir, r, tarstream.Options{})
	return err
}

// TestParseFindStats: statScript's output, as GNU find prints it here,
// splits into the index and stat records that parse to the stat data Go's
// lstat reports, for a plain file, an executable and a name with spaces
// and a newline; garbage is an error.
func TestParseFindStats(t *testing.T) {
	if _, err := exec.LookPath("find"); err != nil {
		t.Skip("find is not installed")
	}
	dir := t.TempDir()
	names := map[string]os.FileMode{"plain": 0o644, "run": 0o744, "a b\nc": 0o600}
	for name, mode := range names {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(name), mode); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Mkdir(filepath.Join(dir, ".git"), 0o755); err != nil {
		t.Fatal(err)
	}
	index := "DIRC fake\nindex \x00 bytes"
	if err := os.WriteFile(filepath.Join(dir, ".git", "index"), []byte(index), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := runCapped(context.Background(), localAgent{}, "/", "sh", "-c", statScript, "test", dir)
	if err != nil {
		t.Fatal(err)
	}
	plan, list, err := splitStatOutput(out)
	if err != nil {
		t.Fatal(err)
	}
	if string(plan) != index {
		t.Errorf("index from the listing: %q, want %q", plan, index)
	}
	got, err := parseFindStats(list)
	if err != nil {
		t.Fatal(err)
	}
	want := make(map[string]gitindex.Stat)
	for name := range names {
		fi, err := os.Lstat(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		want[name], _ = gitindex.FromFileInfo(fi)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("stats (-lstat +find):\n%s", diff)
	}
	for _, bad := range []string{"", "x\nabc", "10\nabc", "-1\nabc"} {
		if _, _, err := splitStatOutput([]byte(bad)); !errdefs.Is(err, errdefs.InvalidArgument) {
			t.Errorf("splitStatOutput(%q): %v, want invalid_argument", bad, err)
		}
	}
	for _, bad := range []string{"1 2 3 4 5 6.0 7.0 644\x00", "x 2 3 4 5 6.0 7.0 644 p\x00", "1 2 3 4 5 -6.0 7.0 644 p\x00", "1 2 3 4 5 6.x 7.0 644 p\x00", "1 2 3 4 5 6.0 7.0 9 p\x00"} {
		if _, err := parseFindStats([]byte(bad)); !errdefs.Is(err, errdefs.InvalidArgument) {
			t.Errorf("parseFindStats(%q): %v, want invalid_argument", bad, err)
		}
	}
}

// TestFillIndex: after the setup script, fillIndex completes a shipped
// plan with the working tree's stat data and checkoutScript writes the
// files left to git: git then checks by content only the file the plan
// did not vouch for, and status shows the one real change. A plan that is not an index is an error and is left as it was,
// for resetScript to replace.
func TestFillIndex(t *testing.T) {
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git is not installed")
	}
	ag := localAgent{}
	git := func(dir string, args ...string) string {
		t.Helper()
		var out bytes.Buffer
		code, err := ag.Run(context.Background(), proto.ExecRequest{Argv: append([]string{"git"}, args...), Cwd: dir}, &out, &out)
		if err != nil || code != 0 {
			t.Fatalf("git %v: exit %d, %v\n%s", args, code, err, out.String())
		}
		return strings.TrimSpace(out.String())
	}
	src := t.TempDir()
	git(src, "init", "-q", "-b", "main")
	guest := filepath.Join(t.TempDir(), "app")
	old := time.Now().Add(-time.Hour)
	for _, dir := range []string{src, guest} {
		for name, body := range map[string]string{"a": "one\n", "b/c": "two\n", "d": "three\n"} {
			p := filepath.Join(dir, name)
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
				t.Fatal(err)
			}
			if err := os.Chtimes(p, old, old); err != nil {
				t.Fatal(err)
			}
		}
	}
	git(src, "add", "-A")
	git(src, "-c", "user.name=x", "-c", "user.email=x@x", "commit", "-q", "-m", "one")
	head := git(src, "rev-parse", "HEAD")
	git(src, "clone", "-q", "--bare", "--no-tags", "--depth", "1", "file://"+src, filepath.Join(guest, ".git"))
	// The guest's d is changed; the plan vouches for a and b/c only.
	if err := os.WriteFile(filepath.Join(guest, "d"), []byte("four\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	var entries []gitindex.Entry
	for _, line := range strings.Split(git(src, "ls-files", "-s"), "\n") {
		meta, name, _ := strings.Cut(line, "\t")
		oid, err := gitindex.ParseOID(strings.Fields(meta)[1])
		if err != nil {
			t.Fatal(err)
		}
		e := gitindex.Entry{Path: name, Mode: gitindex.ModeRegular, OID: oid}
		if name != "d" {
			fi, err := os.Lstat(filepath.Join(guest, name))
			if err != nil {
				t.Fatal(err)
			}
			e.Stat = gitindex.Stat{MtimeSec: uint32(fi.ModTime().Unix()), MtimeNsec: uint32(fi.ModTime().Nanosecond()), Size: uint32(fi.Size())}
		}
		entries = append(entries, e)
	}
	plan, err := gitindex.Encode(entries, 20)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(guest, ".git", "index"), plan, 0o644); err != nil {
		t.Fatal(err)
	}
	if code, out := sh(t, setupScript, guest, head, "", "", ""); code != 0 {
		t.Fatalf("setup: exit %d: %s", code, out)
	}
	if got, _ := os.ReadFile(filepath.Join(guest, ".git", "index")); !bytes.Equal(got, plan) {
		t.Fatalf("the setup script replaced the shipped index")
	}
	spec := WorkspaceSpec{GuestPath: guest, BaseCommit: head}
	// b/c did not ship: git checks it out from HEAD once the index is
	// settled. The plan vouched for it, but there was no file to fill.
	if err := os.Remove(filepath.Join(guest, "b/c")); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(guest, ".git/banger-checkout"), []byte("b/c\x00"), 0o644); err != nil {
		t.Fatal(err)
	}
	filled, err := fillIndex(context.Background(), ag, spec)
	if err != nil {
		t.Fatal(err)
	}
	if filled != 1 {
		t.Errorf("filled %d entries, want 1", filled)
	}
	if code, out := sh(t, checkoutScript, guest); code != 0 {
		t.Fatalf("checkout: exit %d: %s", code, out)
	}
	if b, err := os.ReadFile(filepath.Join(guest, "b/c")); err != nil || string(b) != "two\n" {
		t.Errorf("b/c after the checkout: %q, %v", b, err)
	}
	if _, err := os.Lstat(filepath.Join(guest, ".git/banger-checkout")); err == nil {
		t.Errorf("the checkout list is still there")
	}
	if got := git(guest, "diff-files", "--name-only"); got != "d" {
		t.Errorf("entries git must check by content: %q, want d", got)
	}
	if got := git(guest, "status", "--porcelain"); got != "M d" {
		t.Errorf("git status: %q, want %q", got, "M d")
	}

	if err := os.WriteFile(filepath.Join(guest, ".git", "index"), []byte("not an index"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := fillIndex(context.Background(), ag, spec); !errdefs.Is(err, errdefs.InvalidArgument) {
		t.Errorf("fillIndex of a garbage plan: %v, want invalid_argument", err)
	}
	if got, _ := os.ReadFile(filepath.Join(guest, ".git", "index")); string(got) != "not an index" {
		t.Errorf("fillIndex changed a plan it refused")
	}
	// The daemon's fallback rebuilds the index from HEAD whatever it held.
	if code, out := sh(t, resetScript, guest); code != 0 {
		t.Fatalf("reset: exit %d: %s", code, out)
	}
	if got := git(guest, "status", "--porcelain"); got != "M d" {
		t.Errorf("git status after the reset: %q, want %q", got, "M d")
	}
}
