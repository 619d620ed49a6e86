package imagebuild

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestTreeUsage(t *testing.T) {
	dir := t.TempDir()
	writeTree(t, dir, map[string]string{
		"a":       strings.Repeat("x", 1),
		"sub/b":   strings.Repeat("x", 4096),
		"sub/c":   strings.Repeat("x", 4097),
		"empty":   "",
		"short":   "->target",
		"longsym": "->" + strings.Repeat("d/", 40),
	})
	// A hard link is counted once.
	if err := os.Link(filepath.Join(dir, "sub/c"), filepath.Join(dir, "c-again")); err != nil {
		t.Fatal(err)
	}
	got, err := treeUsage(dir)
	if err != nil {
		t.Fatalf("treeUsage: %v", err)
	}
	// two directories, files of 1, 1, 2 and 0 blocks, one long symlink.
	want := int64(2*4096 + 4*4096 + 4096)
	if got != want {
		t.Errorf("treeUsage = %d, want %d", got, want)
	}
}

func TestImageSize(t *testing.T) {
	tests := []struct {
		used, want int64
	}{
		{0, 256 << 20},
		{100 << 20, 376 << 20},
		{350 << 20, 676 << 20},
		{1, 257 << 20}, // rounded up to whole MiB
	}
	for _, tt := range tests {
		if got := imageSize(tt.used); got != tt.want {
			t.Errorf("imageSize(%d) = %d MiB, want %d MiB", tt.used, got>>20, tt.want>>20)
		}
	}
}
