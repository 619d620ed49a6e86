package kernelbuild

import (
	"context"
	"crypto/rand"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// recordedCompile is make's output of a full build of banger's config
// from Debian's linux-source-6.1 (make -j2 vmlinux bzImage, on a 2-core
// Debian host), as compile reads it.
const recordedCompile = "testdata/make-6.1-vmlinux-bzImage.log"

// kbuildLines counts the lines of a recorded build compile counts.
func kbuildLines(t *testing.T, lines []string) int {
	t.Helper()
	n := 0
	for _, l := range lines {
		if kbuildLine.MatchString(l) {
			n++
		}
	}
	if n < 1000 {
		t.Fatalf("%s has %d kbuild lines: not a full build", recordedCompile, n)
	}
	return n
}

func readRecorded(t *testing.T) []string {
	t.Helper()
	b, err := os.ReadFile(recordedCompile)
	if err != nil {
		t.Fatal(err)
	}
	return strings.Split(strings.TrimRight(string(b), "\n"), "\n")
}

// TestCompileCounterRecorded drives the counter with a real build's
// output against an expected total that is right, too high (the default
// before any build) and too low (a bigger source than last time): the
// fraction and the count only go up, stay below 1 until make ends, and
// end at 1 with every object counted.
func TestCompileCounterRecorded(t *testing.T) {
	lines := readRecorded(t)
	objects := kbuildLines(t, lines)
	for _, total := range []int{objects, defaultCompileSteps, objects * 2 / 3} {
		t.Run(strconv.Itoa(total), func(t *testing.T) {
			c := compileCounter{total: total}
			var last Progress
			for i, l := range lines {
				p := c.line(l)
				if p.Fraction < last.Fraction || p.Fraction >= 1 || p.Current < last.Current ||
					p.Current > p.TotalUnits || p.TotalUnits < last.TotalUnits || p.Unit != "objects" {
					t.Fatalf("line %d %q: %+v after %+v", i+1, l, p, last)
				}
				last = p
			}
			end := c.finish()
			if end.Fraction != 1 || end.Current != int64(objects) || end.TotalUnits != int64(objects) {
				t.Errorf("finish = %+v, want 1 with %d of %d objects", end, objects, objects)
			}
			if total == objects && last.Fraction < 0.98 {
				t.Errorf("with the right total the last line is at %v, want about 1", last.Fraction)
			}
		})
	}
}

// TestCompileRecorded runs compile with a make that replays the recorded
// build: it reports every line with a rising fraction, ends at 1, and
// records the object count for the next build's estimate.
func TestCompileRecorded(t *testing.T) {
	lines := readRecorded(t)
	objects := kbuildLines(t, lines)
	bin := t.TempDir()
	log, err := filepath.Abs(recordedCompile)
	if err != nil {
		t.Fatal(err)
	}
	script := "#!/bin/sh\ncat '" + log + "'\n"
	if err := os.WriteFile(filepath.Join(bin, "make"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", bin+string(os.PathListSeparator)+os.Getenv("PATH"))
	tree, work := t.TempDir(), t.TempDir()
	var got []Progress
	if err := compile(context.Background(), tree, work, 2, func(p Progress) { got = append(got, p) }); err != nil {
		t.Fatalf("compile: %v", err)
	}
	if len(got) != len(lines)+2 {
		t.Errorf("%d reports for %d lines, want one per line and a first and last", len(got), len(lines))
	}
	for i := 1; i < len(got); i++ {
		if got[i].Fraction < got[i-1].Fraction || got[i].Step != StepCompile {
			t.Fatalf("report %d %+v after %+v", i, got[i], got[i-1])
		}
	}
	if first := got[0]; first.TotalUnits != defaultCompileSteps || first.Current != 0 {
		t.Errorf("first report %+v, want 0 of %d objects", first, defaultCompileSteps)
	}
	if end := got[len(got)-1]; end.Fraction != 1 || end.Current != int64(objects) {
		t.Errorf("last report %+v, want 1 with %d objects", end, objects)
	}
	b, err := os.ReadFile(filepath.Join(work, "compile-steps"))
	if err != nil || strings.TrimSpace(string(b)) != strconv.Itoa(objects) {
		t.Errorf("compile-steps = %q (%v), want %d", b, err, objects)
	}
}

// TestExtractReportsBytes extracts a small linux-source-like tarball and
// checks the extract step counts the tarball's bytes as tar reads them,
// rising to its size, then ends at 1 naming the tree's directory.
func TestExtractReportsBytes(t *testing.T) {
	if _, err := exec.LookPath("xz"); err != nil {
		t.Skip("needs xz (apt-get install xz-utils)")
	}
	src := t.TempDir()
	tree := filepath.Join(src, "linux-source-6.1")
	if err := os.MkdirAll(tree, 0o755); err != nil {
		t.Fatal(err)
	}
	noise := make([]byte, 512<<10) // incompressible, so tar reads it in many chunks
	if _, err := rand.Read(noise); err != nil {
		t.Fatal(err)
	}
	for name, data := range map[string][]byte{"Makefile": []byte("all:\n"), "noise": noise} {
		if err := os.WriteFile(filepath.Join(tree, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	tarball := filepath.Join(t.TempDir(), "linux-source-6.1.tar.xz")
	if out, err := exec.Command("tar", "-cJf", tarball, "-C", src, "linux-source-6.1").CombinedOutput(); err != nil {
		t.Fatalf("tar: %v\n%s", err, out)
	}
	st, err := os.Stat(tarball)
	if err != nil {
		t.Fatal(err)
	}
	work := t.TempDir()
	var got []Progress
	dir, err := extract(context.Background(), tarball, strings.Repeat("ab", 32), work, func(p Progress) { got = append(got, p) })
	if err != nil {
		t.Fatalf("extract: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "noise")); err != nil {
		t.Errorf("extracted tree: %v", err)
	}
	var counted []Progress
	for _, p := range got {
		if p.Unit == "bytes" {
			counted = append(counted, p)
		}
	}
	if len(counted) < 5 {
		t.Fatalf("%d byte counts, want one per hundredth read: %+v", len(counted), got)
	}
	for i, p := range counted {
		if p.TotalUnits != st.Size() || p.Fraction >= 1 || (i > 0 && (p.Current < counted[i-1].Current || p.Fraction < counted[i-1].Fraction)) {
			t.Fatalf("count %d: %+v after %+v (size %d)", i, p, counted[max(i-1, 0)], st.Size())
		}
	}
	if last := counted[len(counted)-1]; last.Current != st.Size() {
		t.Errorf("last count %d, want the tarball's %d bytes", last.Current, st.Size())
	}
	if end := got[len(got)-1]; end.Fraction != 1 || end.Detail != filepath.Dir(dir) {
		t.Errorf("last report %+v, want 1 naming %s", end, filepath.Dir(dir))
	}
}
