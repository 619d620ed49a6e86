package imagebuild

import (
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

func TestPhaseFraction(t *testing.T) {
	tests := []struct {
		line string
		want float64
	}{
		{"I: downloading packages with apt...", 0.08},
		{"I: installing remaining packages inside the chroot...", 0.45},
		{"Setting up git (1:2.39.5-0+deb12u2) ...", 0},
		{"I: Configuring the base system...", 0.80},
	}
	for _, tt := range tests {
		if got := phaseFraction(tt.line); got != tt.want {
			t.Errorf("phaseFraction(%q) = %v, want %v", tt.line, got, tt.want)
		}
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
