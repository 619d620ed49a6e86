package paths

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"banger/internal/errdefs"
	"banger/internal/testtier"
)

// privateRoot is a fresh private directory to make things below.
func privateRoot(t *testing.T) string {
	t.Helper()
	root := filepath.Join(t.TempDir(), "root")
	if err := os.Mkdir(root, 0o700); err != nil {
		t.Fatal(err)
	}
	return root
}

func TestMkdirPrivateCreates(t *testing.T) {
	root := privateRoot(t)
	got, err := MkdirPrivate(root, "vms/abc", os.Getuid())
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(root, "vms", "abc"); got != want {
		t.Errorf("MkdirPrivate returned %s, want %s", got, want)
	}
	for _, d := range []string{filepath.Join(root, "vms"), got} {
		if mode, owner := modeOwner(t, d); mode != 0o700 || owner != os.Getuid() {
			t.Errorf("%s: mode %v owner %d, want 0700 owner %d", d, mode, owner, os.Getuid())
		}
	}
	// Again, over what the first call made.
	if _, err := MkdirPrivate(root, "vms/abc", os.Getuid()); err != nil {
		t.Errorf("second call: %v", err)
	}
}

func TestMkdirPrivateForOtherUser(t *testing.T) {
	testtier.Root(t)
	root := privateRoot(t)
	if err := os.Chown(root, nobody, nobody); err != nil {
		t.Fatal(err)
	}
	dir, err := MkdirPrivate(root, "vms/abc", nobody)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{filepath.Join(root, "vms"), dir} {
		if mode, owner := modeOwner(t, d); mode != 0o700 || owner != nobody {
			t.Errorf("%s: mode %v owner %d, want 0700 owner %d", d, mode, owner, nobody)
		}
	}
}

// TestMkdirPrivateRefusesPlanted: an entry planted anywhere below the root
// is refused, and nothing is created through it.
func TestMkdirPrivateRefusesPlanted(t *testing.T) {
	tests := []struct {
		name  string
		root  bool // needs root to set up
		plant func(t *testing.T, root, elsewhere string)
		want  func(root string) string
	}{
		{
			name: "symlink first component",
			plant: func(t *testing.T, root, elsewhere string) {
				symlink(t, elsewhere, filepath.Join(root, "vms"))
			},
			want: func(root string) string {
				return root + "/vms is a symlink, which banger refuses to follow: remove it (rm " + root + "/vms) and try again"
			},
		},
		{
			name: "symlink last component",
			plant: func(t *testing.T, root, elsewhere string) {
				mkdir(t, filepath.Join(root, "vms"), 0o700)
				symlink(t, elsewhere, filepath.Join(root, "vms", "abc"))
			},
			want: func(root string) string {
				return root + "/vms/abc is a symlink, which banger refuses to follow: remove it (rm " + root + "/vms/abc) and try again"
			},
		},
		{
			name: "dangling symlink",
			plant: func(t *testing.T, root, elsewhere string) {
				symlink(t, filepath.Join(elsewhere, "new"), filepath.Join(root, "vms"))
			},
			want: func(root string) string {
				return root + "/vms is a symlink, which banger refuses to follow: remove it (rm " + root + "/vms) and try again"
			},
		},
		{
			name: "file",
			plant: func(t *testing.T, root, elsewhere string) {
				if err := os.WriteFile(filepath.Join(root, "vms"), nil, 0o600); err != nil {
					t.Fatal(err)
				}
			},
			want: func(root string) string {
				return root + "/vms is not a directory: remove it (rm " + root + "/vms) and try again"
			},
		},
		{
			name: "directory others may write",
			plant: func(t *testing.T, root, elsewhere string) {
				mkdir(t, filepath.Join(root, "vms"), 0o777)
			},
			want: func(root string) string {
				return root + "/vms has mode 0777: group or others may use it, so banger will not create anything in it: check what is in it, remove it (rm -rf " + root + "/vms) and try again"
			},
		},
		{
			name: "directory of another user",
			root: true,
			plant: func(t *testing.T, root, elsewhere string) {
				mkdir(t, filepath.Join(root, "vms"), 0o700)
				if err := os.Chown(filepath.Join(root, "vms"), nobody, nobody); err != nil {
					t.Fatal(err)
				}
			},
			want: func(root string) string {
				return root + "/vms is owned by uid 65534, not 0, so banger will not create anything in it: remove it (rm -rf " + root + "/vms) and try again"
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.root {
				testtier.Root(t)
			}
			root := privateRoot(t)
			elsewhere := filepath.Join(filepath.Dir(root), "elsewhere")
			mkdir(t, elsewhere, 0o700)
			tt.plant(t, root, elsewhere)
			_, err := MkdirPrivate(root, "vms/abc/sub", os.Getuid())
			if err == nil {
				t.Fatal("MkdirPrivate succeeded over a planted entry")
			}
			if got, want := err.Error(), tt.want(root); got != want {
				t.Errorf("error:\n got %s\nwant %s", got, want)
			}
			if got, want := errdefs.KindOf(err), errdefs.FailedPrecondition; got != want {
				t.Errorf("kind = %s, want %s", got, want)
			}
			if got := entries(t, elsewhere); len(got) != 0 {
				t.Errorf("created %v through the planted entry", got)
			}
		})
	}
}

