package disk

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestWorkDisksReusesTemplate(t *testing.T) {
	w := newTestWorkDisks(t)
	dir := t.TempDir()
	if err := w.Create(context.Background(), filepath.Join(dir, "a"), 32*mib); err != nil {
		t.Fatal(err)
	}
	// A new WorkDisks over the same cache, as after a daemon restart.
	w2 := NewWorkDisks(w.cacheDir)
	if err := w2.Create(context.Background(), filepath.Join(dir, "b"), 32*mib); err != nil {
		t.Fatal(err)
	}
	if got := w2.built.Load(); got != 0 {
		t.Errorf("second WorkDisks made %d templates, want 0", got)
	}
	// Another size gets its own template.
	if err := w2.Create(context.Background(), filepath.Join(dir, "c"), 48*mib); err != nil {
		t.Fatal(err)
	}
	if got := w2.built.Load(); got != 1 {
		t.Errorf("templates made for a new size = %d, want 1", got)
	}
	if err := IsExt4(filepath.Join(dir, "c")); err != nil {
		t.Error(err)
	}
}

func TestWorkDisksRebuildsBadTemplate(t *testing.T) {
	tests := []struct {
		name  string
		write func(t *testing.T, path string)
	}{
		{"garbage", func(t *testing.T, p string) {
			if err := os.WriteFile(p, randomBytes(t, 32*mib), 0o600); err != nil {
				t.Fatal(err)
			}
		}},
		{"wrong size", func(t *testing.T, p string) {
			if err := os.Rename(makeExt4(t, 16*mib, "-L", "work"), p); err != nil {
				t.Fatal(err)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := newTestWorkDisks(t)
			if err := os.MkdirAll(w.cacheDir, 0o700); err != nil {
				t.Fatal(err)
			}
			tt.write(t, w.templatePath(32*mib))
			dst := filepath.Join(t.TempDir(), "work")
			if err := w.Create(context.Background(), dst, 32*mib); err != nil {
				t.Fatal(err)
			}
			if got := w.built.Load(); got != 1 {
				t.Errorf("templates made = %d, want 1", got)
			}
			if err := IsExt4(dst); err != nil {
				t.Error(err)
			}
		})
	}
}

func TestDropNewFeatures(t *testing.T) {
	w := newTestWorkDisks(t)
	p := filepath.Join(t.TempDir(), "fs")
	if err := os.WriteFile(p, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(p, 64*mib); err != nil {
		t.Fatal(err)
	}
	mkfs := needTool(t, "mkfs.ext4")
	if out, err := runOut(mkfs, "-q", "-F", "-O", "orphan_file", p); err != nil {
		t.Skipf("needs a mkfs.ext4 that knows orphan_file (e2fsprogs >= 1.47): %v: %s", err, out)
	}
	if err := w.dropNewFeatures(context.Background(), p); err != nil {
		t.Fatal(err)
	}
	sb, err := readSuperblock(p)
	if err != nil {
		t.Fatal(err)
	}
	if sb.compat&compatOrphanFile != 0 {
		t.Error("orphan_file still enabled")
	}
	fsck(t, p)
}

func TestRemoveStaleTemps(t *testing.T) {
	dir := t.TempDir()
	old := writeFile(t, dir, "work-v1-1.ext4.tmp-123", nil)
	fresh := writeFile(t, dir, "work-v1-1.ext4.tmp-456", nil)
	other := writeFile(t, dir, "unrelated.tmp-789", nil)
	long := time.Now().Add(-2 * staleTemp)
	for _, p := range []string{old, other} {
		if err := os.Chtimes(p, long, long); err != nil {
			t.Fatal(err)
		}
	}
	removeStaleTemps(dir, time.Now().Add(-staleTemp))
	for p, want := range map[string]bool{old: false, fresh: true, other: true} {
		_, err := os.Stat(p)
		if got := err == nil; got != want {
			t.Errorf("%s exists = %v, want %v", filepath.Base(p), got, want)
		}
	}
}
