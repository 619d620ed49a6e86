// Package peercredtest runs a test's helper function as another uid, so
// that tests can check that a socket refuses or serves other users. It is
// for tests only.
//
// The test binary is copied where other users can run it (go test's build
// directory is private), then re-executed with -test.run naming a helper
// test that does its one call and prints a line "RESULT ...".
package peercredtest

import (
	"bufio"
	"bytes"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// Binary copies the running test binary into dir, mode 0755, and returns
// its path. dir must be reachable by the uids that will run it.
func Binary(t *testing.T, dir string) string {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	dst := filepath.Join(dir, filepath.Base(self))
	Copy(t, self, dst)
	return dst
}

// Copy copies the program src to dst with mode 0755, whatever the umask,
// so that other users can run it.
func Copy(t *testing.T, src, dst string) {
	t.Helper()
	in, err := os.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o755)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dst, 0o755); err != nil {
		t.Fatal(err)
	}
}

// RunAs runs the helper test named helper from bin (see Binary) as uid
// (and gid uid) in dir, with env added, and returns what follows "RESULT "
// on the line it printed.
func RunAs(t *testing.T, bin, dir, helper string, uid int, env ...string) string {
	t.Helper()
	cmd := exec.Command(bin, "-test.run=^"+helper+"$", "-test.count=1", "-test.v")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(uid), Gid: uint32(uid)}}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s as uid %d: %v\n%s", helper, uid, err, out)
	}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		if line, ok := strings.CutPrefix(sc.Text(), "RESULT "); ok {
			return line
		}
	}
	t.Fatalf("%s as uid %d printed no RESULT line:\n%s", helper, uid, out)
	return ""
}
