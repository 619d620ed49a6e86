package disk

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"path"
	"strconv"
	"strings"
)

type entryKind int

const (
	kindDir entryKind = iota
	kindOther
)

// dirListing maps a directory to its entries' kinds, for the directories
// that exist in the image.
type dirListing map[string]map[string]entryKind

// kind returns the kind of the entry at p and whether it exists, as far
// as the listed directories tell.
func (l dirListing) kind(p string) (entryKind, bool) {
	entries, ok := l[path.Dir(p)]
	if !ok {
		return 0, false
	}
	k, ok := entries[path.Base(p)]
	return k, ok
}

// listDirs lists / and dirs read-only with "ls -p" in one debugfs run. A
// directory that does not exist (or is not a directory) is absent from
// the result.
func (r runner) listDirs(ctx context.Context, image string, dirs []string) (dirListing, error) {
	all := append([]string{"/"}, dirs...)
	var script bytes.Buffer
	for _, d := range all {
		fmt.Fprintf(&script, "ls -p %s\n", d)
	}
	out, _, err := r.debugfsOutput(ctx, image, false, script.Bytes())
	if err != nil {
		return nil, err
	}
	return parseListing(out), nil
}

// parseListing reads the output of a script of "ls -p DIR" commands:
// each command is echoed as "debugfs: ls -p DIR" and followed by lines
// "/ino/mode/uid/gid/name/size/". A directory always lists ".", so one
// that does not exist has no entries.
func parseListing(out []byte) dirListing {
	l := dirListing{}
	var cur map[string]entryKind
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if dir, ok := strings.CutPrefix(line, "debugfs: ls -p "); ok {
			cur = map[string]entryKind{}
			l[strings.TrimSpace(dir)] = cur
			continue
		}
		fields := strings.Split(line, "/")
		if cur == nil || len(fields) != 8 || fields[0] != "" {
			continue
		}
		mode, err := strconv.ParseUint(fields[2], 8, 32)
		if err != nil {
			continue
		}
		kind := kindOther
		if mode&0o170000 == 0o040000 {
			kind = kindDir
		}
		cur[fields[5]] = kind
	}
	for d, entries := range l {
		if _, ok := entries["."]; !ok {
			delete(l, d)
		}
	}
	return l
}

// HasFile reports whether the unmounted ext4 image at image has an entry
// at p (an absolute, clean path), reading it with one read-only debugfs
// run.
func HasFile(ctx context.Context, image, p string) (bool, error) {
	if !path.IsAbs(p) || path.Clean(p) != p || !safeScriptPath(p) || p == "/" {
		return false, fmt.Errorf("look for %q in %s: want an absolute, clean path debugfs can carry", p, image)
	}
	if err := IsExt4(image); err != nil {
		return false, err
	}
	l, err := runner{find: findTool}.listDirs(ctx, image, []string{path.Dir(p)})
	if err != nil {
		return false, err
	}
	_, ok := l.kind(p)
	return ok, nil
}
