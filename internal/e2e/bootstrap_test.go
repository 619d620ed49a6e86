package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"

	"banger/internal/api"
	"banger/internal/bootstrap"
)

// toolsFixture makes a repository that declares tool versions in
// .tool-versions and go.mod.
func toolsFixture(t *testing.T, dir string) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	hostGit(t, dir, "init", "-q", "-b", "main")
	writeFile(t, dir, ".tool-versions", "nodejs 20.11.0 # the LTS\npython 3.12.1\n", 0o644)
	writeFile(t, dir, "go.mod", "module example.com/tools\n\ngo 1.22.1\n", 0o644)
	writeFile(t, dir, "main.go", "package main\n\nfunc main() {}\n", 0o644)
	hostGit(t, dir, "add", "-A")
	hostGit(t, dir, "-c", "user.name=T", "-c", "user.email=t@example.com", "commit", "-q", "-m", "tools")
}

// fakeMise records its working directory, MISE_YES and arguments, one
// invocation a line, and exits with the code in /root/mise.exit (0 when
// absent).
const fakeMise = `#!/bin/sh
printf '%s|%s|%s\n' "$PWD" "$MISE_YES" "$*" >> /root/mise.log
echo "fake mise: $1"
exit $(cat /root/mise.exit 2>/dev/null || echo 0)
`

