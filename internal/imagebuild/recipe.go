package imagebuild

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/url"
	"regexp"
	"strings"

	"banger/internal/errdefs"
)

// Defaults of Options.
const (
	DefaultSuite  = "bookworm"
	DefaultMirror = "http://deb.debian.org/debian"
)

// recipeVersion names what configure writes into the tree; change it
// whenever configure changes so cached test images are rebuilt.
const recipeVersion = "imagebuild-v1"

// basePackages are installed into every image on top of Debian's minbase
// variant: an init, remote access, and the tools a developer expects.
var basePackages = []string{
	"systemd", "systemd-sysv", "udev", "dbus", "openssh-server", "git", "curl",
	"ca-certificates", "sudo", "iproute2", "iputils-ping", "netbase", "procps",
	"less", "nano", "vim-tiny", "make", "xz-utils", "gnupg", "file", "rsync",
}

var (
	suiteRE   = regexp.MustCompile(`^[a-z][a-z0-9-]{0,31}$`)
	packageRE = regexp.MustCompile(`^[a-z0-9][a-z0-9+.-]{0,99}$`)
)

// Options says what to build.
type Options struct {
	Suite       string   // Debian suite; default "bookworm"
	Mirror      string   // Debian mirror URL; default deb.debian.org
	Packages    []string // extra packages
	AgentBinary string   // static banger-agent binary to embed
	WorkDir     string   // build area and output directory
}

// withDefaults fills the empty fields.
func (o Options) withDefaults() Options {
	if o.Suite == "" {
		o.Suite = DefaultSuite
	}
	if o.Mirror == "" {
		o.Mirror = DefaultMirror
	}
	return o
}

// Validate reports every problem with the options at once, as an
// InvalidArgument error. Empty Suite and Mirror mean the defaults.
func (o Options) Validate() error {
	o = o.withDefaults()
	var p []string
	if !suiteRE.MatchString(o.Suite) {
		p = append(p, fmt.Sprintf("suite %q: use a Debian suite name such as %q", o.Suite, DefaultSuite))
	}
	if u, err := url.Parse(o.Mirror); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" ||
		strings.ContainsAny(o.Mirror, " \t\n") {
		p = append(p, fmt.Sprintf("mirror %q: use an http or https URL such as %s", o.Mirror, DefaultMirror))
	}
	for _, pkg := range o.Packages {
		if !packageRE.MatchString(pkg) {
			p = append(p, fmt.Sprintf("package %q: not a Debian package name (lowercase letters, digits, + - .)", pkg))
		}
	}
	if o.AgentBinary == "" {
		p = append(p, "agent binary: a path is required (build it with make build)")
	}
	if o.WorkDir == "" {
		p = append(p, "work directory: a path is required")
	}
	if len(p) > 0 {
		return errdefs.InvalidArgumentf("image build: %s", strings.Join(p, "; "))
	}
	return nil
}

// packages is the --include list: base packages then extra ones, without
// duplicates.
func (o Options) packages() []string {
	seen := map[string]bool{}
	var out []string
	for _, p := range append(append([]string{}, basePackages...), o.Packages...) {
		if !seen[p] {
			seen[p] = true
			out = append(out, p)
		}
	}
	return out
}

// Recipe returns a digest of everything that decides the image's contents
// except the agent binary: the suite, mirror, package list and the
// configure step's version. Caches of built images key on it.
func (o Options) Recipe() string {
	o = o.withDefaults()
	h := sha256.New()
	fmt.Fprintf(h, "%s\n%s\n%s\n%s\n", recipeVersion, o.Suite, o.Mirror, strings.Join(o.packages(), ","))
	// What configure writes is part of the recipe too.
	for _, f := range []string{agentUnit, hostKeysUnit, rootSeedUnit, identityUnit, udevSubsystemsUnit, udevTriggerDropIn, identityMarkerText, fstab, sshdConfig, hostsFile, resolvConf} {
		fmt.Fprintf(h, "%d\n%s", len(f), f)
	}
	return hex.EncodeToString(h.Sum(nil))
}