func TestMkdirPrivateRefusesRoot(t *testing.T) {
	parent := t.TempDir()
	good := privateRoot(t)
	link := filepath.Join(parent, "link")
	symlink(t, good, link)
	loose := filepath.Join(parent, "loose")
	mkdir(t, loose, 0o755)
	tests := []struct {
		root, rel, want string
		kind            errdefs.Kind
	}{
		{link, "vms", link + " is a symlink, which banger refuses to follow: remove it (rm " + link + ") and try again", errdefs.FailedPrecondition},
		{loose, "vms", loose + " has mode 0755: group or others may use it, so banger will not create anything in it: check what is in it, remove it (rm -rf " + loose + ") and try again", errdefs.FailedPrecondition},
		{"relative", "vms", `directory root "relative" is not an absolute path`, errdefs.InvalidArgument},
		{good, "../escape", `directory "../escape" is not a clean path below ` + good, errdefs.InvalidArgument},
		{good, "vms/../../escape", `directory "vms/../../escape" is not a clean path below ` + good, errdefs.InvalidArgument},
		{good, "/abs", `directory "/abs" is not a clean path below ` + good, errdefs.InvalidArgument},
		{good, "", `directory "" is not a clean path below ` + good, errdefs.InvalidArgument},
	}
	for _, tt := range tests {
		_, err := MkdirPrivate(tt.root, tt.rel, os.Getuid())
		if err == nil {
			t.Errorf("MkdirPrivate(%s, %s) succeeded", tt.root, tt.rel)
			continue
		}
		if got := err.Error(); got != tt.want {
			t.Errorf("MkdirPrivate(%s, %s):\n got %s\nwant %s", tt.root, tt.rel, got, tt.want)
		}
		if got := errdefs.KindOf(err); got != tt.kind {
			t.Errorf("MkdirPrivate(%s, %s): kind %s, want %s", tt.root, tt.rel, got, tt.kind)
		}
	}
	if got := entries(t, good); len(got) != 0 {
		t.Errorf("created %v in the root behind the link", got)
	}
}

func TestLayoutMakePrivateDir(t *testing.T) {
	base := t.TempDir()
	l := Layout{ConfigDir: filepath.Join(base, "c"), StateDir: filepath.Join(base, "s"), CacheDir: filepath.Join(base, "k"), RuntimeDir: filepath.Join(base, "r")}
	if err := l.Ensure(os.Getuid()); err != nil {
		t.Fatal(err)
	}
	for _, dir := range []string{l.VMDir("abc"), l.VMRuntimeDir("abc")} {
		if err := l.MakePrivateDir(dir, os.Getuid()); err != nil {
			t.Errorf("MakePrivateDir(%s): %v", dir, err)
		} else if mode, _ := modeOwner(t, dir); mode != 0o700 {
			t.Errorf("%s: mode %v, want 0700", dir, mode)
		}
	}
	outside := filepath.Join(base, "other", "vms", "abc")
	err := l.MakePrivateDir(outside, os.Getuid())
	if err == nil || !strings.Contains(err.Error(), "is neither below the state directory") {
		t.Errorf("MakePrivateDir outside the roots = %v, want a refusal", err)
	}
	if _, err := os.Lstat(filepath.Dir(outside)); !os.IsNotExist(err) {
		t.Errorf("MakePrivateDir outside the roots created something (Lstat: %v)", err)
	}
}

func symlink(t *testing.T, target, link string) {
	t.Helper()
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
}

// mkdir makes dir with exactly mode, whatever the umask.
func mkdir(t *testing.T, dir string, mode os.FileMode) {
	t.Helper()
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, mode); err != nil {
		t.Fatal(err)
	}
}
