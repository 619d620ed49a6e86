package disk

import (
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"banger/internal/errdefs"
)

// debugfsCat reads a file out of an image.
func debugfsCat(t *testing.T, image, path string) string {
	t.Helper()
	out, err := exec.Command(needTool(t, "debugfs"), "-R", "cat "+path, image).Output()
	if err != nil {
		t.Fatalf("debugfs cat %s: %v", path, err)
	}
	return string(out)
}

// debugfsStat returns the "Type: ... Mode: ..." and "User: ... Group: ..."
// facts of a path in an image.
func debugfsStat(t *testing.T, image, path string) (mode, uid, gid string) {
	t.Helper()
	out, err := exec.Command(needTool(t, "debugfs"), "-R", "stat "+path, image).Output()
	if err != nil {
		t.Fatalf("debugfs stat %s: %v", path, err)
	}
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		for i := 0; i+1 < len(f); i++ {
			switch f[i] {
			case "Mode:":
				mode = f[i+1]
			case "User:":
				uid = f[i+1]
			case "Group:":
				gid = f[i+1]
			}
		}
	}
	return mode, uid, gid
}

func TestWriteFiles(t *testing.T) {
	img := makeExt4(t, 32<<20)
	ctx := context.Background()
	files := []File{
		{Path: "/etc/hostname", Data: []byte("vm1\n"), Mode: 0o644},
		{Path: "/etc/banger/agent-token", Data: []byte("s3cret"), Mode: 0o600},
		{Path: "/home/user/deep/dir/file.txt", Data: []byte("x"), Mode: 0o640 | os.ModeSetgid, UID: 1000, GID: 1001},
		{Path: "/empty", Mode: 0o644},
	}
	if err := WriteFiles(ctx, img, files); err != nil {
		t.Fatalf("WriteFiles: %v", err)
	}
	fsck(t, img)
	want := []struct{ path, data, mode, uid, gid string }{
		{"/etc/hostname", "vm1\n", "0644", "0", "0"},
		{"/etc/banger/agent-token", "s3cret", "0600", "0", "0"},
		{"/home/user/deep/dir/file.txt", "x", "02640", "1000", "1001"},
		{"/empty", "", "0644", "0", "0"},
		{"/home/user/deep", "", "0755", "0", "0"},
	}
	for _, w := range want {
		mode, uid, gid := debugfsStat(t, img, w.path)
		if diff := cmp.Diff([]string{w.mode, w.uid, w.gid}, []string{mode, uid, gid}); diff != "" {
			t.Errorf("%s mode/uid/gid (-want +got):\n%s", w.path, diff)
		}
		if w.path != "/home/user/deep" {
			if got := debugfsCat(t, img, w.path); got != w.data {
				t.Errorf("%s = %q, want %q", w.path, got, w.data)
			}
		}
	}

	// Overwriting replaces content and attributes.
	if err := WriteFiles(ctx, img, []File{{Path: "/etc/hostname", Data: []byte("renamed\n"), Mode: 0o600, UID: 5, GID: 6}}); err != nil {
		t.Fatalf("WriteFiles again: %v", err)
	}
	fsck(t, img)
	if got := debugfsCat(t, img, "/etc/hostname"); got != "renamed\n" {
		t.Errorf("/etc/hostname = %q after overwrite", got)
	}
	if mode, uid, gid := debugfsStat(t, img, "/etc/hostname"); mode != "0600" || uid != "5" || gid != "6" {
		t.Errorf("/etc/hostname mode %s uid %s gid %s after overwrite, want 0600 5 6", mode, uid, gid)
	}
}

