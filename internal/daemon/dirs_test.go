package daemon

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"banger/internal/errdefs"
	"banger/internal/paths"
	"banger/internal/peercred/peercredtest"
	"banger/internal/testtier"
)

// plantEnv names the symlink TestHelperPlant makes ("link=target"); it is
// set only in the re-executed helper process.
const plantEnv = "BANGER_TEST_PLANT"

// TestHelperPlant is not a test: TestRefusesLooseRuntimeDir runs it as
// another uid, as the attacker. It makes the directory target, open to
// all, and a symlink link to it, then prints what it did.
func TestHelperPlant(t *testing.T) {
	spec := os.Getenv(plantEnv)
	if spec == "" {
		t.Skip("helper process for TestRefusesLooseRuntimeDir; runs only when re-executed with " + plantEnv)
	}
	link, target, _ := strings.Cut(spec, "=")
	err := os.Mkdir(target, 0o700)
	if err == nil {
		err = os.Chmod(target, 0o777)
	}
	if err == nil {
		err = os.Symlink(target, link)
	}
	fmt.Printf("RESULT planted=%v\n", err == nil)
	if err != nil {
		fmt.Printf("error: %v\n", err)
	}
}

// TestRefusesLooseRuntimeDir: the daemon's runtime directory exists and
// others may write to it; another user (uid 65534) has planted a vms
// symlink to a directory of theirs. The daemon refuses to start, saying
// how to fix it, instead of making the directory private and then putting
// the VMs' sockets (and so their agent secrets) in the attacker's
// directory; nothing is created through the link.
func TestRefusesLooseRuntimeDir(t *testing.T) {
	testtier.Root(t)
	const attacker = 65534
	root := shortDir(t)
	// As open as /tmp, so the attacker can make a directory of theirs.
	if err := os.Chmod(root, 0o1777); err != nil {
		t.Fatal(err)
	}
	layout := paths.Layout{
		ConfigDir: filepath.Join(root, "cfg"), StateDir: filepath.Join(root, "state"),
		CacheDir: filepath.Join(root, "cache"), RuntimeDir: filepath.Join(root, "run"),
	}
	if err := os.Mkdir(layout.RuntimeDir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(layout.RuntimeDir, 0o777); err != nil {
		t.Fatal(err)
	}
	bin := peercredtest.Binary(t, root)
	trap := filepath.Join(root, "trap")
	link := filepath.Join(layout.RuntimeDir, "vms")
	if got := peercredtest.RunAs(t, bin, root, "TestHelperPlant", attacker, plantEnv+"="+link+"="+trap); got != "planted=true" {
		t.Fatalf("the attacker could not plant the link: %s", got)
	}

	d, err := New(context.Background(), testOptions(t, layout, os.Getuid(), &syncBuffer{}))
	if err == nil {
		d.Close()
		t.Fatal("the daemon started on a runtime directory others may write to")
	}
	want := "runtime directory " + layout.RuntimeDir + " has mode 0777: group or others can write to it, so anything in it may have been planted by another user: " +
		"stop bangerd, remove it (rm -rf " + layout.RuntimeDir + ") and start banger again"
	if got := err.Error(); got != want {
		t.Errorf("error:\n got %s\nwant %s", got, want)
	}
	if got, want := errdefs.KindOf(err), errdefs.FailedPrecondition; got != want {
		t.Errorf("kind = %s, want %s", got, want)
	}
	if fi, err := os.Lstat(layout.RuntimeDir); err != nil || fi.Mode().Perm() != 0o777 {
		t.Errorf("the refused runtime directory was changed: %v %v", fi.Mode(), err)
	}
	des, err := os.ReadDir(trap)
	if err != nil {
		t.Fatal(err)
	}
	for _, de := range des {
		t.Errorf("created %s through the planted link", de.Name())
	}
	// Made private by its owner, the directory still holds the link; the
	// daemon starts, but makes no VM directory through it.
	if err := os.Chmod(layout.RuntimeDir, 0o700); err != nil {
		t.Fatal(err)
	}
	d, err = New(context.Background(), testOptions(t, layout, os.Getuid(), &syncBuffer{}))
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	err = vmDirs{Layout: layout, uid: os.Getuid()}.MakeDir(layout.VMRuntimeDir("0123456789abcdef"))
	if err == nil || !strings.Contains(err.Error(), link+" is a symlink, which banger refuses to follow") {
		t.Errorf("making a VM runtime directory through the planted link = %v, want a refusal", err)
	}
	if des, _ := os.ReadDir(trap); len(des) != 0 {
		t.Errorf("created %v through the planted link", des)
	}
}
