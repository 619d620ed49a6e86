package bootstrap

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"path"
	"strings"
)

// Command is one command to run in the guest.
type Command struct {
	Argv []string
	Env  []string // added to the guest's environment
	Dir  string   // working directory; empty for the guest's default
}

func (c Command) String() string { return strings.Join(c.Argv, " ") }

// Guest runs commands in a guest, streaming their output, and returns
// the exit code. The CLI implements it with the agent's exec.
type Guest interface {
	Run(ctx context.Context, c Command, stdout, stderr io.Writer) (int, error)
}

// Managers the guest may have.
const (
	Mise = "mise"
	Apt  = "apt-get"
)

// Statuses of a Result.
const (
	StatusPlanned   = "planned"   // --dry-run: nothing was asked of a guest
	StatusInstalled = "installed" // every install command succeeded
	StatusFailed    = "failed"    // something failed; Message says what
	StatusOffline   = "offline"   // the VM has no internet access
)

// Result is what became of a plan.
type Result struct {
	Plan
	Status  string `json:"status"`
	Manager string `json:"manager,omitempty"`
	Message string `json:"message,omitempty"`
	// Packages are, after an install with apt-get, the distribution's
	// packages that stand for the declared tools and their versions.
	Packages []Package `json:"packages,omitempty"`
}

// Package is a distribution package installed for a declared tool.
type Package struct {
	Tool    string `json:"tool"`
	Pinned  string `json:"pinned"`
	Name    string `json:"package"`
	Version string `json:"version"`
}

// ProbeCommand prints the tool managers on the guest's PATH, one a line.
func ProbeCommand() Command {
	return Command{Argv: []string{"sh", "-c", `for c in mise apt-get; do command -v "$c" >/dev/null 2>&1 && echo "$c"; done; exit 0`}}
}

// manager picks the tool manager from ProbeCommand's output: mise first.
func manager(probe string) string {
	found := map[string]bool{}
	for _, l := range strings.Fields(probe) {
		found[l] = true
	}
	switch {
	case found[Mise]:
		return Mise
	case found[Apt]:
		return Apt
	}
	return ""
}

// MiseCommands install the plan with mise in the workspace at dir: mise
// trust for the repository's own mise configuration (mise refuses to run
// where an untrusted one is, tools or not), then one mise use --global,
// which installs the pinned versions and makes them the guest's defaults
// without writing into the workspace (so a workspace export carries no
// change of banger's).
func MiseCommands(p Plan, dir string) []Command {
	env := []string{"MISE_YES=1"}
	var cmds []Command
	for _, f := range p.MiseConfigs {
		cmds = append(cmds, Command{Argv: []string{"mise", "trust", path.Join(dir, f)}, Env: env, Dir: dir})
	}
	use := []string{"mise", "use", "--global"}
	for _, t := range p.Tools {
		use = append(use, t.Name+"@"+t.Version)
	}
	return append(cmds, Command{Argv: use, Env: env, Dir: dir})
}

// debian maps a tool to the Debian packages that provide it; the first
// is the one whose version stands for the tool's.
var debian = map[string][]string{
	"go":     {"golang-go"},
	"node":   {"nodejs", "npm"},
	"python": {"python3", "python3-pip", "python3-venv"},
	"ruby":   {"ruby"},
	"rust":   {"rustc", "cargo"},
	"java":   {"default-jdk"},
}

// AptCommands install the Debian packages that stand for the plan's
// tools (apt-get update, apt-get install, then dpkg-query for the
// versions the distribution gave), and list the tools no package stands
// for. With no package to install there are no commands.
func AptCommands(p Plan) (cmds []Command, unsupported []Tool) {
	var pkgs, main []string
	for _, t := range p.Tools {
		d, ok := debian[t.Name]
		if !ok {
			unsupported = append(unsupported, t)
			continue
		}
		pkgs = append(pkgs, d...)
		main = append(main, d[0])
	}
	if len(pkgs) == 0 {
		return nil, unsupported
	}
	env := []string{"DEBIAN_FRONTEND=noninteractive"}
	return []Command{
		{Argv: []string{"apt-get", "update", "-q"}, Env: env},
		{Argv: append([]string{"apt-get", "install", "-y", "-q", "--no-install-recommends"}, pkgs...), Env: env},
		{Argv: append([]string{"dpkg-query", "-W", "-f", "${Package} ${Version}\\n"}, main...)},
	}, unsupported
}