func TestWriteFilesRefusesBadPaths(t *testing.T) {
	img := makeExt4(t, 16<<20)
	ctx := context.Background()
	if err := WriteFiles(ctx, img, []File{{Path: "/etc/x", Data: []byte("1"), Mode: 0o644}, {Path: "/file", Mode: 0o644}}); err != nil {
		t.Fatal(err)
	}
	before := fileHash(t, img)
	tests := []struct {
		name string
		file File
		kind errdefs.Kind
		msg  string
	}{
		{"relative", File{Path: "etc/x"}, errdefs.InvalidArgument, "not absolute"},
		{"dot dot", File{Path: "/etc/../x"}, errdefs.InvalidArgument, "not clean"},
		{"trailing slash", File{Path: "/etc/x/"}, errdefs.InvalidArgument, "not clean"},
		{"root", File{Path: "/"}, errdefs.InvalidArgument, "root directory"},
		{"newline", File{Path: "/etc/x\nrm /etc/y"}, errdefs.InvalidArgument, "characters"},
		{"space", File{Path: "/etc/a b"}, errdefs.InvalidArgument, "characters"},
		{"quote", File{Path: `/etc/"a`}, errdefs.InvalidArgument, "characters"},
		{"non-ascii", File{Path: "/etc/é"}, errdefs.InvalidArgument, "characters"},
		{"directory mode", File{Path: "/etc/d", Mode: os.ModeDir | 0o755}, errdefs.InvalidArgument, "regular file"},
		{"negative uid", File{Path: "/etc/u", UID: -1}, errdefs.InvalidArgument, "out of range"},
		{"is a directory", File{Path: "/etc", Mode: 0o644}, errdefs.FailedPrecondition, "is a directory"},
		{"under a file", File{Path: "/file/x", Mode: 0o644}, errdefs.FailedPrecondition, "not a directory"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := WriteFiles(ctx, img, []File{tt.file})
			if errdefs.KindOf(err) != tt.kind || !strings.Contains(err.Error(), tt.msg) {
				t.Errorf("WriteFiles = %v (%s), want %s containing %q", err, errdefs.KindOf(err), tt.kind, tt.msg)
			}
		})
	}
	if err := WriteFiles(ctx, img, []File{{Path: "/a", Mode: 0o644}, {Path: "/a", Mode: 0o644}}); errdefs.KindOf(err) != errdefs.InvalidArgument {
		t.Errorf("duplicate path: %v, want InvalidArgument", err)
	}
	if !cmp.Equal(before, fileHash(t, img)) {
		t.Errorf("a refused write changed the image")
	}
	fsck(t, img)
}

func TestWriteFilesNotExt4(t *testing.T) {
	p := writeFile(t, t.TempDir(), "junk", make([]byte, 8192))
	err := WriteFiles(context.Background(), p, []File{{Path: "/x", Mode: 0o644}})
	if errdefs.KindOf(err) != errdefs.InvalidArgument {
		t.Errorf("WriteFiles on junk = %v, want InvalidArgument", err)
	}
}

func TestParseListing(t *testing.T) {
	out := "debugfs: ls -p /\n/2/040755/0/0/.//\n/2/040755/0/0/..//\n/12/040755/0/0/etc//\n/13/100644/0/0/f/6/\n\n" +
		"debugfs: ls -p /nope\n" +
		"debugfs: ls -p /etc\n/12/040755/0/0/.//\n/2/040755/0/0/..//\n/14/120777/0/0/l/2/\n"
	got := parseListing([]byte(out))
	want := dirListing{
		"/":    {".": kindDir, "..": kindDir, "etc": kindDir, "f": kindOther},
		"/etc": {".": kindDir, "..": kindDir, "l": kindOther},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("parseListing (-want +got):\n%s", diff)
	}
}

func TestHasFile(t *testing.T) {
	img := makeExt4(t, 32<<20)
	ctx := context.Background()
	if err := WriteFiles(ctx, img, []File{{Path: "/etc/banger/identity-disk", Mode: 0o644}}); err != nil {
		t.Fatalf("WriteFiles: %v", err)
	}
	for p, want := range map[string]bool{
		"/etc/banger/identity-disk": true,
		"/etc/banger":               true,
		"/etc/banger/other":         false,
		"/nope/identity-disk":       false,
	} {
		got, err := HasFile(ctx, img, p)
		if err != nil || got != want {
			t.Errorf("HasFile(%s) = %v, %v; want %v", p, got, err, want)
		}
	}
	if _, err := HasFile(ctx, img, "etc/../x"); err == nil {
		t.Error("HasFile accepted a relative path")
	}
}
