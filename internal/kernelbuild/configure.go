package kernelbuild

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"banger/internal/errdefs"
)

// configure writes .config in tree with `make allnoconfig` and the
// fragment, then checks that every option of the fragment took effect: an
// option the source does not know, or whose dependencies are unmet, is
// silently dropped by Kconfig, and a kernel without it may not boot.
func configure(ctx context.Context, tree, workDir, fragment string, progress func(Progress)) error {
	progress(Progress{Step: StepConfigure, Detail: "make allnoconfig with banger's fragment"})
	frag := filepath.Join(workDir, "banger.config")
	if err := os.WriteFile(frag, []byte(fragment), 0o644); err != nil {
		return fmt.Errorf("write config fragment: %w", err)
	}
	if _, err := run(ctx, tree, nil, "make", "KCONFIG_ALLCONFIG="+frag, "allnoconfig"); err != nil {
		return fmt.Errorf("configure the kernel: %w", err)
	}
	got, err := os.ReadFile(filepath.Join(tree, ".config"))
	if err != nil {
		return fmt.Errorf("read the generated .config: %w", err)
	}
	if missing := missingOptions(fragment, string(got)); len(missing) > 0 {
		return errdefs.FailedPreconditionf("the kernel source in %s does not accept %d options of banger's config (%s): build from linux-source-6.1 (run \"apt-get install linux-source-6.1\")",
			tree, len(missing), strings.Join(missing, ", "))
	}
	progress(Progress{Step: StepConfigure, Detail: "every option of the fragment is set", Fraction: 1})
	return nil
}

// missingOptions returns the fragment's CONFIG_ lines that are not lines
// of config, in fragment order.
func missingOptions(fragment, config string) []string {
	have := map[string]bool{}
	for _, line := range strings.Split(config, "\n") {
		have[strings.TrimSpace(line)] = true
	}
	var missing []string
	sc := bufio.NewScanner(strings.NewReader(fragment))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if strings.HasPrefix(line, "CONFIG_") && !have[line] {
			missing = append(missing, line)
		}
	}
	return missing
}
