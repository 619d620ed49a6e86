package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"

	"banger/internal/vmm/firecracker/fctest"
)

// binaries are the programs under test, built once per test binary.
type binaries struct {
	banger, bangerd, firecracker string
}

var (
	buildOnce sync.Once
	buildDir  string
	buildErr  error
)

// TestMain removes the built binaries after the run.
func TestMain(m *testing.M) {
	code := m.Run()
	if buildDir != "" {
		os.RemoveAll(buildDir)
	}
	os.Exit(code)
}

// build compiles banger, bangerd and banger-init (once) and the fake
// Firecracker.
func build(t *testing.T) binaries {
	t.Helper()
	buildOnce.Do(func() { buildDir, buildErr = buildCommands() })
	if buildErr != nil {
		t.Fatalf("build banger: %v", buildErr)
	}
	return binaries{
		banger:      filepath.Join(buildDir, "banger"),
		bangerd:     filepath.Join(buildDir, "bangerd"),
		firecracker: fctest.Build(t),
	}
}

func buildCommands() (string, error) {
	goBin, err := exec.LookPath("go")
	if err != nil {
		return "", fmt.Errorf("find the go command: %w: run the tests with `go test`", err)
	}
	dir, err := os.MkdirTemp("", "banger-e2e-bin-")
	if err != nil {
		return "", fmt.Errorf("create build directory: %w", err)
	}
	// bangertest compiles in the crash hook (BANGERD_TEST_CRASH_BEFORE)
	// that the crash-safety tests use; release builds have none.
	cmd := exec.Command(goBin, "build", "-tags=bangertest", "-o", dir+string(filepath.Separator), "banger/cmd/banger", "banger/cmd/bangerd")
	if out, err := cmd.CombinedOutput(); err != nil {
		os.RemoveAll(dir)
		return "", fmt.Errorf("go build: %w\n%s", err, out)
	}
	// banger-init runs alone in an initramfs: static, as make builds it.
	// The daemon finds it next to bangerd.
	cmd = exec.Command(goBin, "build", "-trimpath", "-ldflags", "-s -w", "-o", dir+string(filepath.Separator), "banger/cmd/banger-init")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		os.RemoveAll(dir)
		return "", fmt.Errorf("go build banger-init: %w\n%s", err, out)
	}
	return dir, nil
}