// testToolBootstrap drives the tool bootstrap against the running, NAT'd
// VM name (the test guests have NAT but no way out of their network
// namespace, so a fake mise on the guest's PATH stands for the real one
// and records how it was called): the exact invocations, --json's
// bootstrap object, --no-bootstrap, a failed install that is a warning,
// then, without mise, apt-get and dpkg-query (fakes again) and the
// distribution's versions. It returns the guest path of the last
// workspace prepared.
func testToolBootstrap(t *testing.T, w *world, name string) string {
	t.Helper()
	repo := w.path("files/tools")
	toolsFixture(t, repo)
	if _, errs, code := w.guestBanger(fakeMise, "vm", "exec", name, "--", "sh", "-c", "cat > /usr/local/bin/mise && chmod 755 /usr/local/bin/mise"); code != 0 {
		t.Fatalf("install the fake mise: exit %d, %s", code, errs)
	}

	out, errs, code := w.guestBanger("", "vm", "workspace", "prepare", name, repo, "--guest-path", "/root/tools", "--json")
	if code != 0 {
		t.Fatalf("prepare with tools: exit %d\nstderr: %s", code, errs)
	}
	if want := "banger: installing node 20.11.0 (.tool-versions), python 3.12.1 (.tool-versions), go 1.22.1 (go.mod) with mise\nfake mise: use\n"; !strings.Contains(errs, want) {
		t.Errorf("prepare with tools: stderr %q lacks %q", errs, want)
	}
	var got struct {
		api.VM
		Bootstrap *bootstrap.Result `json:"bootstrap"`
	}
	if err := json.Unmarshal([]byte(out), &got); err != nil || got.Name != name || got.Workspace == nil || got.Workspace.GuestPath != "/root/tools" {
		t.Errorf("prepare --json: %v: %s", err, out)
	}
	if b := got.Bootstrap; b == nil || b.Status != bootstrap.StatusInstalled || b.Manager != bootstrap.Mise || len(b.Tools) != 3 {
		t.Errorf("prepare --json bootstrap = %+v", got.Bootstrap)
	}
	wantLog := "/root/tools|1|use --global node@20.11.0 python@3.12.1 go@1.22.1\n"
	if log := w.mustGuestBanger("vm", "exec", name, "--", "cat", "/root/mise.log"); log != wantLog {
		t.Errorf("mise invocations:\n%s\nwant:\n%s", log, wantLog)
	}

	// --no-bootstrap: mise is not called, nothing is said about tools.
	_, errs, code = w.guestBanger("", "vm", "workspace", "prepare", name, repo, "--guest-path", "/root/tools2", "--no-bootstrap")
	if code != 0 || strings.Contains(errs, "mise") || strings.Contains(errs, "install") {
		t.Errorf("prepare --no-bootstrap: exit %d, stderr %q", code, errs)
	}
	// A failed install is a warning: the prepare still succeeds.
	w.mustGuestBanger("vm", "exec", name, "--", "sh", "-c", "echo 3 > /root/mise.exit")
	_, errs, code = w.guestBanger("", "vm", "workspace", "prepare", name, repo, "--guest-path", "/root/tools3")
	want := "banger: warning: the tool bootstrap failed: mise use --global node@20.11.0 python@3.12.1 go@1.22.1: exit 3; carrying on without the tools (--no-bootstrap skips it)\n"
	if code != 0 || !strings.Contains(errs, want) {
		t.Errorf("prepare with a failing mise: exit %d, stderr %q; want it to contain %q", code, errs, want)
	}
	wantLog += "/root/tools3|1|use --global node@20.11.0 python@3.12.1 go@1.22.1\n"
	if log := w.mustGuestBanger("vm", "exec", name, "--", "cat", "/root/mise.log"); log != wantLog {
		t.Errorf("mise invocations:\n%s\nwant:\n%s", log, wantLog)
	}

	// Without mise, apt-get: fakes ahead of the real ones on the PATH
	// record the calls, and dpkg-query answers with made-up versions.
	w.mustGuestBanger("vm", "exec", name, "--", "rm", "-f", "/usr/local/bin/mise", "/root/mise.log", "/root/mise.exit")
	for bin, script := range map[string]string{"apt-get": fakeAptGet, "dpkg-query": fakeDpkgQuery} {
		if _, errs, code := w.guestBanger(script, "vm", "exec", name, "--", "sh", "-c", "cat > /usr/local/bin/"+bin+" && chmod 755 /usr/local/bin/"+bin); code != 0 {
			t.Fatalf("install the fake %s: exit %d, %s", bin, code, errs)
		}
	}
	out, errs, code = w.guestBanger("", "vm", "workspace", "prepare", name, repo, "--guest-path", "/root/tools4", "--json")
	for _, want := range []string{
		"banger: the guest has no mise: installing nodejs npm python3 python3-pip python3-venv golang-go with apt-get; the distribution's versions may differ from the pinned ones (node 20.11.0, python 3.12.1, go 1.22.1)\n",
		"banger: go: the distribution gave golang-go 9.9-golang-go; go.mod pins 1.22.1, the exact version may differ\n",
	} {
		if code != 0 || !strings.Contains(errs, want) {
			t.Errorf("prepare with apt-get: exit %d, stderr %q lacks %q", code, errs, want)
		}
	}
	got.Bootstrap = nil
	if err := json.Unmarshal([]byte(out), &got); err != nil || got.Bootstrap == nil || got.Bootstrap.Status != bootstrap.StatusInstalled || got.Bootstrap.Manager != bootstrap.Apt ||
		len(got.Bootstrap.Packages) != 3 || got.Bootstrap.Packages[2] != (bootstrap.Package{Tool: "go", Pinned: "1.22.1", Name: "golang-go", Version: "9.9-golang-go"}) {
		t.Errorf("prepare --json with apt-get: %v: %s", err, out)
	}
	wantApt := "noninteractive|update -q\nnoninteractive|install -y -q --no-install-recommends nodejs npm python3 python3-pip python3-venv golang-go\n"
	if log := w.mustGuestBanger("vm", "exec", name, "--", "cat", "/root/apt.log"); log != wantApt {
		t.Errorf("apt-get invocations:\n%s\nwant:\n%s", log, wantApt)
	}
	w.mustGuestBanger("vm", "exec", name, "--", "rm", "-f", "/usr/local/bin/apt-get", "/usr/local/bin/dpkg-query", "/root/apt.log")
	return "/root/tools4"
}

// fakeAptGet records DEBIAN_FRONTEND and its arguments; fakeDpkgQuery
// answers dpkg-query -W -f FORMAT PACKAGE... with a made-up version each.
const (
	fakeAptGet = `#!/bin/sh
printf '%s|%s\n' "$DEBIAN_FRONTEND" "$*" >> /root/apt.log
`
	fakeDpkgQuery = `#!/bin/sh
shift 3
for p; do echo "$p 9.9-$p"; done
`
)

// offlineToolsNote is what vm run says about the tools fixture's
// declarations when its VM is offline.
func offlineToolsNote(vm string) string {
	return fmt.Sprintf("banger: tool versions declared in .tool-versions (node 20.11.0, python 3.12.1) and go.mod (go 1.22.1); not installed: VM %s is offline; create it with --nat to have them installed, or pass --no-bootstrap\n", vm)
}
