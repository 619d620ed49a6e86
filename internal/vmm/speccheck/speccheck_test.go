package speccheck

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"banger/internal/errdefs"
	"banger/internal/vmm"
)

func TestChecks(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "f")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		err  error
		want string // "" means no error
	}{
		{"id ok", first(ID("vm-1")), ""},
		{"id empty", first(ID("")), "ID: is empty"},
		{"id long", first(ID(strings.Repeat("a", MaxID+1))), "longer than 64"},
		{"id chars", first(ID("a_b")), "letters, digits and '-'"},
		{"abs empty", Abs("Kernel", ""), "Kernel: is empty"},
		{"abs relative", Abs("Kernel", "k"), "not an absolute path"},
		{"file ok", File("Kernel", file, true), ""},
		{"file optional", File("Initrd", "", false), ""},
		{"file missing", File("Kernel", filepath.Join(dir, "nope"), true), "does not exist"},
		{"file dir", File("Kernel", dir, true), "is not a file"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.want == "" {
				if tc.err != nil {
					t.Fatalf("unexpected error %v", tc.err)
				}
				return
			}
			if tc.err == nil || !strings.Contains(tc.err.Error(), tc.want) {
				t.Fatalf("error = %v, want it to contain %q", tc.err, tc.want)
			}
		})
	}
}

func first(errs []error) error {
	if len(errs) == 0 {
		return nil
	}
	return errs[0]
}

func TestJoin(t *testing.T) {
	if Join(nil) != nil {
		t.Error("Join(nil) != nil")
	}
	errs := Append(Append(nil, nil), Abs("A", ""))
	errs = Append(errs, Abs("B", "rel"))
	err := Join(errs)
	if !errdefs.Is(err, errdefs.InvalidArgument) || !strings.Contains(err.Error(), "A: is empty") || !strings.Contains(err.Error(), "B: ") {
		t.Errorf("Join = %v", err)
	}
}

// TestMachine: one spec with every machine field wrong reports each of
// them, and a good spec passes; both drivers rely on this list.
func TestMachine(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "f")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	good := vmm.Spec{VCPUs: 2, MemoryMiB: 256, Kernel: file, RootDisk: file, Tap: "bt-1", MAC: "02:00:00:00:00:01", VsockPath: filepath.Join(dir, "v.sock")}
	if errs := Machine(good); len(errs) != 0 {
		t.Errorf("Machine(good) = %v, want no problems", errs)
	}
	bad := vmm.Spec{VCPUs: MaxVCPUs + 1, MemoryMiB: 0, Kernel: "k", Initrd: filepath.Join(dir, "none"), RootDisk: dir, IdentityDisk: filepath.Join(dir, "none"),
		Tap: "a,b", MAC: "02:00", VsockPath: "/" + strings.Repeat("s", MaxSunPath)}
	got := Machine(bad)
	for _, want := range []string{"VCPUs: 33", "MemoryMiB: 0", "Kernel: \"k\"", "Initrd: ", "RootDisk: ", "IdentityDisk: ", "Tap: \"a,b\"", "MAC: \"02:00\"", "VsockPath: "} {
		found := false
		for _, err := range got {
			found = found || strings.HasPrefix(err.Error(), want)
		}
		if !found {
			t.Errorf("Machine(bad) = %v: no problem starting %q", got, want)
		}
	}
	if errs := Process(vmm.Process{}, "qmp socket"); len(errs) != 2 || !strings.Contains(errs[1].Error(), "qmp socket is empty") {
		t.Errorf("Process(zero) = %v, want the pid and the qmp socket", errs)
	}
}
