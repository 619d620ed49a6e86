package paths

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"banger/internal/errdefs"
)

// env is a fake environment for UserLayout.
type env map[string]string

func (e env) get(k string) string { return e[k] }

func TestUserLayout(t *testing.T) {
	tests := []struct {
		name string
		env  env
		uid  int
		want Layout
	}{
		{
			name: "defaults from HOME",
			env:  env{"HOME": "/home/u"},
			uid:  1000,
			want: Layout{
				ConfigDir:  "/home/u/.config/banger",
				StateDir:   "/home/u/.local/state/banger",
				CacheDir:   "/home/u/.cache/banger",
				RuntimeDir: "/tmp/banger-runtime-1000",
			},
		},
		{
			name: "XDG variables",
			env: env{
				"HOME":            "/home/u",
				"XDG_CONFIG_HOME": "/cfg",
				"XDG_STATE_HOME":  "/st/",
				"XDG_CACHE_HOME":  "/ca",
				"XDG_RUNTIME_DIR": "/run/user/1000",
			},
			uid: 1000,
			want: Layout{
				ConfigDir:  "/cfg/banger",
				StateDir:   "/st/banger",
				CacheDir:   "/ca/banger",
				RuntimeDir: "/run/user/1000/banger",
			},
		},
		{
			name: "relative XDG values are ignored",
			env: env{
				"HOME":            "/home/u",
				"XDG_CONFIG_HOME": "cfg",
				"XDG_STATE_HOME":  "./st",
				"XDG_CACHE_HOME":  "~/ca",
				"XDG_RUNTIME_DIR": "run/user/0",
			},
			uid: 0,
			want: Layout{
				ConfigDir:  "/home/u/.config/banger",
				StateDir:   "/home/u/.local/state/banger",
				CacheDir:   "/home/u/.cache/banger",
				RuntimeDir: "/tmp/banger-runtime-0",
			},
		},
		{
			name: "HOME unset but not needed",
			env: env{
				"XDG_CONFIG_HOME": "/cfg",
				"XDG_STATE_HOME":  "/st",
				"XDG_CACHE_HOME":  "/ca",
			},
			uid: 42,
			want: Layout{
				ConfigDir:  "/cfg/banger",
				StateDir:   "/st/banger",
				CacheDir:   "/ca/banger",
				RuntimeDir: "/tmp/banger-runtime-42",
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := UserLayout(tt.env.get, tt.uid)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("UserLayout mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestUserLayoutErrors(t *testing.T) {
	tests := []struct {
		name string
		env  env
		want string
	}{
		{
			name: "HOME unset",
			env:  env{},
			want: "cannot find banger's directories: HOME is not set and XDG_CONFIG_HOME is unset or relative: set HOME, or set XDG_CONFIG_HOME to an absolute path",
		},
		{
			name: "HOME unset, XDG relative",
			env:  env{"XDG_CONFIG_HOME": "/cfg", "XDG_STATE_HOME": "st"},
			want: "cannot find banger's directories: HOME is not set and XDG_STATE_HOME is unset or relative: set HOME, or set XDG_STATE_HOME to an absolute path",
		},
		{
			name: "HOME relative",
			env:  env{"HOME": "home/u"},
			want: `cannot find banger's directories: HOME="home/u" is not an absolute path: set HOME to your home directory, or set XDG_CONFIG_HOME to an absolute path`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := UserLayout(tt.env.get, 1000)
			if err == nil {
				t.Fatal("UserLayout succeeded, want an error")
			}
			if got := err.Error(); got != tt.want {
				t.Errorf("error:\n got %s\nwant %s", got, tt.want)
			}
			if got, want := errdefs.KindOf(err), errdefs.FailedPrecondition; got != want {
				t.Errorf("kind = %s, want %s", got, want)
			}
		})
	}
}

func TestLayoutFiles(t *testing.T) {
	l := Layout{ConfigDir: "/c", StateDir: "/s", CacheDir: "/k", RuntimeDir: "/r"}
	got := []string{l.ConfigFile(), l.DBPath(), l.Socket(), l.DaemonLog(), l.VMDir("abc"), l.VMRuntimeDir("abc")}
	want := []string{"/c/config.toml", "/s/banger.db", "/r/bangerd.sock", "/s/bangerd.log", "/s/vms/abc", "/r/vms/abc"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("layout files mismatch (-want +got):\n%s", diff)
	}
}

func TestEnsureXDG(t *testing.T) {
	root := t.TempDir()
	l, err := UserLayout(env{
		"HOME":            filepath.Join(root, "home"),
		"XDG_RUNTIME_DIR": filepath.Join(root, "run", "user", "1000"),
	}.get, os.Getuid())
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Ensure(os.Getuid()); err != nil {
		t.Fatal(err)
	}
	for _, dir := range []string{l.ConfigDir, l.StateDir, l.CacheDir, l.RuntimeDir} {
		fi, err := os.Lstat(dir)
		if err != nil {
			t.Fatal(err)
		}
		if !fi.IsDir() || fi.Mode().Perm() != 0o700 {
			t.Errorf("%s: mode %v, want a directory with mode 0700", dir, fi.Mode())
		}
	}
	// The parent of an XDG runtime dir is created too, privately.
	fi, err := os.Lstat(filepath.Dir(l.RuntimeDir))
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o700 {
		t.Errorf("runtime parent mode %v, want 0700", fi.Mode().Perm())
	}
	// Ensure is idempotent.
	if err := l.Ensure(os.Getuid()); err != nil {
		t.Errorf("second Ensure: %v", err)
	}
}

func TestEnsureTmpFallback(t *testing.T) {
	home := t.TempDir()
	// A uid no real user has, so the fallback path does not clash with a
	// banger on this machine; the directory is still owned by us.
	l, err := UserLayout(env{"HOME": home}.get, 2_000_000_000+os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if got := filepath.Dir(l.RuntimeDir); got != FallbackRuntimeRoot {
		t.Fatalf("runtime dir %s is not under %s", l.RuntimeDir, FallbackRuntimeRoot)
	}
	t.Cleanup(func() { os.RemoveAll(l.RuntimeDir) })
	if err := l.Ensure(os.Getuid()); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Lstat(l.RuntimeDir)
	if err != nil {
		t.Fatal(err)
	}
	if !fi.IsDir() || fi.Mode().Perm() != 0o700 {
		t.Errorf("%s: mode %v, want a directory with mode 0700", l.RuntimeDir, fi.Mode())
	}
}

func TestEnsureRefusesBadRuntimeDir(t *testing.T) {
	root := t.TempDir()
	l := Layout{
		ConfigDir:  filepath.Join(root, "c"),
		StateDir:   filepath.Join(root, "s"),
		CacheDir:   filepath.Join(root, "k"),
		RuntimeDir: filepath.Join(root, "r"),
	}
	if err := os.Symlink(root, l.RuntimeDir); err != nil {
		t.Fatal(err)
	}
	err := l.Ensure(os.Getuid())
	if err == nil || !strings.Contains(err.Error(), "is a symlink") {
		t.Errorf("Ensure with a symlinked runtime dir = %v, want a symlink refusal", err)
	}
}

func TestEnsureRelative(t *testing.T) {
	for _, l := range []Layout{
		{ConfigDir: "c", StateDir: "/s", CacheDir: "/k", RuntimeDir: "/r"},
		{ConfigDir: t.TempDir(), StateDir: t.TempDir(), CacheDir: t.TempDir(), RuntimeDir: ""},
	} {
		err := l.Ensure(os.Getuid())
		if got, want := errdefs.KindOf(err), errdefs.InvalidArgument; got != want {
			t.Errorf("Ensure(%+v) = %v (kind %s), want kind %s", l, err, got, want)
		}
	}
}

// TestEnsureRefusesLooseStateDir: a state directory others could write to
// is refused with what to do, and not chmod-ed.
func TestEnsureRefusesLooseStateDir(t *testing.T) {
	root := t.TempDir()
	l := Layout{
		ConfigDir:  filepath.Join(root, "c"),
		StateDir:   filepath.Join(root, "s"),
		CacheDir:   filepath.Join(root, "k"),
		RuntimeDir: filepath.Join(root, "r"),
	}
	if err := os.Mkdir(l.StateDir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(l.StateDir, 0o777); err != nil {
		t.Fatal(err)
	}
	err := l.Ensure(os.Getuid())
	want := "state directory " + l.StateDir + " has mode 0777: group or others can write to it, so anything in it may have been planted by another user: " +
		"check that nothing in it was put there by someone else (find " + l.StateDir + " ! -user $(id -u)), then make it private (chmod -R go-rwx " + l.StateDir + ") and start banger again"
	if err == nil || err.Error() != want {
		t.Errorf("Ensure with a loose state dir:\n got %v\nwant %s", err, want)
	}
	if mode, _ := modeOwner(t, l.StateDir); mode != 0o777 {
		t.Errorf("the refused state dir was changed to mode %v", mode)
	}
	if err := os.Remove(l.StateDir); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(root, l.StateDir); err != nil {
		t.Fatal(err)
	}
	if err := l.Ensure(os.Getuid()); err == nil || !strings.Contains(err.Error(), "state directory "+l.StateDir+" is a symlink") {
		t.Errorf("Ensure with a symlinked state dir = %v, want a symlink refusal", err)
	}
}

func TestCheckPrivateDir(t *testing.T) {
	root := t.TempDir()
	good := filepath.Join(root, "good")
	if err := EnsurePrivateDir(good, os.Getuid()); err != nil {
		t.Fatal(err)
	}
	if err := CheckPrivateDir(good, os.Getuid()); err != nil {
		t.Errorf("CheckPrivateDir(private dir) = %v", err)
	}
	if err := CheckPrivateDir(filepath.Join(root, "missing"), os.Getuid()); errdefs.KindOf(err) != errdefs.NotFound {
		t.Errorf("CheckPrivateDir(missing) = %v, want kind not_found", err)
	}
	link := filepath.Join(root, "link")
	if err := os.Symlink(good, link); err != nil {
		t.Fatal(err)
	}
	loose := filepath.Join(root, "loose")
	if err := os.Mkdir(loose, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(loose, 0o775); err != nil {
		t.Fatal(err)
	}
	for dir, want := range map[string]string{
		link:  "runtime directory " + link + " is a symlink to " + good + ", which banger refuses to follow: remove the link (rm " + link + ") and start banger again",
		loose: "runtime directory " + loose + " has mode 0775: group or others can write to it, so anything in it may have been planted by another user: stop bangerd, remove it (rm -rf " + loose + ") and start banger again",
		good:  "runtime directory " + good + " is owned by uid " + fmt.Sprint(os.Getuid()) + ", not 4711: remove it (rm -rf " + good + ") and start banger again",
	} {
		uid := os.Getuid()
		if dir == good {
			uid = 4711
		}
		err := CheckPrivateDir(dir, uid)
		if err == nil || err.Error() != want {
			t.Errorf("CheckPrivateDir(%s):\n got %v\nwant %s", dir, err, want)
		}
	}
}