// Install installs the plan in the guest, in the workspace at dir, with
// the first tool manager the guest has, streaming the commands' output
// and banger's own lines to out. A failure is reported in the Result,
// never as an error: the caller carries on without the tools.
func Install(ctx context.Context, g Guest, p Plan, dir string, out io.Writer) Result {
	r := Result{Plan: p}
	fail := func(format string, args ...any) Result {
		r.Status, r.Message = StatusFailed, fmt.Sprintf(format, args...)
		return r
	}
	var probe, perr bytes.Buffer
	code, err := g.Run(ctx, ProbeCommand(), &probe, &perr)
	if err != nil || code != 0 {
		return fail("could not look for a tool manager in the guest: %s", runFailure(code, err, perr.String()))
	}
	r.Manager = manager(probe.String())
	switch r.Manager {
	case Mise:
		fmt.Fprintf(out, "banger: installing %s with mise\n", p.Summary())
		for _, c := range MiseCommands(p, dir) {
			if code, err := g.Run(ctx, c, out, out); err != nil || code != 0 {
				return fail("%s: %s", c, runFailure(code, err, ""))
			}
		}
	case Apt:
		return installApt(ctx, g, r, out)
	default:
		return fail("the guest has neither mise nor apt-get on its PATH: use an image with mise (https://mise.jdx.dev) or install %s yourself", toolList(p.Tools))
	}
	r.Status = StatusInstalled
	return r
}

// installApt installs the Debian packages that stand for the tools and
// says which versions the distribution gave.
func installApt(ctx context.Context, g Guest, r Result, out io.Writer) Result {
	fail := func(format string, args ...any) Result {
		r.Status, r.Message = StatusFailed, fmt.Sprintf(format, args...)
		return r
	}
	cmds, unsupported := AptCommands(r.Plan)
	for _, t := range unsupported {
		fmt.Fprintf(out, "banger: warning: %s %s (%s): no Debian package stands for it and the guest has no mise: install it yourself\n", t.Name, t.Version, t.Source)
	}
	if len(cmds) == 0 {
		return fail("no Debian package stands for %s and the guest has no mise: use an image with mise (https://mise.jdx.dev)", toolList(unsupported))
	}
	fmt.Fprintf(out, "banger: the guest has no mise: installing %s with apt-get; the distribution's versions may differ from the pinned ones (%s)\n",
		strings.Join(cmds[1].Argv[5:], " "), toolList(r.Tools))
	for _, c := range cmds[:2] {
		if code, err := g.Run(ctx, c, out, out); err != nil || code != 0 {
			return fail("%s: %s", c, runFailure(code, err, ""))
		}
	}
	var q, qerr bytes.Buffer
	if code, err := g.Run(ctx, cmds[2], &q, &qerr); err != nil || code != 0 {
		return fail("%s: %s", cmds[2], runFailure(code, err, qerr.String()))
	}
	versions := map[string]string{}
	for _, l := range strings.Split(q.String(), "\n") {
		if name, v, ok := strings.Cut(strings.TrimSpace(l), " "); ok {
			versions[name] = v
		}
	}
	for _, t := range r.Tools {
		d, ok := debian[t.Name]
		if !ok {
			continue
		}
		pk := Package{Tool: t.Name, Pinned: t.Version, Name: d[0], Version: versions[d[0]]}
		r.Packages = append(r.Packages, pk)
		fmt.Fprintf(out, "banger: %s: the distribution gave %s %s; %s pins %s, the exact version may differ\n", t.Name, pk.Name, pk.Version, t.Source, t.Version)
	}
	if len(unsupported) > 0 {
		return fail("not installed: %s (no Debian package stands for them)", toolList(unsupported))
	}
	r.Status = StatusInstalled
	return r
}

// toolList is "go 1.22.1, node 20".
func toolList(ts []Tool) string {
	parts := make([]string, len(ts))
	for i, t := range ts {
		parts[i] = t.String()
	}
	return strings.Join(parts, ", ")
}

// runFailure says why a command failed.
func runFailure(code int, err error, stderr string) string {
	if err != nil {
		return err.Error()
	}
	msg := fmt.Sprintf("exit %d", code)
	if s := strings.TrimSpace(stderr); s != "" {
		if i := strings.LastIndexByte(s, '\n'); i >= 0 {
			s = s[i+1:]
		}
		if len(s) > 200 {
			s = s[:200] + "..."
		}
		msg += ": " + s
	}
	return msg
}
