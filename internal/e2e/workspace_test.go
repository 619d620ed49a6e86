package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"banger/internal/api"
)

// hostGit runs the host's git in dir, away from the user's configuration,
// and returns its trimmed output.
func hostGit(t *testing.T, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", append([]string{"-C", dir}, args...)...)
	cmd.Env = append(os.Environ(), "GIT_CONFIG_GLOBAL="+os.DevNull, "GIT_CONFIG_NOSYSTEM=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

func writeFile(t *testing.T, dir, rel, content string, mode os.FileMode) {
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

// workspaceFixture makes a repository with history and uncommitted
// changes of every kind: modified, deleted, renamed (staged), new staged
// executable, binary, symlink, untracked, and an ignored .env.
func workspaceFixture(t *testing.T, dir string) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	hostGit(t, dir, "init", "-q", "-b", "feature")
	hostGit(t, dir, "config", "user.name", "Dev Eloper")
	hostGit(t, dir, "config", "user.email", "dev@example.com")
	hostGit(t, dir, "remote", "add", "origin", "https://example.com/app.git")
	writeFile(t, dir, ".gitignore", ".env\n", 0o644)
	writeFile(t, dir, "README", "one\n", 0o644)
	hostGit(t, dir, "add", "-A")
	hostGit(t, dir, "commit", "-q", "-m", "one")
	writeFile(t, dir, "src/main.go", "package main\n", 0o644)
	writeFile(t, dir, "mod.txt", "original\n", 0o644)
	writeFile(t, dir, "del.txt", "to be deleted\n", 0o644)
	writeFile(t, dir, "old.txt", "content long enough to be seen as the same file after a rename\n", 0o644)
	writeFile(t, dir, "bin.dat", "\x00\x01\xff binary\x00", 0o644)
	writeFile(t, dir, "tool.sh", "#!/bin/sh\necho tool\n", 0o755)
	if err := os.Symlink("src/main.go", filepath.Join(dir, "link")); err != nil {
		t.Fatal(err)
	}
	hostGit(t, dir, "add", "-A")
	hostGit(t, dir, "commit", "-q", "-m", "two")
	writeFile(t, dir, "README", "three\n", 0o644)
	hostGit(t, dir, "commit", "-q", "-am", "three")
	writeFile(t, dir, "mod.txt", "modified\n", 0o644)
	if err := os.Remove(filepath.Join(dir, "del.txt")); err != nil {
		t.Fatal(err)
	}
	hostGit(t, dir, "mv", "old.txt", "new.txt")
	writeFile(t, dir, "bin.dat", "\x00\x01\xff binary changed\x00", 0o644)
	writeFile(t, dir, "staged.sh", "#!/bin/sh\n", 0o755)
	hostGit(t, dir, "add", "staged.sh")
	writeFile(t, dir, "untracked.txt", "not added\n", 0o644)
	writeFile(t, dir, ".env", "SECRET=host\n", 0o600)
}

// ageTree sets the modification time of every file under dir but .git's
// to age ago.
func ageTree(t *testing.T, dir string, age time.Duration) {
	t.Helper()
	old := time.Now().Add(-age)
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		switch {
		case err != nil:
			return err
		case d.IsDir() && d.Name() == ".git":
			return filepath.SkipDir
		case d.Type().IsRegular():
			return os.Chtimes(p, old, old)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// workspaceLogLines is the daemon log's lines about workspaces.
func workspaceLogLines(log string) string {
	var out []string
	for _, l := range strings.Split(log, "\n") {
		if strings.Contains(l, "workspace") {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// treeScript prints `git ls-files -s` of the working tree (everything not
// ignored) from a temporary index: paths, modes and blob ids.
const treeScript = `set -e; i=$(mktemp); trap 'rm -f "$i"' EXIT; export GIT_INDEX_FILE="$i"; git read-tree HEAD; git add -A; git ls-files -s`

func hostTree(t *testing.T, dir string) string {
	t.Helper()
	cmd := exec.Command("sh", "-c", treeScript)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GIT_CONFIG_GLOBAL="+os.DevNull, "GIT_CONFIG_NOSYSTEM=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("tree of %s: %v\n%s", dir, err, out)
	}
	return strings.TrimSpace(string(out))
}

func sortedLines(s string) []string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	sort.Strings(lines)
	return lines
}

// TestGuestWorkspace ships a fixture repository into a real guest, checks
// what arrived, changes it in the guest, exports the patch and applies it
// on the host: the trees come out identical. Bad input is refused before
// any VM is created, and --apply refuses a dirty checkout.
func TestGuestWorkspace(t *testing.T) {
	w := newGuestWorld(t)
	repo := w.path("files/app")
	workspaceFixture(t, repo)
	// Files not edited for an hour, as in most checkouts: the unchanged
	// ones are checked out from HEAD in the guest, or (README, whose
	// permissions git does not record) shipped with their mtime and size
	// for the daemon to fill the index with their stat data; nothing is
	// hashed in the guest.
	ageTree(t, repo, time.Hour)
	if err := os.Chmod(filepath.Join(repo, "README"), 0o600); err != nil {
		t.Fatal(err)
	}
	base := hostGit(t, repo, "rev-parse", "HEAD")

	// Refused before any VM exists.
	plain := w.path("files/plain")
	if err := os.MkdirAll(plain, 0o755); err != nil {
		t.Fatal(err)
	}
	sub := w.path("files/sub")
	workspaceFixture(t, sub)
	hostGit(t, sub, "update-index", "--add", "--cacheinfo", "160000,"+base+",vendor/lib")
	for _, bad := range []struct{ path, want string }{{plain, "is not in a git checkout"}, {sub, "has a submodule at vendor/lib"}} {
		_, errs, code := w.banger("vm", "run", "--rm", bad.path, "--", "true")
		if code == 0 || !strings.Contains(errs, bad.want) {
			t.Errorf("vm run %s: exit %d, stderr %q; want an error containing %q", bad.path, code, errs, bad.want)
		}
	}
	if vms := w.vms(); len(vms) != 0 {
		t.Fatalf("refused workspaces created VMs: %v", vms)
	}

	// --dry-run lists exactly the files that ship, and ships nothing.
	out, errs, code := w.banger("vm", "workspace", "prepare", "nowhere", repo, "--dry-run")
	want := []string{".gitignore", "README", "bin.dat", "link", "mod.txt", "new.txt", "src/main.go", "staged.sh", "tool.sh"}
	if code != 0 || !cmp.Equal(strings.Fields(out), want) || !strings.Contains(errs, "would ship 9 files") {
		t.Errorf("--dry-run: exit %d, files %q (want %q), stderr %q", code, strings.Fields(out), want, errs)
	}

	// vm run PATH ships it; commands start in it.
	out, errs, code = w.guestBanger("", "vm", "run", "-d", "--json", "--name", "ws", repo)
	if code != 0 || !strings.Contains(errs, "shipped 9 files") {
		t.Fatalf("vm run -d --json %s: exit %d\nstdout: %s\nstderr: %s\ndaemon log:\n%s", repo, code, out, errs, w.daemonLog())
	}
	// The guest's index was filled from its stat data, not rebuilt by
	// hashing: README, unchanged and shipped, is trusted as it is.
	if log := w.daemonLog(); !strings.Contains(log, "guest_path=/root/app ") || !strings.Contains(log, "index_filled=1 ") {
		t.Errorf("the daemon did not fill the guest's index (want index_filled=1 in its log):\n%s", workspaceLogLines(log))
	}
	// -d --json prints the VM with its workspace.
	var ran api.VM
	if err := json.Unmarshal([]byte(out), &ran); err != nil || ran.Name != "ws" || ran.Workspace == nil || ran.Workspace.GuestPath != "/root/app" {
		t.Errorf("vm run -d --json: %v, stdout %q", err, out)
	}
	check := `pwd; git rev-parse HEAD; git symbolic-ref --short HEAD; git remote get-url origin; git config user.name; git config user.email
git rev-list --count HEAD; stat -c %a tool.sh staged.sh README .gitignore; cat src/main.go; readlink link; test ! -e .env && echo no-env
test ! -e .git/banger-checkout && echo no-list; git status --porcelain | sort`
	got := w.mustGuestBanger("vm", "exec", "ws", "--", "sh", "-c", check)
	wantOut := strings.Join([]string{"/root/app", base, "feature", "https://example.com/app.git", "Dev Eloper", "dev@example.com",
		"3", "755", "755", "600", "644", "package main", "src/main.go", "no-env", "no-list",
		" D del.txt", " D old.txt", " M bin.dat", " M mod.txt", "?? new.txt", "?? staged.sh"}, "\n")
	if diff := cmp.Diff(wantOut, strings.TrimSpace(got)); diff != "" {
		t.Errorf("the guest's workspace (-want +got):\n%s", diff)
	}
	v := w.vm("ws")
	if v.Workspace == nil || v.Workspace.HostPath != repo || v.Workspace.GuestPath != "/root/app" || v.Workspace.BaseCommit != base || v.Workspace.Branch != "feature" {
		t.Errorf("vm show --json workspace = %+v", v.Workspace)
	}
	if list := w.mustBanger("vm", "list"); !strings.Contains(list, "/root/app@"+base[:12]) {
		t.Errorf("vm list does not show the workspace:\n%s", list)
	}
	// A second prepare into the same, non-empty directory is refused.
	if _, errs, code := w.guestBanger("", "vm", "workspace", "prepare", "ws", repo); code == 0 || !strings.Contains(errs, "is not an empty directory") {
		t.Errorf("prepare into a non-empty guest path: exit %d, stderr %q", code, errs)
	}

	// Change the guest: a commit, then uncommitted changes of every kind.
	change := `set -e
echo guest > README && git -c user.name=G -c user.email=g@x commit -q -am "guest commit"
rm mod.txt
mv src/main.go src/app.go
chmod +x README
mkdir -p img && printf '\000\001\377guest binary\000' > img/new.bin
echo notes > notes.txt && git add notes.txt
echo GUEST_SECRET=1 > .env`
	w.mustGuestBanger("vm", "exec", "ws", "--", "sh", "-c", change)
	guestTree := w.mustGuestBanger("vm", "exec", "ws", "--", "sh", "-c", treeScript)
	statusBefore := w.mustGuestBanger("vm", "exec", "ws", "--", "git", "status", "--porcelain")

	patchFile := w.path("files/ws.patch")
	out = w.mustGuestBanger("vm", "workspace", "export", "ws", "-o", patchFile, "--json")
	if statusAfter := w.mustGuestBanger("vm", "exec", "ws", "--", "git", "status", "--porcelain"); statusAfter != statusBefore {
		t.Errorf("export changed the guest's status:\n%s\nwas:\n%s", statusAfter, statusBefore)
	}
	patch, err := os.ReadFile(patchFile)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(patch), "GUEST_SECRET") || !strings.Contains(string(patch), "GIT binary patch") {
		t.Errorf("patch carries the ignored .env or lacks the binary hunk:\n%s", patch)
	}
	wantExport := fmt.Sprintf(`{"vm":"ws","guest_path":"/root/app","host_path":%q,"base_commit":%q,"bytes":%d,"output":%q,"applied":false}`,
		repo, base, len(patch), patchFile)
	if got := compactJSON(t, out); got != wantExport {
		t.Errorf("export -o --json = %s, want %s", got, wantExport)
	}

	// git apply on a host copy at the base commit reproduces the guest's tree.
	cp := w.path("files/copy")
	hostGit(t, w.path("files"), "clone", "-q", repo, cp)
	hostGit(t, cp, "apply", "--index", patchFile)
	if diff := cmp.Diff(sortedLines(guestTree), sortedLines(hostTree(t, cp))); diff != "" {
		t.Errorf("host copy after git apply differs from the guest (-guest +host):\n%s", diff)
	}

	// --apply refuses the recorded checkout while it is dirty, changing nothing.
	statusRepo := hostGit(t, repo, "status", "--porcelain")
	treeRepo := hostTree(t, repo)
	if _, errs, code := w.guestBanger("", "vm", "workspace", "export", "ws", "--apply"); code == 0 || !strings.Contains(errs, "uncommitted changes") {
		t.Errorf("--apply on a dirty checkout: exit %d, stderr %q", code, errs)
	}
	if hostGit(t, repo, "status", "--porcelain") != statusRepo || hostTree(t, repo) != treeRepo {
		t.Errorf("--apply on a dirty checkout changed it")
	}
	// Once clean, --apply brings the guest's tree home.
	hostGit(t, repo, "stash", "-q", "-u")
	out = w.mustGuestBanger("vm", "workspace", "export", "ws", "--apply", "--json")
	if want := fmt.Sprintf(`{"vm":"ws","guest_path":"/root/app","host_path":%q,"base_commit":%q,"bytes":%d,"applied":true}`, repo, base, len(patch)); compactJSON(t, out) != want {
		t.Errorf("export --apply --json = %s, want %s", compactJSON(t, out), want)
	}
	if diff := cmp.Diff(sortedLines(guestTree), sortedLines(hostTree(t, repo))); diff != "" {
		t.Errorf("host checkout after --apply differs from the guest (-guest +host):\n%s", diff)
	}
	if env, err := os.ReadFile(filepath.Join(repo, ".env")); err != nil || strings.Contains(string(env), "GUEST") {
		t.Errorf("the host's .env after --apply: %q, %v", env, err)
	}

	// With the workspace directory gone, commands start in /root again.
	w.mustGuestBanger("vm", "exec", "ws", "--", "rm", "-rf", "/root/app")
	if got := strings.TrimSpace(w.mustGuestBanger("vm", "exec", "ws", "--", "pwd")); got != "/root" {
		t.Errorf("pwd with the workspace removed: %q, want /root", got)
	}

	// The tools a workspace declares are installed with the guest's mise.
	lastGP := testToolBootstrap(t, w, "ws")

	// A name that is not a VM, and a stopped VM, are refused.
	if _, errs, code := w.guestBanger("", "vm", "workspace", "prepare", "nosuch", repo); code == 0 || !strings.Contains(errs, `no VM named "nosuch"`) {
		t.Errorf("prepare into a missing VM: exit %d, stderr %q", code, errs)
	}
	w.mustGuestBanger("vm", "kill", "ws") // stopped at once: a graceful stop adds nothing here
	if _, errs, code := w.guestBanger("", "vm", "workspace", "prepare", "ws", repo, "--guest-path", "/root/other"); code == 0 || !strings.Contains(errs, "VM ws is stopped") {
		t.Errorf("prepare into a stopped VM: exit %d, stderr %q", code, errs)
	}
	if v := w.vm("ws"); v.Workspace == nil || v.Workspace.GuestPath != lastGP {
		t.Errorf("the refused prepare changed the recorded workspace: %+v", v.Workspace)
	}

	w.mustGuestBanger("vm", "delete", "ws")
	w.assertClean()
}

// compactJSON is s without its indentation.
func compactJSON(t *testing.T, s string) string {
	t.Helper()
	var b bytes.Buffer
	if err := json.Compact(&b, []byte(s)); err != nil {
		t.Fatalf("not JSON: %v: %q", err, s)
	}
	return b.String()
}
