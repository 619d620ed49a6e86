package imagebuild

import (
	"os"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"banger/internal/errdefs"
)

func TestValidate(t *testing.T) {
	ok := Options{AgentBinary: "/a", WorkDir: "/w"}
	tests := []struct {
		name  string
		opts  func(o Options) Options
		wants []string // substrings of the error; none means valid
	}{
		{"defaults", func(o Options) Options { return o }, nil},
		{"extra packages", func(o Options) Options { o.Packages = []string{"htop", "g++", "python3.11"}; return o }, nil},
		{"everything wrong", func(o Options) Options {
			return Options{Suite: "Bookworm;", Mirror: "ftp://x", Packages: []string{"-o", "a,b", "ok"}}
		}, []string{`suite "Bookworm;"`, `mirror "ftp://x"`, `package "-o"`, `package "a,b"`, "agent binary", "work directory"}},
		{"mirror with space", func(o Options) Options { o.Mirror = "http://x/ y"; return o }, []string{"mirror"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.opts(ok).Validate()
			if len(tt.wants) == 0 {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			if errdefs.KindOf(err) != errdefs.InvalidArgument {
				t.Fatalf("Validate = %v, want InvalidArgument", err)
			}
			for _, w := range tt.wants {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
			if strings.Contains(err.Error(), `"ok"`) {
				t.Errorf("error %q names a valid package", err)
			}
		})
	}
}

func TestRecipe(t *testing.T) {
	base := Options{AgentBinary: "/a", WorkDir: "/w"}
	same := Options{Suite: "bookworm", Mirror: DefaultMirror, AgentBinary: "/elsewhere", WorkDir: "/x", Packages: []string{"git"}}
	if base.Recipe() != same.Recipe() {
		t.Errorf("Recipe depends on paths or on repeating a base package")
	}
	for _, o := range []Options{{Suite: "trixie"}, {Mirror: "http://mirror.example/debian"}, {Packages: []string{"htop"}}} {
		if o.Recipe() == base.Recipe() {
			t.Errorf("Recipe(%+v) equals the default recipe", o)
		}
	}
}

func TestBootstrapArgs(t *testing.T) {
	o := Options{Packages: []string{"htop", "git"}}.withDefaults()
	include := "--include=" + strings.Join(basePackages, ",") + ",htop"
	tests := []struct {
		bin  string
		want []string
	}{
		{"/usr/bin/mmdebstrap", []string{"--variant=minbase", "--mode=root", include, "bookworm", "/t", DefaultMirror}},
		{"/usr/sbin/debootstrap", []string{"--variant=minbase", include, "bookworm", "/t", DefaultMirror}},
	}
	for _, tt := range tests {
		if diff := cmp.Diff(tt.want, bootstrapArgs(tt.bin, o, "/t")); diff != "" {
			t.Errorf("bootstrapArgs(%s) (-want +got):\n%s", tt.bin, diff)
		}
	}
}

// TestBootstrapProgress drives the bootstrap's progress with the output
// of a real build (mmdebstrap 1.3.5 --verbose, bookworm, the base
// packages, recorded on a 2-core Debian host): the fraction only goes up,
// moves through the packages rather than jumping between phases, and ends
// at 1; the count ends at every package announced, all set up.
func TestBootstrapProgress(t *testing.T) {
	b, err := os.ReadFile("testdata/mmdebstrap-bookworm-verbose.log")
	if err != nil {
		t.Fatal(err)
	}
	m := newBootstrapMeter()
	last, lastDone, lastTotal := 0.0, 0, 0
	distinct := map[float64]bool{}
	for n, line := range strings.Split(strings.TrimRight(string(b), "\n"), "\n") {
		f, done, total := m.line(line)
		if f < last || f > 1 {
			t.Fatalf("line %d %q: fraction %v after %v", n+1, line, f, last)
		}
		// Each phase is worked through up to the next: no line jumps far.
		if f-last > 0.06 {
			t.Errorf("line %d %q: fraction jumps from %v to %v", n+1, line, last, f)
		}
		if done < lastDone || total < lastTotal || done > total {
			t.Fatalf("line %d %q: %d of %d packages after %d of %d", n+1, line, done, total, lastDone, lastTotal)
		}
		last, lastDone, lastTotal = f, done, total
		distinct[f] = true
	}
	if last != 1 {
		t.Errorf("final fraction = %v, want 1", last)
	}
	// apt announced 69 essential and 123 remaining packages.
	if lastDone != 192 || lastTotal != 192 {
		t.Errorf("final count = %d of %d packages, want 192 of 192", lastDone, lastTotal)
	}
	if len(distinct) < 300 {
		t.Errorf("%d distinct fractions: progress jumps instead of following the packages", len(distinct))
	}
}

// TestBootstrapProgressPartial checks the meter on output it cannot
// count (debootstrap's phases, stray lines, an announcement without
// package lines): it still only goes up and never passes 1.
func TestBootstrapProgressPartial(t *testing.T) {
	lines := []string{
		"Setting up git (1:2.39.5-0+deb12u2) ...",
		"I: Retrieving Release",
		"I: Extracting base-files...",
		"I: Retrieving Packages",
		"0 upgraded, 3 newly installed, 0 to remove and 0 not upgraded.",
		"Get:1 http://deb.debian.org/debian bookworm/main amd64 a amd64 1 [1 kB]",
		"Get:2 http://deb.debian.org/debian bookworm/main amd64 b amd64 1 [1 kB]",
		"Get:3 http://deb.debian.org/debian bookworm/main amd64 c amd64 1 [1 kB]",
		"Get:4 http://deb.debian.org/debian bookworm/main amd64 d amd64 1 [1 kB]",
		"Unpacking",
		"I: Configuring the base system...",
		"I: Base system installed successfully.",
	}
	m := newBootstrapMeter()
	want := []float64{0, 0.02, 0.30, 0.30, 0.30, 0.30, 0.30, 0.30, 0.30, 0.30, 0.80, 1}
	var got []float64
	for _, l := range lines {
		f, _, _ := m.line(l)
		got = append(got, f)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("fractions (-want +got):\n%s", diff)
	}
}

func TestLineWriter(t *testing.T) {
	var got []string
	w := &lineWriter{line: func(s string) { got = append(got, s) }}
	for _, chunk := range []string{"one\ntw", "o\r\n\n   \nthr", "ee"} {
		if _, err := w.Write([]byte(chunk)); err != nil {
			t.Fatal(err)
		}
	}
	w.flush()
	if diff := cmp.Diff([]string{"one", "two", "three"}, got); diff != "" {
		t.Errorf("lines (-want +got):\n%s", diff)
	}
	for i := range 20 {
		w.emit(strings.Repeat("x", i+1))
	}
	if n := strings.Count(w.tail(), "\n") + 1; n != keepLines {
		t.Errorf("tail keeps %d lines, want %d", n, keepLines)
	}
}
