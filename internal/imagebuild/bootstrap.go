package imagebuild

import (
	"context"
	"path/filepath"
	"regexp"
	"strconv"
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

// bands are the phases of a bootstrap, announced by the tool's "I:"
// lines, each the part of the step's progress from its own fraction to the
// next band's. In a band with a per-package weight, the step moves through
// the band as it works through the packages apt last announced ("0
// upgraded, 69 newly installed, ..."): weight is how many lines each
// package gets there (a download "Get:", "Unpacking", "Setting up"). The
// fractions are rough measurements of a bookworm build on 2 cores.
var bands = []struct {
	prefix   string
	fraction float64
	weight   int
}{
	// mmdebstrap (with --verbose, which passes apt's and dpkg's output on)
	{"I: running apt-get update", 0.02, 0},
	{"I: downloading packages", 0.05, 1},
	{"I: extracting archives", 0.20, 0},
	{"I: installing essential packages", 0.25, 2},
	{"I: installing remaining packages", 0.45, 3},
	{"I: cleaning package lists", 0.96, 0},
	{"I: success", 1, 0},
	// debootstrap
	{"I: Retrieving Release", 0.02, 0},
	{"I: Retrieving Packages", 0.05, 0},
	{"I: Retrieving ", 0.10, 0},
	{"I: Extracting ", 0.30, 0},
	{"I: Installing core packages", 0.40, 0},
	{"I: Unpacking required packages", 0.45, 0},
	{"I: Configuring required packages", 0.55, 0},
	{"I: Unpacking the base system", 0.70, 0},
	{"I: Configuring the base system", 0.80, 0},
	{"I: Base system installed successfully", 1, 0},
}

// bandOf returns the index of the band a line starts, or -1.
func bandOf(line string) int {
	for i, b := range bands {
		if strings.HasPrefix(line, b.prefix) {
			return i
		}
	}
	return -1
}

// unitPackages is the unit of the bootstrap's count.
const unitPackages = "packages"

// bootstrapMeter follows a bootstrap's output: the band it is in, the
// packages apt announced, and the packages unpacked and set up, for a
// fraction that only goes up and a count of packages set up of those
// announced so far (the remaining packages are announced part-way).
type bootstrapMeter struct {
	band      int // index into bands, -1 before the first
	reached   float64
	announced int // packages of the latest announcement
	total     int // packages of every announcement
	work      int // lines of package work in this band
	unpacked  map[string]bool
	setUp     map[string]bool
}

func newBootstrapMeter() *bootstrapMeter {
	return &bootstrapMeter{band: -1, unpacked: map[string]bool{}, setUp: map[string]bool{}}
}

// newlyInstalled matches apt's announcement of what it will install.
var newlyInstalled = regexp.MustCompile(`^\d+ upgraded, (\d+) newly installed,`)

// line takes one line of output and returns the step's progress after it:
// the fraction reached, and packages set up of those announced (total 0
// while none are).
func (m *bootstrapMeter) line(s string) (fraction float64, done, total int) {
	if b := bandOf(s); b >= 0 && (m.band < 0 || bands[b].fraction >= bands[m.band].fraction) {
		m.band, m.work = b, 0
		m.reached = max(m.reached, bands[b].fraction)
	}
	if sm := newlyInstalled.FindStringSubmatch(s); sm != nil {
		if n, err := strconv.Atoi(sm[1]); err == nil {
			m.announced = n
			m.total += n
		}
	}
	switch {
	case strings.HasPrefix(s, "Get:") && m.announced > 0:
		m.work++
	case strings.HasPrefix(s, "Unpacking "):
		if name := packageName(s, "Unpacking "); name != "" && !m.unpacked[name] {
			m.unpacked[name] = true
			m.work++
		}
	case strings.HasPrefix(s, "Setting up "):
		if name := packageName(s, "Setting up "); name != "" && !m.setUp[name] {
			m.setUp[name] = true
			m.work++
		}
	}
	if m.band >= 0 && bands[m.band].weight > 0 && m.announced > 0 {
		from, to := bands[m.band].fraction, m.nextFraction()
		sub := min(float64(m.work)/float64(bands[m.band].weight*m.announced), 1)
		m.reached = max(m.reached, from+sub*(to-from)*0.999)
	}
	return m.reached, len(m.setUp), max(m.total, len(m.setUp))
}

// nextFraction is where the band after the current one starts: the next
// in the list, which holds each tool's bands in order.
func (m *bootstrapMeter) nextFraction() float64 {
	if i := m.band + 1; i < len(bands) && bands[i].fraction > bands[m.band].fraction {
		return bands[i].fraction
	}
	return 1
}

// packageName is the package a dpkg line names after prefix ("Unpacking
// libc6:amd64 (2.36-9) ..." names libc6:amd64), or "".
func packageName(line, prefix string) string {
	name, _, ok := strings.Cut(strings.TrimPrefix(line, prefix), " ")
	if !ok {
		return ""
	}
	return name
}

// bootstrap installs the packages into dir, passing the tool's output on
// with the progress reached so far. mmdebstrap runs with --verbose so that
// apt's and dpkg's lines show which package it is at. r runs it as root or
// as root of the build's user namespace (mmdebstrap's root mode works in
// both).
func bootstrap(ctx context.Context, r runner, bin string, o Options, dir string, report func(Progress)) error {
	args := bootstrapArgs(bin, o, dir)
	if filepath.Base(bin) != "debootstrap" {
		args = append([]string{"--verbose"}, args...)
	}
	m := newBootstrapMeter()
	return r.run(ctx, func(line string) {
		f, done, total := m.line(line)
		p := Progress{Detail: line, Fraction: f}
		if total > 0 {
			p.Current, p.TotalUnits, p.Unit = int64(done), int64(total), unitPackages
		}
		report(p)
	}, bin, args...)
}
