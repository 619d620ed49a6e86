package qemu

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"banger/internal/errdefs"
)

func TestParseVersion(t *testing.T) {
	tests := []struct {
		in      string
		want    Version
		wantErr bool
	}{
		{"QEMU emulator version 7.2.22 (Debian 1:7.2+dfsg-7+deb12u18+b3)\nCopyright (c) 2003-2022 Fabrice Bellard", Version{7, 2, 22}, false},
		{"QEMU emulator version 8.2.2 (qemu-8.2.2-1.fc40)", Version{8, 2, 2}, false},
		{"QEMU emulator version 9.0.0", Version{9, 0, 0}, false},
		{"QEMU emulator version 6.2", Version{6, 2, 0}, false},
		{"7.2.0", Version{7, 2, 0}, false},
		{"Firecracker v1.7.0", Version{1, 7, 0}, false}, // a version, but Check's minimum refuses 1.7
		{"no version here", Version{}, true},
		{"", Version{}, true},
	}
	for _, tc := range tests {
		got, err := ParseVersion(tc.in)
		if (err != nil) != tc.wantErr {
			t.Errorf("ParseVersion(%q) error = %v, wantErr %v", tc.in, err, tc.wantErr)
			continue
		}
		if got != tc.want {
			t.Errorf("ParseVersion(%q) = %v, want %v", tc.in, got, tc.want)
		}
	}
}

func TestVersionAtLeast(t *testing.T) {
	minV := Version{6, 0, 0}
	tests := []struct {
		v    Version
		want bool
	}{
		{Version{6, 0, 0}, true}, {Version{7, 2, 22}, true}, {Version{5, 2, 9}, false}, {Version{6, 0, 1}, true},
	}
	for _, tc := range tests {
		if got := tc.v.AtLeast(minV); got != tc.want {
			t.Errorf("%v.AtLeast(%v) = %v, want %v", tc.v, minV, got, tc.want)
		}
	}
}

// fakeBinary writes an executable script that prints out for --version.
func fakeBinary(t *testing.T, out string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "qemu-system-x86_64")
	script := "#!/bin/sh\nprintf '%s\\n' '" + out + "'\n"
	if err := os.WriteFile(p, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestCheck(t *testing.T) {
	tests := []struct {
		name        string
		out         string
		wantVersion string
		wantErr     string
	}{
		{"current", "QEMU emulator version 7.2.22 (Debian)", "7.2.22 (tcg: set in the config)", ""},
		{"too old", "QEMU emulator version 5.2.0", "5.2.0", "older than 6.0.0"},
		{"not qemu", "hello", "", "is vmm.qemu_bin really qemu-system-x86_64?"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			bin := fakeBinary(t, tc.out)
			info, err := New(Config{Binary: bin, Accel: AccelTCG}).Check(context.Background())
			if info.Version != tc.wantVersion || info.Binary != bin {
				t.Errorf("Info = %+v, want version %q and binary %q", info, tc.wantVersion, bin)
			}
			if tc.wantErr == "" {
				if err != nil {
					t.Errorf("Check: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) || errdefs.KindOf(err) != errdefs.FailedPrecondition {
				t.Errorf("Check error = %v (kind %q), want a failed precondition containing %q", err, errdefs.KindOf(err), tc.wantErr)
			}
		})
	}
}

func TestCheckMissingBinary(t *testing.T) {
	for _, bin := range []string{"/nonexistent/qemu-system-x86_64", "no-such-qemu-binary"} {
		_, err := New(Config{Binary: bin}).Check(context.Background())
		if errdefs.KindOf(err) != errdefs.FailedPrecondition || !strings.Contains(err.Error(), "vmm.qemu_bin") {
			t.Errorf("Check(%s) = %v, want a failed precondition that names vmm.qemu_bin", bin, err)
		}
	}
}
