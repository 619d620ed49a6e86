package kernelbuild

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"banger/internal/errdefs"
)

func TestCheckToolsListsEveryMissingOne(t *testing.T) {
	b := builder{
		tools:   []string{"make", "gcc", "bison"},
		headers: []string{"/nonexistent/gelf.h"},
		lookPath: func(name string) (string, error) {
			if name == "make" {
				return "/usr/bin/make", nil
			}
			return "", errors.New("not found")
		},
	}
	err := b.checkTools()
	if !errors.Is(err, ErrMissingPrerequisite) || errdefs.KindOf(err) != errdefs.FailedPrecondition {
		t.Fatalf("checkTools = %v, want a FailedPrecondition missing prerequisite", err)
	}
	for _, want := range []string{"gcc, bison, /nonexistent/gelf.h", "apt-get install build-essential"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
	b.lookPath = func(string) (string, error) { return "/bin/x", nil }
	b.headers = nil
	if err := b.checkTools(); err != nil {
		t.Errorf("checkTools with everything present = %v", err)
	}
}

func TestFindSource(t *testing.T) {
	dir := t.TempDir()
	b := builder{sourceGlob: filepath.Join(dir, "linux-source-*.tar.xz")}
	_, err := b.findSource("")
	if !errors.Is(err, ErrMissingPrerequisite) || !strings.Contains(err.Error(), "apt-get install linux-source-6.1") {
		t.Errorf("no source: %v, want a missing prerequisite naming linux-source-6.1", err)
	}
	for _, v := range []string{"5.10", "6.1", "6.10", "6.9"} {
		if err := os.WriteFile(filepath.Join(dir, "linux-source-"+v+".tar.xz"), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := b.findSource("")
	if want := filepath.Join(dir, "linux-source-6.10.tar.xz"); got != want || err != nil {
		t.Errorf("findSource = %q, %v; want the newest, %q", got, err, want)
	}
	explicit := filepath.Join(dir, "linux-source-6.1.tar.xz")
	if got, err := b.findSource(explicit); got != explicit || err != nil {
		t.Errorf("findSource(%q) = %q, %v", explicit, got, err)
	}
	if _, err := b.findSource(filepath.Join(dir, "missing.tar.xz")); errdefs.KindOf(err) != errdefs.NotFound {
		t.Errorf("missing explicit source: %v, want NotFound", err)
	}
	if _, err := b.findSource(dir); errdefs.KindOf(err) != errdefs.InvalidArgument {
		t.Errorf("directory as source: %v, want InvalidArgument", err)
	}
}

func TestMissingOptions(t *testing.T) {
	config := "#\n# CONFIG_X is not set\nCONFIG_A=y\nCONFIG_S=\"banger\"\nCONFIG_N=32\n"
	tests := []struct {
		name, fragment string
		want           []string
	}{
		{"all present", "# comment\nCONFIG_A=y\n\nCONFIG_S=\"banger\"\nCONFIG_N=32\n", nil},
		{"dropped and changed", "CONFIG_A=y\nCONFIG_B=y\nCONFIG_N=64\n", []string{"CONFIG_B=y", "CONFIG_N=64"}},
		{"prefix is not a match", "CONFIG_A=yes\n", []string{"CONFIG_A=yes"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, missingOptions(tt.fragment, config)); diff != "" {
				t.Errorf("missingOptions (-want +got):\n%s", diff)
			}
		})
	}
}

func TestEmbeddedFragmentIsWellFormed(t *testing.T) {
	n := 0
	for _, line := range strings.Split(Fragment, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if !strings.HasPrefix(line, "CONFIG_") || !strings.Contains(line, "=") {
			t.Errorf("fragment line %q is neither a comment nor CONFIG_X=value", line)
		}
		n++
	}
	if n < 50 {
		t.Errorf("fragment has %d options; the embed looks wrong", n)
	}
}

func TestVersionPrefix(t *testing.T) {
	for in, want := range map[string]string{
		"/usr/src/linux-source-6.1.tar.xz":  "6.1.",
		"/usr/src/linux-source-6.10.tar.xz": "6.10.",
		"/tmp/kernel.tar.xz":                "",
	} {
		if got := versionPrefix(in); got != want {
			t.Errorf("versionPrefix(%q) = %q, want %q", in, got, want)
		}
	}
}
