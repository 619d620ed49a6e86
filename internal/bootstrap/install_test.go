package bootstrap

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// fakeGuest is a guest with some commands on its PATH: it records what
// ran, answers the probe and dpkg-query as a real guest would, and fails
// the commands it is told to.
type fakeGuest struct {
	path     map[string]bool   // commands on the PATH
	packages map[string]string // what apt-get install would give: package → version
	failing  string            // a command (argv[0] argv[1]) that exits 1
	broken   bool              // every Run fails to reach the guest
	ran      []Command
	dpkg     map[string]string // installed packages
}

func (g *fakeGuest) Run(_ context.Context, c Command, stdout, stderr io.Writer) (int, error) {
	if g.broken {
		return -1, errors.New("the agent is gone")
	}
	g.ran = append(g.ran, c)
	if !g.path[c.Argv[0]] && c.Argv[0] != "sh" {
		fmt.Fprintf(stderr, "%s: not found\n", c.Argv[0])
		return 127, nil
	}
	if len(c.Argv) > 1 && g.failing == c.Argv[0]+" "+c.Argv[1] {
		fmt.Fprintf(stderr, "E: %s failed\n", c.Argv[1])
		return 1, nil
	}
	switch {
	case c.Argv[0] == "sh":
		for _, m := range []string{"mise", "apt-get"} {
			if g.path[m] {
				fmt.Fprintln(stdout, m)
			}
		}
	case c.Argv[0] == "apt-get" && c.Argv[1] == "install":
		for _, p := range c.Argv[5:] {
			if g.dpkg == nil {
				g.dpkg = map[string]string{}
			}
			g.dpkg[p] = g.packages[p]
		}
		fmt.Fprintln(stdout, "Setting up packages")
	case c.Argv[0] == "dpkg-query":
		for _, p := range c.Argv[4:] {
			if v, ok := g.dpkg[p]; ok {
				fmt.Fprintf(stdout, "%s %s\n", p, v)
			}
		}
	default:
		fmt.Fprintf(stdout, "%s ran\n", c.Argv[0])
	}
	return 0, nil
}

var plan = Plan{Tools: []Tool{{"go", "1.22.1", ".tool-versions", 1}, {"node", "20", ".mise.toml", 3}, {"python", "3.12", ".python-version", 1}}, MiseConfigs: []string{".mise.toml"}}

func TestMiseCommands(t *testing.T) {
	env := []string{"MISE_YES=1"}
	want := []Command{
		{Argv: []string{"mise", "trust", "/root/app/.mise.toml"}, Env: env, Dir: "/root/app"},
		{Argv: []string{"mise", "use", "--global", "go@1.22.1", "node@20", "python@3.12"}, Env: env, Dir: "/root/app"},
	}
	if diff := cmp.Diff(want, MiseCommands(plan, "/root/app")); diff != "" {
		t.Errorf("MiseCommands (-want +got):\n%s", diff)
	}
	// A mise file with no tools (only [env], say) is trusted too; with
	// none, nothing is.
	p := Detect(map[string][]byte{"mise.toml": []byte("[env]\nA = \"1\"\n"), ".nvmrc": []byte("20\n")})
	want = []Command{
		{Argv: []string{"mise", "trust", "/w/mise.toml"}, Env: env, Dir: "/w"},
		{Argv: []string{"mise", "use", "--global", "node@20"}, Env: env, Dir: "/w"},
	}
	if diff := cmp.Diff(want, MiseCommands(p, "/w")); diff != "" {
		t.Errorf("MiseCommands with a tool-less mise.toml (-want +got):\n%s", diff)
	}
	p = Detect(map[string][]byte{"mise.toml": []byte("[tools\n"), ".nvmrc": []byte("20\n")})
	if got := MiseCommands(p, "/w"); len(got) != 1 {
		t.Errorf("MiseCommands with a broken mise.toml = %v, want only mise use", got)
	}
}

