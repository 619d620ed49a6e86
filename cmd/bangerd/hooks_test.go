//go:build !bangertest

package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"banger/internal/testtier"
)

const crashVariable = "BANGERD_TEST_CRASH_BEFORE"

// TestReleaseIgnoresCrashVariable: a build without -tags bangertest has no
// fault injection, whatever the environment says.
func TestReleaseIgnoresCrashVariable(t *testing.T) {
	t.Setenv(crashVariable, "vm.create:copy-root-disk")
	if h := testHooks(); h.BeforeStep != nil {
		t.Fatalf("testHooks() with %s set has a BeforeStep hook in a release build", crashVariable)
	}
}

// TestReleaseBinaryHasNoCrashHook builds bangerd as a release is built and
// checks that the crash hook's variable is nowhere in it, and that a
// bangertest build has it (so that the check can see it at all).
func TestReleaseBinaryHasNoCrashHook(t *testing.T) {
	testtier.Slow(t)
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skipf("needs the go command on PATH: %v", err)
	}
	dir := t.TempDir()
	for _, tt := range []struct {
		tags string
		want bool
	}{{"", false}, {"bangertest", true}} {
		out := filepath.Join(dir, "bangerd-"+tt.tags)
		cmd := exec.Command(goBin, "build", "-trimpath", "-tags="+tt.tags, "-o", out, "banger/cmd/bangerd")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if b, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("go build -tags=%q: %v\n%s", tt.tags, err, b)
		}
		bin, err := os.ReadFile(out)
		if err != nil {
			t.Fatal(err)
		}
		if got := bytes.Contains(bin, []byte(crashVariable)); got != tt.want {
			t.Errorf("bangerd built with -tags=%q contains %s: %v, want %v", tt.tags, crashVariable, got, tt.want)
		}
	}
}
