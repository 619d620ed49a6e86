package vm

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"path"
	"regexp"
	"strings"
	"time"

	"banger/internal/agent/proto"
	"banger/internal/errdefs"
	"banger/internal/store"
)

// WorkspaceSpec describes a git checkout shipped into a VM: where it comes
// from, where it goes, and the repository settings the guest's copy gets.
type WorkspaceSpec struct {
	HostPath   string // the checkout's top level on the host (recorded only)
	GuestPath  string // absolute directory in the guest; must be missing or empty
	BaseCommit string // the host's HEAD commit; the shipped history's tip
	Branch     string // the host's branch; empty when detached
	Origin     string // the origin remote's URL; empty for none
	UserName   string // git user.name; empty leaves it unset
	UserEmail  string // git user.email; empty leaves it unset
}

var (
	commitID   = regexp.MustCompile(`^([0-9a-f]{40}|[0-9a-f]{64})$`)
	branchName = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_./+-]*$`)
)

// validate reports every problem of the spec at once.
func (w WorkspaceSpec) validate() error {
	var p []string
	switch {
	case !path.IsAbs(w.GuestPath):
		p = append(p, fmt.Sprintf("guest path %q is not absolute", w.GuestPath))
	case path.Clean(w.GuestPath) != w.GuestPath || w.GuestPath == "/":
		p = append(p, fmt.Sprintf("guest path %q must be a clean path below /, e.g. /root/app", w.GuestPath))
	}
	if !path.IsAbs(w.HostPath) {
		p = append(p, fmt.Sprintf("host path %q is not absolute", w.HostPath))
	}
	if !commitID.MatchString(w.BaseCommit) {
		p = append(p, fmt.Sprintf("base commit %q is not a full commit id", w.BaseCommit))
	}
	if w.Branch != "" && (!branchName.MatchString(w.Branch) || strings.Contains(w.Branch, "..")) {
		p = append(p, fmt.Sprintf("branch %q is not a branch name", w.Branch))
	}
	for field, v := range map[string]string{"guest path": w.GuestPath, "host path": w.HostPath, "origin": w.Origin, "user name": w.UserName, "user email": w.UserEmail} {
		if strings.ContainsAny(v, "\x00\n\r") {
			p = append(p, fmt.Sprintf("%s holds a newline or NUL", field))
		}
	}
	if len(p) > 0 {
		return errdefs.InvalidArgumentf("invalid workspace: %s", strings.Join(p, "; "))
	}
	return nil
}

// emptyCheck exits 0 when $1 is missing or an empty directory.
const emptyCheck = `[ ! -e "$1" ] && [ ! -L "$1" ] || { [ -d "$1" ] && [ ! -L "$1" ] && [ -z "$(ls -A "$1")" ]; }`

// setupScript turns the shipped bare clone under $1/.git into the working
// tree's repository: not bare, on the host's branch (or detached at the
// commit, as the clone left it), origin pointing where the host's does,
// the host user's identity, and an index rebuilt from HEAD without
// touching the files, so git status shows the host's uncommitted changes.
const setupScript = `set -e
cd "$1"
git config --local core.bare false
git config --local --unset-all remote.origin.tagOpt || true
if [ -n "$3" ]; then
	git remote set-url origin "$3"
	git config --local remote.origin.fetch '+refs/heads/*:refs/remotes/origin/*'
else
	git remote remove origin
fi
[ -z "$4" ] || git config --local user.name "$4"
[ -z "$5" ] || git config --local user.email "$5"
test "$(git rev-parse HEAD)" = "$2"
git reset -q
`

// PrepareWorkspace ships a checkout into the running VM ref: it checks
// that spec.GuestPath is missing or empty, extracts tarStream (the files
// and, under .git/, a shallow bare clone, as package workspace writes it)
// there through the guest agent, makes it a working repository and
// records the workspace on the VM. Commands run in the VM start in its
// directory from then on.
func (s *Service) PrepareWorkspace(ctx context.Context, ref string, spec WorkspaceSpec, tarStream io.Reader) (VM, error) {
	if err := spec.validate(); err != nil {
		return VM{}, err
	}
	rec, err := s.store.GetVM(ctx, ref)
	if err != nil {
		return VM{}, err
	}
	ag, _, err := s.agentFor(ctx, rec)
	if err != nil {
		return VM{}, err
	}
	code, out, err := run(ctx, ag, "sh", "-c", emptyCheck, "banger-check", spec.GuestPath)
	if err != nil {
		return VM{}, err
	}
	if code != 0 {
		return VM{}, errdefs.FailedPreconditionf("%s already exists in VM %s and is not an empty directory: pick another --guest-path, or remove it (banger vm exec %s -- rm -rf %s)%s",
			spec.GuestPath, rec.Name, rec.Name, spec.GuestPath, out)
	}
	if err := ag.Upload(ctx, spec.GuestPath, tarStream); err != nil {
		return VM{}, fmt.Errorf("ship the workspace to %s in VM %s: %w", spec.GuestPath, rec.Name, err)
	}
	code, out, err = run(ctx, ag, "sh", "-c", setupScript, "banger-setup", spec.GuestPath, spec.BaseCommit, spec.Origin, spec.UserName, spec.UserEmail)
	if err != nil {
		return VM{}, err
	}
	if code != 0 {
		return VM{}, errdefs.FailedPreconditionf("set up the git repository at %s in VM %s (exit %d): is git installed in the image?%s", spec.GuestPath, rec.Name, code, out)
	}
	if err := s.store.SetWorkspace(ctx, store.Workspace{VMID: rec.ID, HostPath: spec.HostPath, GuestPath: spec.GuestPath,
		BaseCommit: spec.BaseCommit, Branch: spec.Branch, PreparedAt: time.Now()}); err != nil {
		return VM{}, err
	}
	return s.Get(ctx, rec.ID)
}

// run runs argv in the guest and returns its exit code and, for the error
// message, its output (prefixed ": ", at most 2 KiB).
func run(ctx context.Context, ag Agent, argv ...string) (int, string, error) {
	var out limitedBuffer
	code, err := ag.Run(ctx, proto.ExecRequest{Argv: argv, Cwd: "/"}, &out, &out)
	if err != nil {
		return 0, "", err
	}
	msg := strings.TrimSpace(out.String())
	if msg != "" {
		msg = ": " + msg
	}
	return code, msg, nil
}

// limitedBuffer keeps the first 2 KiB written to it.
type limitedBuffer struct{ bytes.Buffer }

func (b *limitedBuffer) Write(p []byte) (int, error) {
	if room := 2048 - b.Len(); room > 0 {
		b.Buffer.Write(p[:min(room, len(p))])
	}
	return len(p), nil
}

// workspaceDir is the directory a command starts in when it names none:
// the VM's workspace while it exists in the guest, else "" (the agent's
// default, /root), so removing the workspace does not break exec.
func (s *Service) workspaceDir(ctx context.Context, ag Agent, rec store.VM) string {
	ws, err := s.store.GetWorkspace(ctx, rec.ID)
	if err != nil {
		return ""
	}
	if code, _, err := run(ctx, ag, "test", "-d", ws.GuestPath); err != nil || code != 0 {
		return ""
	}
	return ws.GuestPath
}