func TestAptCommands(t *testing.T) {
	p := Plan{Tools: append([]Tool{{"zig", "0.12", ".tool-versions", 2}}, plan.Tools...)}
	cmds, unsupported := AptCommands(p)
	env := []string{"DEBIAN_FRONTEND=noninteractive"}
	want := []Command{
		{Argv: []string{"apt-get", "update", "-q"}, Env: env},
		{Argv: []string{"apt-get", "install", "-y", "-q", "--no-install-recommends", "golang-go", "nodejs", "npm", "python3", "python3-pip", "python3-venv"}, Env: env},
		{Argv: []string{"dpkg-query", "-W", "-f", `${Package} ${Version}\n`, "golang-go", "nodejs", "python3"}},
	}
	if diff := cmp.Diff(want, cmds); diff != "" {
		t.Errorf("AptCommands (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]Tool{{"zig", "0.12", ".tool-versions", 2}}, unsupported); diff != "" {
		t.Errorf("unsupported (-want +got):\n%s", diff)
	}
}

func TestInstall(t *testing.T) {
	debianVersions := map[string]string{"golang-go": "2:1.19~1", "nodejs": "18.19.0+dfsg-6", "python3": "3.11.2-1+b1"}
	tests := []struct {
		name     string
		guest    *fakeGuest
		plan     Plan
		status   string
		manager  string
		message  string
		ran      []string
		packages []Package
		says     []string
	}{
		{
			name:    "mise",
			guest:   &fakeGuest{path: map[string]bool{"mise": true, "apt-get": true}},
			plan:    plan,
			status:  StatusInstalled,
			manager: Mise,
			ran:     []string{ProbeCommand().String(), "mise trust /root/app/.mise.toml", "mise use --global go@1.22.1 node@20 python@3.12"},
			says:    []string{"banger: installing go 1.22.1 (.tool-versions), node 20 (.mise.toml), python 3.12 (.python-version) with mise\n", "mise ran\n"},
		},
		{
			name:    "mise fails",
			guest:   &fakeGuest{path: map[string]bool{"mise": true}, failing: "mise use"},
			plan:    plan,
			status:  StatusFailed,
			manager: Mise,
			message: "mise use --global go@1.22.1 node@20 python@3.12: exit 1",
			ran:     []string{ProbeCommand().String(), "mise trust /root/app/.mise.toml", "mise use --global go@1.22.1 node@20 python@3.12"},
			says:    []string{"E: use failed\n"},
		},
		{
			name:    "apt-get",
			guest:   &fakeGuest{path: map[string]bool{"apt-get": true, "dpkg-query": true}, packages: debianVersions},
			plan:    plan,
			status:  StatusInstalled,
			manager: Apt,
			ran: []string{ProbeCommand().String(), "apt-get update -q", "apt-get install -y -q --no-install-recommends golang-go nodejs npm python3 python3-pip python3-venv",
				`dpkg-query -W -f ${Package} ${Version}\n golang-go nodejs python3`},
			packages: []Package{{"go", "1.22.1", "golang-go", "2:1.19~1"}, {"node", "20", "nodejs", "18.19.0+dfsg-6"}, {"python", "3.12", "python3", "3.11.2-1+b1"}},
			says: []string{
				"banger: the guest has no mise: installing golang-go nodejs npm python3 python3-pip python3-venv with apt-get; the distribution's versions may differ from the pinned ones (go 1.22.1, node 20, python 3.12)\n",
				"banger: go: the distribution gave golang-go 2:1.19~1; .tool-versions pins 1.22.1, the exact version may differ\n",
			},
		},
		{
			name:    "apt-get with a tool Debian lacks",
			guest:   &fakeGuest{path: map[string]bool{"apt-get": true, "dpkg-query": true}, packages: debianVersions},
			plan:    Plan{Tools: []Tool{{"go", "1.22.1", "go.mod", 3}, {"zig", "0.12", ".tool-versions", 1}}},
			status:  StatusFailed,
			manager: Apt,
			message: "not installed: zig 0.12 (no Debian package stands for them)",
			ran: []string{ProbeCommand().String(), "apt-get update -q", "apt-get install -y -q --no-install-recommends golang-go",
				`dpkg-query -W -f ${Package} ${Version}\n golang-go`},
			packages: []Package{{"go", "1.22.1", "golang-go", "2:1.19~1"}},
			says:     []string{"banger: warning: zig 0.12 (.tool-versions): no Debian package stands for it and the guest has no mise: install it yourself\n"},
		},
		{
			name:    "apt-get only unsupported tools",
			guest:   &fakeGuest{path: map[string]bool{"apt-get": true}},
			plan:    Plan{Tools: []Tool{{"zig", "0.12", ".tool-versions", 1}}},
			status:  StatusFailed,
			manager: Apt,
			message: "no Debian package stands for zig 0.12 and the guest has no mise: use an image with mise (https://mise.jdx.dev)",
			ran:     []string{ProbeCommand().String()},
		},
		{
			name:    "apt-get update fails (no internet after all)",
			guest:   &fakeGuest{path: map[string]bool{"apt-get": true}, failing: "apt-get update"},
			plan:    plan,
			status:  StatusFailed,
			manager: Apt,
			message: "apt-get update -q: exit 1",
			ran:     []string{ProbeCommand().String(), "apt-get update -q"},
		},
		{
			name:    "no manager",
			guest:   &fakeGuest{path: map[string]bool{}},
			plan:    plan,
			status:  StatusFailed,
			message: "the guest has neither mise nor apt-get on its PATH: use an image with mise (https://mise.jdx.dev) or install go 1.22.1, node 20, python 3.12 yourself",
			ran:     []string{ProbeCommand().String()},
		},
		{
			name:    "guest unreachable",
			guest:   &fakeGuest{broken: true},
			plan:    plan,
			status:  StatusFailed,
			message: "could not look for a tool manager in the guest: the agent is gone",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			r := Install(context.Background(), tt.guest, tt.plan, "/root/app", &out)
			if r.Status != tt.status || r.Manager != tt.manager || r.Message != tt.message {
				t.Errorf("Install = status %q manager %q message %q; want %q %q %q", r.Status, r.Manager, r.Message, tt.status, tt.manager, tt.message)
			}
			var ran []string
			for _, c := range tt.guest.ran {
				ran = append(ran, c.String())
			}
			if diff := cmp.Diff(tt.ran, ran); diff != "" {
				t.Errorf("commands run (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.packages, r.Packages); diff != "" {
				t.Errorf("packages (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.plan, r.Plan); diff != "" {
				t.Errorf("plan (-want +got):\n%s", diff)
			}
			for _, s := range tt.says {
				if !strings.Contains(out.String(), s) {
					t.Errorf("output lacks %q:\n%s", s, out.String())
				}
			}
		})
	}
}
