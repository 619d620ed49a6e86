package imagebuild

import (
	"context"
	"path/filepath"
	"strings"
)

// bootstrapArgs is the command line that installs the packages into dir:
// Debian's minbase variant plus the base and extra packages, no
// recommends. dir must not exist yet (mmdebstrap wants it absent or empty).
func bootstrapArgs(bin string, o Options, dir string) []string {
	include := "--include=" + strings.Join(o.packages(), ",")
	if filepath.Base(bin) == "debootstrap" {
		return []string{"--variant=minbase", include, o.Suite, dir, o.Mirror}
	}
	return []string{"--variant=minbase", "--mode=root", include, o.Suite, dir, o.Mirror}
}

// phases maps the progress lines of mmdebstrap and debootstrap to how far
// the bootstrap has got. Later phases take longer, so the fractions are
// rough measurements of a bookworm build.
var phases = []struct {
	prefix   string
	fraction float64
}{
	{"I: running apt-get update", 0.02},
	{"I: downloading packages", 0.08},
	{"I: extracting archives", 0.25},
	{"I: installing essential packages", 0.30},
	{"I: installing remaining packages", 0.45},
	{"I: cleaning package lists", 0.95},
	// debootstrap
	{"I: Retrieving Release", 0.02},
	{"I: Retrieving Packages", 0.05},
	{"I: Retrieving ", 0.10},
	{"I: Extracting ", 0.30},
	{"I: Installing core packages", 0.40},
	{"I: Unpacking required packages", 0.45},
	{"I: Configuring required packages", 0.55},
	{"I: Unpacking the base system", 0.70},
	{"I: Configuring the base system", 0.80},
	{"I: Base system installed successfully", 1},
}

// phaseFraction returns the fraction a line announces, or 0.
func phaseFraction(line string) float64 {
	for _, p := range phases {
		if strings.HasPrefix(line, p.prefix) {
			return p.fraction
		}
	}
	return 0
}

// bootstrap installs the packages into dir, passing the tool's output on
// as Detail lines with the fraction reached so far. r runs it as root or
// as root of the build's user namespace (mmdebstrap's root mode works in
// both).
func bootstrap(ctx context.Context, r runner, bin string, o Options, dir string, report func(detail string, fraction float64)) error {
	reached := 0.0
	return r.run(ctx, func(line string) {
		if f := phaseFraction(line); f > reached {
			reached = f
		}
		report(line, reached)
	}, bin, bootstrapArgs(bin, o, dir)...)
}
