package cli

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/spf13/cobra"
)

// groupPaths returns the argument vectors of every command of the tree
// that has subcommands, the root included (as an empty vector), so that
// commands added later are covered without touching the test.
func groupPaths(t *testing.T) [][]string {
	t.Helper()
	root := (&app{}).rootCommand()
	var paths [][]string
	var walk func(c *cobra.Command, path []string)
	walk = func(c *cobra.Command, path []string) {
		if !c.HasSubCommands() {
			return
		}
		paths = append(paths, path)
		for _, sub := range c.Commands() {
			walk(sub, append(append([]string(nil), path...), sub.Name()))
		}
	}
	walk(root, nil)
	if len(paths) < 4 {
		t.Fatalf("found %d group commands (%q); the walk is broken", len(paths), paths)
	}
	return paths
}

// run runs the CLI with no daemon reachable: a command that tried to reach
// one would fail with a different error.
func run(args ...string) (code int, stdout, stderr string) {
	var out, errb bytes.Buffer
	env := Env{Stdout: &out, Stderr: &errb, Getenv: func(k string) string {
		if k == "BANGERD" {
			return "/nonexistent/bangerd"
		}
		return ""
	}}
	code = Run(context.Background(), args, env)
	return code, out.String(), errb.String()
}

func TestUnknownSubcommandFailsEverywhere(t *testing.T) {
	for _, path := range groupPaths(t) {
		name := "banger " + strings.Join(path, " ")
		t.Run(strings.TrimSpace(name), func(t *testing.T) {
			code, stdout, stderr := run(append(path, "bogus")...)
			if code == 0 {
				t.Errorf("%s bogus: exit 0, want non-zero; stdout %q", name, stdout)
			}
			want := `unknown command "bogus" for "` + strings.TrimSpace(name) + `"`
			if !strings.Contains(stderr, want) {
				t.Errorf("%s bogus: stderr %q, want it to contain %q", name, stderr, want)
			}
			if stdout != "" {
				t.Errorf("%s bogus: printed help on stdout %q, want nothing", name, stdout)
			}
		})
	}
}

func TestGroupAlonePrintsHelp(t *testing.T) {
	for _, path := range groupPaths(t) {
		name := strings.TrimSpace("banger " + strings.Join(path, " "))
		t.Run(name, func(t *testing.T) {
			code, stdout, stderr := run(path...)
			if code != 0 {
				t.Errorf("%s: exit %d, want 0; stderr %q", name, code, stderr)
			}
			if !strings.Contains(stdout, "Available Commands:") || !strings.Contains(stdout, "Usage:") {
				t.Errorf("%s: stdout %q, want its help", name, stdout)
			}
		})
	}
}

func TestUnknownSubcommandSuggests(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"vm", "strat"}, `unknown command "strat" for "banger vm"; did you mean "start"?`},
		{[]string{"image", "lis", "x"}, `unknown command "lis" for "banger image"; did you mean "list"?`},
		{[]string{"vm", "workspace", "exprot", "x"}, `unknown command "exprot" for "banger vm workspace"`},
		{[]string{"kernal"}, `unknown command "kernal" for "banger"`},
		{[]string{"system", "infoo"}, `did you mean "info"?`},
		{[]string{"help", "bogus"}, `unknown command "bogus" for "banger"`},
		{[]string{"help", "vm", "strat"}, `unknown command "strat" for "banger vm"; did you mean "start"?`},
	}
	for _, tt := range tests {
		code, stdout, stderr := run(tt.args...)
		if code == 0 || !strings.Contains(stderr, tt.want) {
			t.Errorf("banger %s: exit %d, stderr %q, stdout %q; want non-zero and %q", strings.Join(tt.args, " "), code, stderr, stdout, tt.want)
		}
	}
}

func TestHelpTopics(t *testing.T) {
	for _, args := range [][]string{{"help"}, {"help", "vm"}, {"help", "vm", "create"}, {"vm", "--help"}} {
		code, stdout, stderr := run(args...)
		if code != 0 || !strings.Contains(stdout, "Usage:") {
			t.Errorf("banger %s: exit %d, stdout %q, stderr %q; want 0 and help", strings.Join(args, " "), code, stdout, stderr)
		}
	}
}
