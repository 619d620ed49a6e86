package daemon

import (
	"errors"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"banger/internal/errdefs"
)

// shortDir is a private temp directory with a path short enough for unix
// sockets.
func shortDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "bgs")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

// dialable reports whether something accepts connections at path.
func dialable(path string) bool {
	c, err := net.Dial("unix", path)
	if err != nil {
		return false
	}
	c.Close()
	return true
}

func TestListenMode(t *testing.T) {
	tests := []struct {
		name     string
		umask    int
		wantMode fs.FileMode
		wantErr  string
	}{
		{name: "umask 077 gives 0600", umask: 0o077, wantMode: 0o600},
		{name: "umask 022 is refused", umask: 0o022, wantErr: "umask 077"},
		{name: "umask 000 is refused", umask: 0, wantErr: "umask 077"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			setUmask(t, tt.umask)
			path := filepath.Join(shortDir(t), "d.sock")
			ln, err := listen(path)
			if tt.wantErr != "" {
				if err == nil {
					ln.Close()
					t.Fatalf("Listen under umask %03o: no error, want one mentioning %q", tt.umask, tt.wantErr)
				}
				if !strings.Contains(err.Error(), tt.wantErr) {
					t.Errorf("error %q does not mention %q", err, tt.wantErr)
				}
				if _, err := os.Lstat(path); !errors.Is(err, fs.ErrNotExist) {
					t.Errorf("refused socket left behind at %s (err %v)", path, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Listen: %v", err)
			}
			fi, err := os.Lstat(path)
			if err != nil {
				t.Fatal(err)
			}
			// Only the owner may connect: exactly 0600.
			if got := fi.Mode().Perm(); fi.Mode()&fs.ModeSocket == 0 || got != tt.wantMode {
				t.Errorf("socket mode = %v, want a socket with %v", fi.Mode(), tt.wantMode)
			}
			if err := ln.Close(); err != nil {
				t.Fatal(err)
			}
			if _, err := os.Lstat(path); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("closing the listener left the socket file (err %v)", err)
			}
		})
	}
}

func TestListenRefusesLiveDaemon(t *testing.T) {
	setUmask(t, 0o077)
	path := filepath.Join(shortDir(t), "d.sock")
	first, err := listen(path)
	if err != nil {
		t.Fatalf("first Listen: %v", err)
	}
	defer first.Close()
	second, err := listen(path)
	if err == nil {
		second.Close()
		t.Fatal("second Listen on a live socket succeeded")
	}
	if got, want := errdefs.KindOf(err), errdefs.FailedPrecondition; got != want {
		t.Errorf("kind = %s, want %s (%v)", got, want, err)
	}
	if !strings.Contains(err.Error(), "already serving") {
		t.Errorf("error %q does not say another daemon serves", err)
	}
	if !dialable(path) {
		t.Errorf("the live daemon's socket no longer answers after the refused Listen")
	}
}

func TestListenReplacesStaleSocket(t *testing.T) {
	setUmask(t, 0o077)
	path := filepath.Join(shortDir(t), "d.sock")
	old, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	old.SetUnlinkOnClose(false) // a daemon that died leaves its socket
	old.Close()
	if fi, err := os.Lstat(path); err != nil || fi.Mode()&fs.ModeSocket == 0 {
		t.Fatalf("no stale socket to test with: %v %v", fi, err)
	}
	ln, err := listen(path)
	if err != nil {
		t.Fatalf("Listen over a stale socket: %v", err)
	}
	defer ln.Close()
	if !dialable(path) {
		t.Errorf("the new socket does not answer")
	}
}

func TestListenRefusesNonSocket(t *testing.T) {
	setUmask(t, 0o077)
	tests := []struct {
		name string
		make func(t *testing.T, path string)
	}{
		{"regular file", func(t *testing.T, path string) {
			if err := os.WriteFile(path, []byte("precious"), 0o600); err != nil {
				t.Fatal(err)
			}
		}},
		{"directory", func(t *testing.T, path string) {
			if err := os.Mkdir(path, 0o700); err != nil {
				t.Fatal(err)
			}
		}},
		{"symlink to a live socket", func(t *testing.T, path string) {
			target := filepath.Join(filepath.Dir(path), "real.sock")
			ln, err := net.Listen("unix", target)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { ln.Close() })
			if err := os.Symlink(target, path); err != nil {
				t.Fatal(err)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(shortDir(t), "d.sock")
			tt.make(t, path)
			before, err := os.Lstat(path)
			if err != nil {
				t.Fatal(err)
			}
			ln, err := listen(path)
			if err == nil {
				ln.Close()
				t.Fatalf("Listen over a %s succeeded", tt.name)
			}
			if got, want := errdefs.KindOf(err), errdefs.FailedPrecondition; got != want {
				t.Errorf("kind = %s, want %s (%v)", got, want, err)
			}
			if !strings.Contains(err.Error(), "not a socket") {
				t.Errorf("error %q does not say the path is not a socket", err)
			}
			after, err := os.Lstat(path)
			if err != nil || !os.SameFile(before, after) || after.Mode() != before.Mode() {
				t.Errorf("Listen changed what was at %s: before %v, after %v (err %v)", path, before, after, err)
			}
		})
	}
}
