package vmmproc

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"banger/internal/errdefs"
	"banger/internal/vmm"
)

// testProgram is a Program for binary, with every message part set.
func testProgram(binary string) Program {
	return Program{
		Name: "fakevmm", Binary: binary, ConfigKey: "vmm.fake_bin", Product: "FakeVMM",
		Install: "install FakeVMM (apt-get install fakevmm)", Upgrade: "upgrade FakeVMM",
		MinVersion: "1.5.0",
	}
}

// script writes an executable shell script named fakevmm that runs body.
func script(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "fakevmm")
	if err := os.WriteFile(p, []byte("#!/bin/sh\n"+body+"\n"), 0o700); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestLookup(t *testing.T) {
	dir := t.TempDir()
	notExec := filepath.Join(dir, "not-executable")
	if err := os.WriteFile(notExec, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(dir, "fakevmm")
	tests := []struct {
		binary string
		want   string
	}{
		{"banger-no-such-vmm", `fakevmm binary "banger-no-such-vmm" not found in PATH: install FakeVMM (apt-get install fakevmm) or set vmm.fake_bin in the config`},
		{missing, `fakevmm binary "` + missing + `" not found: install FakeVMM (apt-get install fakevmm) or set vmm.fake_bin in the config`},
		{notExec, `fakevmm binary "` + notExec + `" is not executable: make it executable or set vmm.fake_bin in the config`},
	}
	for _, tc := range tests {
		_, err := testProgram(tc.binary).Lookup()
		if err == nil || err.Error() != tc.want {
			t.Errorf("Lookup(%s) = %v\nwant %s", tc.binary, err, tc.want)
		}
		if got := errdefs.KindOf(err); got != errdefs.FailedPrecondition {
			t.Errorf("Lookup(%s) kind = %q, want %q", tc.binary, got, errdefs.FailedPrecondition)
		}
	}

	// A name is found in PATH and made absolute.
	bin := script(t, "exit 0")
	t.Setenv("PATH", filepath.Dir(bin))
	got, err := testProgram("fakevmm").Lookup()
	if err != nil || got != bin {
		t.Errorf("Lookup(fakevmm) = %q, %v; want %q", got, err, bin)
	}
}

func TestCheck(t *testing.T) {
	tests := []struct {
		name    string
		body    string
		want    vmm.Info // Binary is filled in below
		wantErr string
	}{
		{"current", `echo "FakeVMM v1.7.0"`, vmm.Info{Version: "1.7.0"}, ""},
		{"oldest", `echo "FakeVMM version 1.5"`, vmm.Info{Version: "1.5.0"}, ""},
		{"pre-release", `echo "FakeVMM v1.8.0-dev"`, vmm.Info{Version: "1.8.0-dev"}, ""},
		{"too old", `echo "FakeVMM v1.4.9"`, vmm.Info{Version: "1.4.9"},
			"fakevmm 1.4.9 at BIN is older than 1.5.0, the oldest banger supports: upgrade FakeVMM"},
		{"not a version", `echo "hello"`, vmm.Info{},
			`BIN --version: no version number (like 1.7.0) in "hello": is vmm.fake_bin really FakeVMM?`},
		{"fails", `echo "no such option" >&2; exit 1`, vmm.Info{},
			`run BIN --version: exit status 1 (output: "no such option"): check the binary or set vmm.fake_bin in the config`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			bin := script(t, tc.body)
			info, err := testProgram(bin).Check(context.Background())
			tc.want.Binary = bin
			if diff := cmp.Diff(tc.want, info); diff != "" {
				t.Errorf("Info (-want +got):\n%s", diff)
			}
			if tc.wantErr == "" {
				if err != nil {
					t.Errorf("Check: %v", err)
				}
				return
			}
			want := strings.ReplaceAll(tc.wantErr, "BIN", bin)
			if err == nil || err.Error() != want {
				t.Errorf("Check = %v\nwant %s", err, want)
			}
			if got := errdefs.KindOf(err); got != errdefs.FailedPrecondition {
				t.Errorf("kind = %q, want %q", got, errdefs.FailedPrecondition)
			}
		})
	}
}

func TestCheckMissingBinary(t *testing.T) {
	info, err := testProgram(filepath.Join(t.TempDir(), "fakevmm")).Check(context.Background())
	if errdefs.KindOf(err) != errdefs.FailedPrecondition || !strings.Contains(err.Error(), "vmm.fake_bin") {
		t.Errorf("Check = %v, want a failed precondition naming vmm.fake_bin", err)
	}
	if info != (vmm.Info{}) {
		t.Errorf("Info = %+v, want none", info)
	}
}
