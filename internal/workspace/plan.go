package workspace

import (
	"context"
	"strconv"
	"strings"
	"time"

	"banger/internal/errdefs"
	"banger/internal/gitindex"
)

// racyMargin is how much older than the start of the host's status check
// a file's modification time must be for the plan to vouch for it: the
// coarsest timestamp granularity of the usual file systems, twice over.
const racyMargin = 2 * time.Second

// indexPlan is the guest's index as the host prepares it: the entries of
// HEAD's tree, and for each regular file that is unchanged from HEAD, the
// modification time and size it ships with. The guest completes it with
// its own stat data (gitindex.Fill), so git there trusts the unchanged
// files instead of hashing every byte of the working tree.
type indexPlan struct {
	entries []gitindex.Entry
	byPath  map[string]int // index into entries
	clean   map[string]bool
	// plain lists the clean files that git in the guest writes exactly as
	// the host has them from HEAD's blob: no attribute converts them and
	// the host does not convert line ends.
	plain   map[string]bool
	before  time.Time // when the status check started
	oidSize int
}

// newIndexPlan reads HEAD's tree and which of its paths differ from the
// working tree (staged or not). Files the plan vouches for are added by
// vouch as they are shipped.
func (c *Checkout) newIndexPlan(ctx context.Context) (*indexPlan, error) {
	p := &indexPlan{byPath: make(map[string]int), clean: make(map[string]bool), before: time.Now()}
	// Without optional locks, status refreshes the index in memory only:
	// the host's repository is left as it was.
	status, err := gitEnvOut(ctx, c.Root, []string{"GIT_OPTIONAL_LOCKS=0"}, "status", "--porcelain=v2", "-z",
		"--untracked-files=no", "--no-renames", "--ignore-submodules=all")
	if err != nil {
		return nil, err
	}
	dirty, err := parseStatusV2(status)
	if err != nil {
		return nil, err
	}
	tree, err := gitOut(ctx, c.Root, "ls-tree", "-r", "-z", "--full-tree", c.Head)
	if err != nil {
		return nil, err
	}
	for _, rec := range strings.Split(tree, "\x00") {
		if rec == "" {
			continue
		}
		meta, name, ok := strings.Cut(rec, "\t")
		f := strings.Fields(meta)
		if !ok || len(f) != 3 {
			return nil, errdefs.Internalf("git ls-tree printed %q: not a tree entry", rec)
		}
		mode, err := strconv.ParseUint(f[0], 8, 32)
		if err != nil {
			return nil, errdefs.Internalf("git ls-tree printed mode %q: %w", f[0], err)
		}
		if f[1] != "blob" {
			return nil, errdefs.InvalidArgumentf("%s has a %s at %s in HEAD: banger ships only files and symlinks; use a checkout without submodules", c.Root, f[1], name)
		}
		oid, err := gitindex.ParseOID(f[2])
		if err != nil {
			return nil, err
		}
		if p.oidSize == 0 {
			p.oidSize = len(oid)
		}
		p.byPath[name] = len(p.entries)
		p.entries = append(p.entries, gitindex.Entry{Path: name, Mode: uint32(mode), OID: oid})
		if !dirty[name] && (mode == gitindex.ModeRegular || mode == gitindex.ModeExecutable) {
			p.clean[name] = true
		}
	}
	if p.oidSize == 0 {
		p.oidSize = len(c.Head) / 2
	}
	if p.plain, err = c.plainFiles(ctx, p.clean); err != nil {
		return nil, err
	}
	return p, nil
}

// convertingAttrs are the attributes under which git's checkout may write
// other bytes than the blob's (or than the host's working tree has).
var convertingAttrs = []string{"filter", "eol", "text", "ident", "working-tree-encoding"}

// plainFiles returns the paths of clean that no attribute converts, or
// none when the host's git converts line ends (core.autocrlf): those are
// the files the guest's git can check out from HEAD byte for byte.
func (c *Checkout) plainFiles(ctx context.Context, clean map[string]bool) (map[string]bool, error) {
	plain := make(map[string]bool)
	autocrlf, err := gitOptional(ctx, c.Root, "config", "--get", "core.autocrlf")
	if err != nil || (autocrlf != "" && autocrlf != "false") || len(clean) == 0 {
		return plain, err
	}
	var in strings.Builder
	for p := range clean {
		in.WriteString(p)
		in.WriteByte(0)
	}
	out, err := gitInOut(ctx, c.Root, in.String(), append([]string{"check-attr", "-z", "--stdin"}, convertingAttrs...)...)
	if err != nil {
		return nil, err
	}
	for p := range clean {
		plain[p] = true
	}
	f := strings.Split(out, "\x00")
	for i := 0; i+2 < len(f); i += 3 {
		path, value := f[i], f[i+2]
		// "unspecified" and "unset" (-text) leave the bytes alone.
		if value != "unspecified" && value != "unset" {
			delete(plain, path)
		}
	}
	return plain, nil
}

// checksOut says whether the guest's git writes the file f from HEAD's blob
// rather than the tar carrying it: a plain file whose permissions are
// exactly the ones git gives its mode (0644 or 0755), so nothing of the
// working tree's file is lost but its modification time.
func (p *indexPlan) checksOut(f File) bool {
	i, ok := p.byPath[f.Path]
	if !ok || !p.plain[f.Path] || !f.Mode.IsRegular() {
		return false
	}
	switch p.entries[i].Mode {
	case gitindex.ModeRegular:
		return f.Mode.Perm() == 0o644
	case gitindex.ModeExecutable:
		return f.Mode.Perm() == 0o755
	}
	return false
}

// parseStatusV2 returns the paths `git status --porcelain=v2 -z` lists:
// every path whose index or working tree differs from HEAD.
func parseStatusV2(out string) (map[string]bool, error) {
	dirty := make(map[string]bool)
	recs := strings.Split(out, "\x00")
	for i := 0; i < len(recs); i++ {
		rec := recs[i]
		if rec == "" || rec[0] == '#' {
			continue
		}
		fields := map[byte]int{'1': 8, '2': 9, 'u': 10}[rec[0]]
		if fields == 0 {
			return nil, errdefs.Internalf("git status printed %q: not a porcelain v2 record", rec)
		}
		f := strings.SplitN(rec, " ", fields+1)
		if len(f) != fields+1 {
			return nil, errdefs.Internalf("git status printed %q: too few fields", rec)
		}
		dirty[f[fields]] = true
		if rec[0] == '2' && i+1 < len(recs) { // a rename's original path follows
			i++
			dirty[recs[i]] = true
		}
	}
	return dirty, nil
}

// vouch records that the file p shipped with mtime and size, read from the
// open file after its content was copied (so the content shipped is the
// content of that mtime). The plan vouches for it only when HEAD and the
// status check found it unchanged and it was last modified well before
// that check began, so it cannot have changed between the check and the
// copy without its mtime showing it.
func (p *indexPlan) vouch(path string, executable bool, mtime time.Time, size int64) {
	i, ok := p.byPath[path]
	if !ok || !p.clean[path] || !mtime.Before(p.before.Add(-racyMargin)) || size < 0 || size > 1<<32-1 || mtime.Unix() <= 0 {
		return
	}
	if executable != (p.entries[i].Mode == gitindex.ModeExecutable) {
		return
	}
	p.entries[i].Stat = gitindex.Stat{MtimeSec: uint32(mtime.Unix()), MtimeNsec: uint32(mtime.Nanosecond()), Size: uint32(size)}
}

// encode is the plan as an index file.
func (p *indexPlan) encode() ([]byte, error) {
	return gitindex.Encode(p.entries, p.oidSize)
}
