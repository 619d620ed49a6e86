package qemu

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"banger/internal/errdefs"
)

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
		{"current", "QEMU emulator version 7.2.22 (Debian)", "7.2.22 (tcg: set in the config; guests boot with norandmaps, see vmm.tcg_aslr)", ""},
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

// TestCheckTCGASLR: with vmm.tcg_aslr the version says nothing about
// norandmaps.
func TestCheckTCGASLR(t *testing.T) {
	bin := fakeBinary(t, "QEMU emulator version 7.2.22 (Debian)")
	info, err := New(Config{Binary: bin, Accel: AccelTCG, TCGASLR: true}).Check(context.Background())
	if err != nil || info.Version != "7.2.22 (tcg: set in the config)" {
		t.Errorf("Check = %+v, %v; want version 7.2.22 (tcg: set in the config)", info, err)
	}
}

func TestCheckMissingBinary(t *testing.T) {
	for _, bin := range []string{"/nonexistent/qemu-system-x86_64", "no-such-qemu-binary"} {
		_, err := New(Config{Binary: bin}).Check(context.Background())
		want := "install QEMU (apt-get install qemu-system-x86) or set vmm.qemu_bin in the config"
		if errdefs.KindOf(err) != errdefs.FailedPrecondition || !strings.HasSuffix(err.Error(), want) {
			t.Errorf("Check(%s) = %v, want a failed precondition ending %q", bin, err, want)
		}
	}
}
