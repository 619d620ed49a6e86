package agent_test

import (
	"archive/tar"
	"os"
	"path/filepath"
	"sort"
	"syscall"
	"testing"

	"github.com/google/go-cmp/cmp"

	"banger/internal/errdefs"
	"banger/internal/testtier"
)

// TestUploadHostileTars checks that no archive writes outside the target:
// outer holds the target directory and a victim file next to it.
func TestUploadHostileTars(t *testing.T) {
	testtier.Root(t) // the agent runs as root: uploads keep the tar's owners
	srv, _ := newServer(t)
	c := serveUnix(t, srv, token)
	tests := []struct {
		name    string
		entries func(outer string) []entry
		refused bool
	}{
		{"dot-dot name", func(string) []entry {
			return []entry{{Name: "../escape", Type: tar.TypeReg, Mode: 0o644, Body: "x"}}
		}, true},
		{"dot-dot inside name", func(string) []entry {
			return []entry{{Name: "a/../../escape", Type: tar.TypeReg, Mode: 0o644, Body: "x"}}
		}, true},
		{"absolute name", func(outer string) []entry {
			return []entry{{Name: filepath.Join(outer, "escape"), Type: tar.TypeReg, Mode: 0o644, Body: "x"}}
		}, true},
		{"write through relative symlink", func(string) []entry {
			return []entry{
				{Name: "up", Type: tar.TypeSymlink, Link: ".."},
				{Name: "up/escape", Type: tar.TypeReg, Mode: 0o644, Body: "x"},
			}
		}, true},
		{"write through absolute symlink", func(outer string) []entry {
			return []entry{
				{Name: "out", Type: tar.TypeSymlink, Link: outer},
				{Name: "out/victim", Type: tar.TypeReg, Mode: 0o644, Body: "pwned"},
			}
		}, true},
		{"mkdir through symlink", func(outer string) []entry {
			return []entry{
				{Name: "out", Type: tar.TypeSymlink, Link: outer},
				{Name: "out/escape/", Type: tar.TypeDir, Mode: 0o755},
			}
		}, true},
		{"file replaces symlink instead of following it", func(outer string) []entry {
			return []entry{
				{Name: "f", Type: tar.TypeSymlink, Link: filepath.Join(outer, "victim")},
				{Name: "f", Type: tar.TypeReg, Mode: 0o644, Body: "pwned"},
			}
		}, false},
		{"hard link to outside", func(string) []entry {
			return []entry{{Name: "hl", Type: tar.TypeLink, Link: "../victim"}}
		}, true},
		{"hard link to absolute", func(outer string) []entry {
			return []entry{{Name: "hl", Type: tar.TypeLink, Link: filepath.Join(outer, "victim")}}
		}, true},
		{"hard link through symlink", func(outer string) []entry {
			return []entry{
				{Name: "out", Type: tar.TypeSymlink, Link: outer},
				{Name: "hl", Type: tar.TypeLink, Link: "out/victim"},
			}
		}, true},
		{"char device", func(string) []entry {
			return []entry{{Name: "null", Type: tar.TypeChar, Mode: 0o666}}
		}, true},
		{"block device", func(string) []entry {
			return []entry{{Name: "sda", Type: tar.TypeBlock, Mode: 0o660}}
		}, true},
		{"fifo", func(string) []entry {
			return []entry{{Name: "pipe", Type: tar.TypeFifo, Mode: 0o644}}
		}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			outer := t.TempDir()
			victim := filepath.Join(outer, "victim")
			if err := os.WriteFile(victim, []byte("original"), 0o644); err != nil {
				t.Fatal(err)
			}
			target := filepath.Join(outer, "target")
			err := c.Upload(testCtx(t), target, buildTar(t, tt.entries(outer)))
			if tt.refused && errdefs.KindOf(err) != errdefs.InvalidArgument {
				t.Errorf("Upload = %v, want an invalid_argument refusal", err)
			}
			if !tt.refused && err != nil {
				t.Errorf("Upload = %v, want success", err)
			}
			if b, _ := os.ReadFile(victim); string(b) != "original" {
				t.Errorf("victim outside the target now holds %q", b)
			}
			if st, _ := os.Lstat(victim); st == nil || !st.Mode().IsRegular() || st.Sys().(*syscall.Stat_t).Nlink != 1 {
				t.Errorf("victim is no longer a regular file with one link")
			}
			var names []string
			dents, _ := os.ReadDir(outer)
			for _, d := range dents {
				names = append(names, d.Name())
			}
			sort.Strings(names)
			if diff := cmp.Diff([]string{"target", "victim"}, names); diff != "" {
				t.Errorf("entries next to the target (-want +got):\n%s", diff)
			}
		})
	}
}
