package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/google/go-cmp/cmp"

	"banger/internal/bootstrap"
)

// toolRepo makes a git checkout that declares tools: .tool-versions with a
// bad line, go.mod, and an ignored .nvmrc that must not count.
func toolRepo(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	files := map[string]string{
		".tool-versions":  "golang 1.22.1\nnodejs\n",
		"go.mod":          "module example.com/app\n\ngo 1.21\n",
		".python-version": "3.12\n",
		".gitignore":      ".nvmrc\n",
		".nvmrc":          "18\n",
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, args := range [][]string{{"init", "-q"}, {"add", "-A"}, {"-c", "user.name=T", "-c", "user.email=t@x", "commit", "-q", "-m", "one"}} {
		cmd := exec.Command("git", append([]string{"-C", dir}, args...)...)
		cmd.Env = append(os.Environ(), "GIT_CONFIG_GLOBAL="+os.DevNull, "GIT_CONFIG_NOSYSTEM=1")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
	}
	// The working tree's version is what ships, and what counts.
	if err := os.WriteFile(filepath.Join(dir, ".python-version"), []byte("3.13\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestPrepareDryRunShowsTheToolPlan: --dry-run shows the declared tools
// and the warnings about bad lines, in text and in --json, and asks
// nothing of a daemon; --no-bootstrap leaves the plan out.
func TestPrepareDryRunShowsTheToolPlan(t *testing.T) {
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("needs git")
	}
	repo := toolRepo(t)
	run := func(args ...string) (string, string, int) {
		var stdout, stderr bytes.Buffer
		args = append([]string{"--socket", "/nonexistent/bangerd.sock", "vm", "workspace", "prepare", "nowhere", repo, "--dry-run"}, args...)
		code := Run(context.Background(), args, Env{Stdout: &stdout, Stderr: &stderr, Getenv: func(string) string { return "" }})
		return stdout.String(), stderr.String(), code
	}

	_, errs, code := run()
	for _, want := range []string{
		"banger: warning: .tool-versions:2: \"nodejs\" has no version: write NAME VERSION, e.g. go 1.22.1\n",
		"banger: go 1.21 in go.mod is overridden by go 1.22.1 in .tool-versions\n",
		"banger: would install go 1.22.1 (.tool-versions), python 3.13 (.python-version) once shipped, when the VM has internet access\n",
	} {
		if code != 0 || !strings.Contains(errs, want) {
			t.Errorf("--dry-run: exit %d, stderr lacks %q:\n%s", code, want, errs)
		}
	}

	out, _, code := run("--json")
	var got struct {
		Bootstrap *bootstrap.Result `json:"bootstrap"`
	}
	if err := json.Unmarshal([]byte(out), &got); err != nil || code != 0 {
		t.Fatalf("--dry-run --json: exit %d, %v: %s", code, err, out)
	}
	want := &bootstrap.Result{
		Plan: bootstrap.Plan{
			Tools:    []bootstrap.Tool{{Name: "go", Version: "1.22.1", Source: ".tool-versions", Line: 1}, {Name: "python", Version: "3.13", Source: ".python-version", Line: 1}},
			Warnings: []string{`.tool-versions:2: "nodejs" has no version: write NAME VERSION, e.g. go 1.22.1`},
			Notes:    []string{"go 1.21 in go.mod is overridden by go 1.22.1 in .tool-versions"},
		},
		Status: bootstrap.StatusPlanned,
	}
	if diff := cmp.Diff(want, got.Bootstrap); diff != "" {
		t.Errorf("--dry-run --json bootstrap (-want +got):\n%s", diff)
	}

	out, errs, code = run("--json", "--no-bootstrap")
	if code != 0 || strings.Contains(out, "bootstrap") || strings.Contains(errs, "would install") || strings.Contains(errs, "warning") {
		t.Errorf("--no-bootstrap: exit %d, stdout %s, stderr %s", code, out, errs)
	}
}

// TestReadBoundedRefusesWhatIsNotAFile: a symlink or a FIFO where a
// declaration file should be is not read (a FIFO would block forever).
func TestReadBoundedRefusesWhatIsNotAFile(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, ".nvmrc")
	if err := mkfifo(fifo); err != nil {
		t.Skipf("mkfifo: %v", err)
	}
	if _, err := readBounded(fifo); err == nil {
		t.Errorf("readBounded read a FIFO")
	}
	link := filepath.Join(dir, ".tool-versions")
	if err := os.Symlink("/etc/passwd", link); err != nil {
		t.Fatal(err)
	}
	if _, err := readBounded(link); err == nil {
		t.Errorf("readBounded followed a symlink")
	}
	big := filepath.Join(dir, "go.mod")
	if err := os.WriteFile(big, bytes.Repeat([]byte("x"), 3*bootstrap.MaxFileSize), 0o644); err != nil {
		t.Fatal(err)
	}
	if data, err := readBounded(big); err != nil || len(data) != bootstrap.MaxFileSize+1 {
		t.Errorf("readBounded of a big file: %d bytes, %v; want %d", len(data), err, bootstrap.MaxFileSize+1)
	}
}

func mkfifo(path string) error { return syscall.Mkfifo(path, 0o644) }
