package cow

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func makeXFSProbe() error {
	_, err := exec.LookPath("mkfs.xfs")
	return err
}

// mountScratchXFS mounts a fresh 1 GiB XFS file on a temporary directory
// for the test and unmounts it (detaching its loop device) afterwards.
func mountScratchXFS(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	file, mnt := filepath.Join(dir, "scratch.xfs"), filepath.Join(dir, "mnt")
	if err := makeXFS(context.Background(), file, 1<<30, -1, -1); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(mnt, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := (Local{}).MountXFS(file, mnt); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := (Local{}).UnmountXFS(file, mnt); err != nil {
			t.Errorf("unmount scratch XFS: %v", err)
		}
		if loops := loopsLeft(t, file); len(loops) != 0 {
			t.Errorf("loop devices %v still back %s", loops, file)
		}
	})
	return mnt
}

// unmountAll unmounts stateDir's XFS filesystem and checks that no loop
// device is left on its file.
func unmountAll(t *testing.T, stateDir string) {
	t.Helper()
	file, mnt := filepath.Join(stateDir, xfsFile), filepath.Join(stateDir, xfsMount)
	if err := (Local{}).UnmountXFS(file, mnt); err != nil {
		t.Errorf("unmount %s: %v", mnt, err)
	}
	if loops := loopsLeft(t, file); len(loops) != 0 {
		t.Errorf("loop devices %v still back %s", loops, file)
	}
}

// loopsLeft waits up to two seconds for the loop devices of file to go
// (the kernel detaches an autoclear device asynchronously after the last
// close) and returns those still there.
func loopsLeft(t *testing.T, file string) []string {
	t.Helper()
	deadline := time.Now().Add(2 * time.Second)
	for {
		loops := loopsOf(t, file)
		if len(loops) == 0 || time.Now().After(deadline) {
			return loops
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// loopsOf lists the loop devices backed by file.
func loopsOf(t *testing.T, file string) []string {
	t.Helper()
	matches, _ := filepath.Glob("/sys/block/loop*/loop/backing_file")
	var out []string
	for _, m := range matches {
		b, err := os.ReadFile(m)
		if err != nil {
			continue
		}
		if strings.TrimSpace(string(b)) == file {
			out = append(out, filepath.Base(filepath.Dir(filepath.Dir(m))))
		}
	}
	return out
}
