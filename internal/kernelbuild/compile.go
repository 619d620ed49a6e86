package kernelbuild

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"

	"banger/internal/disk"
)

// defaultCompileSteps estimates the lines of kbuild output ("  CC  x.o")
// of a full build of banger's config (measured: about 1,670 for 6.1) when
// no earlier build recorded its own count.
const defaultCompileSteps = 1700

// kbuildLine matches kbuild's quiet output: two spaces, a tag, a target.
var kbuildLine = regexp.MustCompile(`^  [A-Z][A-Z0-9_-]* +\S`)

// compile runs make for vmlinux and bzImage, reporting each line with a
// fraction estimated from the count of a previous full build.
func compile(ctx context.Context, tree, workDir string, jobs int, progress func(Progress)) error {
	countFile := filepath.Join(workDir, "compile-steps")
	total := defaultCompileSteps
	if b, err := os.ReadFile(countFile); err == nil {
		if n, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil && n > 0 {
			total = n
		}
	}
	_, err := os.Stat(filepath.Join(tree, "vmlinux"))
	fresh := os.IsNotExist(err)
	progress(Progress{Step: StepCompile, Detail: fmt.Sprintf("make -j%d vmlinux bzImage", jobs), TotalUnits: int64(total), Unit: unitObjects})
	c := compileCounter{total: total}
	onLine := func(line string) { progress(c.line(line)) }
	if _, err := run(ctx, tree, onLine, "make", "-j"+strconv.Itoa(jobs), "vmlinux", "bzImage"); err != nil {
		return fmt.Errorf("compile the kernel in %s: %w", tree, disk.RoomError(err, workDir))
	}
	if fresh && c.done > 0 {
		_ = os.WriteFile(countFile, []byte(strconv.Itoa(c.done)+"\n"), 0o644)
	}
	progress(c.finish())
	return nil
}

// unitObjects is the unit of the compile's count: kbuild targets.
const unitObjects = "objects"

// compileCounter turns make's output into progress: each kbuild line
// ("  CC      fs/inode.o") is one object of an expected total (the count of
// the previous full build, or defaultCompileSteps). The total is an
// estimate, so the fraction stays below 1 until make has finished, and a
// build that makes more objects than expected counts on at 99%.
type compileCounter struct {
	total int
	done  int
}

// line counts one line of make's output and reports it.
func (c *compileCounter) line(line string) Progress {
	if kbuildLine.MatchString(line) {
		c.done++
	}
	total := max(c.total, c.done)
	f := float64(c.done) / float64(total)
	if f > 0.99 {
		f = 0.99
	}
	return Progress{Step: StepCompile, Detail: line, Fraction: f, Current: int64(c.done), TotalUnits: int64(total), Unit: unitObjects}
}

// finish reports the end of the compile: every object made (no count
// when make had nothing to do).
func (c *compileCounter) finish() Progress {
	p := Progress{Step: StepCompile, Fraction: 1}
	if c.done > 0 {
		p.Current, p.TotalUnits, p.Unit = int64(c.done), int64(c.done), unitObjects
	}
	return p
}
