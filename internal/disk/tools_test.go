package disk

import (
	"context"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"banger/internal/errdefs"
)

func runOut(path string, args ...string) ([]byte, error) {
	return exec.Command(path, args...).CombinedOutput()
}

func TestCheckTools(t *testing.T) {
	got := CheckTools()
	if len(got) != len(toolNames) {
		t.Fatalf("CheckTools returned %d entries, want %d", len(got), len(toolNames))
	}
	for i, st := range got {
		if st.Name != toolNames[i] {
			t.Errorf("entry %d is %q, want %q", i, st.Name, toolNames[i])
		}
		if st.Err != nil {
			t.Skipf("needs e2fsprogs: %v", st.Err)
		}
		if !filepath.IsAbs(st.Path) || filepath.Base(st.Path) != st.Name {
			t.Errorf("%s found at %q, want an absolute path to it", st.Name, st.Path)
		}
	}
}

func TestCheckToolsMissing(t *testing.T) {
	empty := t.TempDir()
	got := checkTools(func(name string) (string, error) { return findIn(name, []string{empty, "relative/dir"}) })
	for _, st := range got {
		if st.Path != "" || errdefs.KindOf(st.Err) != errdefs.FailedPrecondition {
			t.Errorf("%s: path %q err %v, want no path and a failed_precondition error", st.Name, st.Path, st.Err)
			continue
		}
		want := st.Name + " not found: install e2fsprogs (apt-get install e2fsprogs)"
		if got := st.Err.Error(); got != want {
			t.Errorf("error = %q, want %q", got, want)
		}
	}
}

func TestFindInSkipsRelativeAndNonExecutable(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "mkfs.ext4", []byte("#!/bin/sh\n")) // mode 0644
	if _, err := findIn("mkfs.ext4", []string{dir}); err == nil {
		t.Error("findIn found a non-executable file")
	}
	if _, err := findIn("sh", []string{"bin", "."}); err == nil || !strings.Contains(err.Error(), "not found") {
		t.Errorf("findIn used a relative directory: %v", err)
	}
}

func TestRunnerErrorCarriesOutput(t *testing.T) {
	needTool(t, "mkfs.ext4")
	r := runner{find: findTool}
	err := r.run(context.Background(), "mkfs.ext4", "-q", "/nonexistent/dir/disk")
	if err == nil {
		t.Fatal("mkfs.ext4 on a missing path succeeded")
	}
	for _, want := range []string{"mkfs.ext4 -q /nonexistent/dir/disk failed", "exit status", "/nonexistent/dir/disk does not exist"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not contain %q", err, want)
		}
	}
}
