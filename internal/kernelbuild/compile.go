package kernelbuild

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
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
	progress(Progress{Step: StepCompile, Detail: fmt.Sprintf("make -j%d vmlinux bzImage", jobs)})
	done := 0
	onLine := func(line string) {
		if kbuildLine.MatchString(line) {
			done++
		}
		progress(Progress{Step: StepCompile, Detail: line, Fraction: estimate(done, total)})
	}
	if _, err := run(ctx, tree, onLine, "make", "-j"+strconv.Itoa(jobs), "vmlinux", "bzImage"); err != nil {
		return fmt.Errorf("compile the kernel in %s: %w", tree, err)
	}
	if fresh && done > 0 {
		_ = os.WriteFile(countFile, []byte(strconv.Itoa(done)+"\n"), 0o644)
	}
	progress(Progress{Step: StepCompile, Fraction: 1})
	return nil
}

// estimate is done/total, held below 1 until make has finished.
func estimate(done, total int) float64 {
	f := float64(done) / float64(total)
	if f > 0.99 {
		f = 0.99
	}
	return f
}
