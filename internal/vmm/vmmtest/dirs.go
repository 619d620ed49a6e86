package vmmtest

import (
	"os"
	"path/filepath"
	"testing"
)

// Dirs makes a short fresh directory for one VM's files, removed when t
// ends (unix socket paths must stay under 108 bytes, which t.TempDir's long
// names can break), and inside it the runtime directory "run" with mode
// 0700, as the VM lifecycle makes it before Launch: drivers never create
// it. prefix starts the directory's name.
func Dirs(t *testing.T, prefix string) (dir, run string) {
	t.Helper()
	dir, err := os.MkdirTemp("", prefix)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	run = filepath.Join(dir, "run")
	if err := os.Mkdir(run, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(run, 0o700); err != nil { // whatever the umask
		t.Fatal(err)
	}
	return dir, run
}
