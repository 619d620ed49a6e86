package vm

import (
	"archive/tar"
	"bytes"
	"context"
	"fmt"
	"io"
	"path"
	"regexp"
	"strconv"
	"strings"
	"time"

	"banger/internal/agent/proto"
	"banger/internal/errdefs"
	"banger/internal/gitindex"
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
// and the host user's identity. The index is HEAD's: the one the host
// shipped (a plan fillIndex completes next), or, from a client that sent
// none, one rebuilt from HEAD without touching the files. Either way git
// status shows the host's uncommitted changes.
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
[ -f .git/index ] || git reset -q
`

// checkoutScript writes, in the repository at $1, the files the host left
// out of the stream because git writes them from HEAD byte for byte: the
// paths listed in .git/banger-checkout (package workspace's CheckoutList),
// checked out with their index entries' stat data recorded. It runs after
// the index is settled (filled, or rebuilt by resetScript).
const checkoutScript = `set -e
cd "$1"
[ -f .git/banger-checkout ] || exit 0
umask 022
git checkout-index -f -u -z --stdin < .git/banger-checkout
rm -f .git/banger-checkout
`

// resetScript rebuilds the index of the repository at $1 from HEAD,
// hashing the working tree, whatever the index held.
const resetScript = `rm -f "$1/.git/index" && git -C "$1" reset -q`

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
	t0 := time.Now()
	if err := ag.Upload(ctx, spec.GuestPath, tarStream); err != nil {
		return VM{}, fmt.Errorf("ship the workspace to %s in VM %s: %w", spec.GuestPath, rec.Name, err)
	}
	t1 := time.Now()
	code, out, err = run(ctx, ag, "sh", "-c", setupScript, "banger-setup", spec.GuestPath, spec.BaseCommit, spec.Origin, spec.UserName, spec.UserEmail)
	if err != nil {
		return VM{}, err
	}
	if code != 0 {
		return VM{}, errdefs.FailedPreconditionf("set up the git repository at %s in VM %s (exit %d): is git installed in the image?%s", spec.GuestPath, rec.Name, code, out)
	}
	t2 := time.Now()
	filled, err := fillIndex(ctx, ag, spec)
	if err != nil {
		if ctx.Err() != nil {
			return VM{}, err
		}
		// Rebuild the index from HEAD by content, as a prepare without a
		// plan does: slower, and right whatever the plan held.
		s.log.Warn("workspace index not filled; git rebuilds it by content", "vm", rec.Name, "err", err)
		code, out, err := run(ctx, ag, "sh", "-c", resetScript, "banger-reset", spec.GuestPath)
		if err != nil {
			return VM{}, err
		}
		if code != 0 {
			return VM{}, errdefs.FailedPreconditionf("rebuild the git index at %s in VM %s (exit %d)%s", spec.GuestPath, rec.Name, code, out)
		}
	}
	t3 := time.Now()
	code, out, err = run(ctx, ag, "sh", "-c", checkoutScript, "banger-checkout", spec.GuestPath)
	if err != nil {
		return VM{}, err
	}
	if code != 0 {
		return VM{}, errdefs.FailedPreconditionf("check out the files unchanged from HEAD at %s in VM %s (exit %d)%s", spec.GuestPath, rec.Name, code, out)
	}
	s.log.Info("workspace prepared", "vm", rec.Name, "guest_path", spec.GuestPath, "upload", t1.Sub(t0).Round(time.Millisecond),
		"setup", t2.Sub(t1).Round(time.Millisecond), "index", t3.Sub(t2).Round(time.Millisecond), "index_filled", filled,
		"checkout", time.Since(t3).Round(time.Millisecond))
	if err := s.store.SetWorkspace(ctx, store.Workspace{VMID: rec.ID, HostPath: spec.HostPath, GuestPath: spec.GuestPath,
		BaseCommit: spec.BaseCommit, Branch: spec.Branch, PreparedAt: time.Now()}); err != nil {
		return VM{}, err
	}
	return s.Get(ctx, rec.ID)
}

// maxIndexBytes bounds what fillIndex reads back from the guest (the
// plan, and the files' stat data): an index of about a million files.
const maxIndexBytes = 128 << 20

// statScript prints, for the repository at $1, the size of .git/index in
// bytes on a line, the index itself, then what git records of each regular
// file outside .git: device, inode, owner, group, size, modification and
// change times (seconds with a fraction), permission bits and path, each
// record ending in a NUL. One command, so one round trip to the guest.
const statScript = `cd "$1" && wc -c < .git/index && cat .git/index && ` +
	`find . -path ./.git -prune -o -type f -printf '%D %i %U %G %s %T@ %C@ %m %P\0'`

// fillIndex completes the index plan the host shipped as .git/index
// (HEAD's entries, with the mtime and size of the files the host knows
// unchanged) with the guest's stat data of those files, so git trusts them
// without hashing the working tree. It returns how many entries it
// filled. An error leaves the plan as it was: a valid index whose entries
// git checks by content.
func fillIndex(ctx context.Context, ag Agent, spec WorkspaceSpec) (int, error) {
	out, err := runCapped(ctx, ag, "/", "sh", "-c", statScript, "banger-stat", spec.GuestPath)
	if err != nil {
		return 0, err
	}
	plan, list, err := splitStatOutput(out)
	if err != nil {
		return 0, err
	}
	stats, err := parseFindStats(list)
	if err != nil {
		return 0, err
	}
	index, filled, err := gitindex.Fill(plan, len(spec.BaseCommit)/2, func(p string) (gitindex.Stat, bool) {
		st, ok := stats[p]
		return st, ok
	})
	if err != nil {
		return 0, err
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: ".git/index", Mode: 0o644, Size: int64(len(index)),
		ModTime: time.Now(), Format: tar.FormatPAX}); err != nil {
		return 0, err
	}
	if _, err := tw.Write(index); err != nil {
		return 0, err
	}
	if err := tw.Close(); err != nil {
		return 0, err
	}
	if err := ag.Upload(ctx, spec.GuestPath, &buf); err != nil {
		return 0, fmt.Errorf("write the filled index: %w", err)
	}
	return filled, nil
}

// splitStatOutput splits statScript's output into the index and the
// files' stat records.
func splitStatOutput(out []byte) (plan, list []byte, err error) {
	line, rest, ok := bytes.Cut(out, []byte("\n"))
	n, perr := strconv.Atoi(strings.TrimSpace(string(line)))
	if !ok || perr != nil || n < 0 || n > len(rest) {
		return nil, nil, errdefs.InvalidArgumentf("the guest's index and stat listing do not start with the index's size (%q)", line)
	}
	return rest[:n], rest[n:], nil
}

// runCapped runs argv in the guest directory dir and returns its standard
// output, which must succeed and fit in maxIndexBytes.
func runCapped(ctx context.Context, ag Agent, dir string, argv ...string) ([]byte, error) {
	out := cappedBuffer{max: maxIndexBytes}
	var errb limitedBuffer
	code, err := ag.Run(ctx, proto.ExecRequest{Argv: argv, Cwd: dir}, &out, &errb)
	switch {
	case err != nil:
		return nil, err
	case code != 0:
		return nil, errdefs.FailedPreconditionf("%s in %s: exit %d: %s", argv[0], dir, code, strings.TrimSpace(errb.String()))
	case out.over:
		return nil, errdefs.FailedPreconditionf("%s in %s printed more than %d bytes", argv[0], dir, maxIndexBytes)
	}
	return out.Bytes(), nil
}

// cappedBuffer keeps what is written to it up to max bytes, and notes
// when more came.
type cappedBuffer struct {
	bytes.Buffer
	max  int
	over bool
}

func (b *cappedBuffer) Write(p []byte) (int, error) {
	if b.over || b.Len()+len(p) > b.max {
		b.over = true
		return len(p), nil
	}
	return b.Buffer.Write(p)
}

// parseFindStats reads findStats' output: the stat data of each path,
// truncated to 32 bits as git keeps it. The guest wrote it, so anything
// malformed is an error, never a panic.
func parseFindStats(out []byte) (map[string]gitindex.Stat, error) {
	stats := make(map[string]gitindex.Stat)
	for rec := range bytes.SplitSeq(out, []byte{0}) {
		if len(rec) == 0 {
			continue
		}
		f := strings.SplitN(string(rec), " ", 9)
		if len(f) != 9 || f[8] == "" {
			return nil, errdefs.InvalidArgumentf("find printed %q: not a stat record", rec)
		}
		var n [5]uint64
		for i := range n {
			v, err := strconv.ParseUint(f[i], 10, 64)
			if err != nil {
				return nil, errdefs.InvalidArgumentf("find printed %q: field %d: %w", rec, i+1, err)
			}
			n[i] = v
		}
		msec, mnsec, err := parseFindTime(f[5])
		if err != nil {
			return nil, err
		}
		csec, cnsec, err := parseFindTime(f[6])
		if err != nil {
			return nil, err
		}
		perm, err := strconv.ParseUint(f[7], 8, 32)
		if err != nil {
			return nil, errdefs.InvalidArgumentf("find printed %q: permissions: %w", rec, err)
		}
		stats[f[8]] = gitindex.Stat{CtimeSec: csec, CtimeNsec: cnsec, MtimeSec: msec, MtimeNsec: mnsec,
			Dev: uint32(n[0]), Ino: uint32(n[1]), UID: uint32(n[2]), GID: uint32(n[3]), Size: uint32(n[4]),
			Executable: perm&0o100 != 0}
	}
	return stats, nil
}

// parseFindTime reads find's %T@: seconds since the epoch, a point and a
// fraction of (usually ten) digits.
func parseFindTime(s string) (sec, nsec uint32, err error) {
	whole, frac, _ := strings.Cut(s, ".")
	v, err := strconv.ParseUint(whole, 10, 32)
	if err != nil {
		return 0, 0, errdefs.InvalidArgumentf("find printed the time %q: %w", s, err)
	}
	frac = (frac + "000000000")[:9]
	ns, err := strconv.ParseUint(frac, 10, 32)
	if err != nil {
		return 0, 0, errdefs.InvalidArgumentf("find printed the time %q: %w", s, err)
	}
	return uint32(v), uint32(ns), nil
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
