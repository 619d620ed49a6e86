package cli

import (
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// WriteReference writes the Markdown CLI reference (docs/cli.md) generated
// from the command tree, so the document cannot drift from the code.
func WriteReference(w io.Writer) error {
	a := &app{}
	root := a.rootCommand()
	fmt.Fprintln(w, "# banger CLI reference")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Generated from the command definitions (`go test ./internal/cli -run TestReference -update`).")
	fmt.Fprintln(w, "Every command talks to bangerd and starts it first if it is not running (`banger daemon` never starts one).")
	fmt.Fprintln(w, "Before sending anything, banger checks that the runtime directory is its user's own and private, and")
	fmt.Fprintln(w, "that the process on the socket runs as its user or root; otherwise it refuses and says how to fix it.")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "A group command (`banger vm`, `banger image`, ...) run alone prints its help and exits 0, as")
	fmt.Fprintln(w, "`docker container` does; run with a word that is none of its subcommands it fails with")
	fmt.Fprintln(w, "`unknown command \"x\" for \"banger vm\"`, a suggestion when one is close, and exit status 1.")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Shell completion: `banger completion bash|zsh|fish|powershell` prints the script to load (for example")
	fmt.Fprintln(w, "`banger completion bash > ~/.local/share/bash-completion/completions/banger`). It completes commands,")
	fmt.Fprintln(w, "flags, and the names of VMs, images and kernels wherever a command takes one (`NAME:` for `vm cp`),")
	fmt.Fprintln(w, "asking a running bangerd; with no daemon running it offers no names and never starts one.")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Progress of long work goes to stderr. On a terminal: a bar per operation (and per item when a step")
	fmt.Fprintln(w, "works on several at once) with the step, percent, a count (objects compiled, packages set up, bytes)")
	fmt.Fprintln(w, "and the time left. Elsewhere (a pipe, a CI log): for builds and pulls, a line when a step starts and")
	fmt.Fprintln(w, "then one every 5 seconds, even while the step is quiet; VM operations print nothing there. `kernel")
	fmt.Fprintln(w, "build --json`, `image build --json` and `image pull --json` print the progress events themselves on")
	fmt.Fprintln(w, "stdout, one per line (see docs/api.md), then a `result` line. Ctrl-C cancels a build or pull (the")
	fmt.Fprintln(w, "daemon stops it), says what was kept and exits 130.")
	var walk func(c *cobra.Command) error
	walk = func(c *cobra.Command) error {
		if c.Hidden || c.Name() == "help" {
			return nil
		}
		if c.Runnable() && !c.HasSubCommands() {
			writeCommand(w, c)
		}
		for _, sub := range c.Commands() {
			if err := walk(sub); err != nil {
				return err
			}
		}
		return nil
	}
	if err := walk(root); err != nil {
		return err
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "## Global flags")
	fmt.Fprintln(w)
	writeFlags(w, root.PersistentFlags())
	return nil
}

func writeCommand(w io.Writer, c *cobra.Command) {
	fmt.Fprintf(w, "\n## %s\n\n", c.CommandPath())
	desc := c.Long
	if desc == "" {
		desc = c.Short
	}
	fmt.Fprintf(w, "%s\n\n```\n%s\n```\n", desc, c.UseLine())
	if len(c.Aliases) > 0 {
		fmt.Fprintf(w, "\nAliases: %s\n", strings.Join(c.Aliases, ", "))
	}
	if c.HasLocalFlags() {
		fmt.Fprintln(w)
		writeFlags(w, c.LocalNonPersistentFlags())
	}
}

func writeFlags(w io.Writer, fs *pflag.FlagSet) {
	fmt.Fprintln(w, "| flag | default | meaning |")
	fmt.Fprintln(w, "|---|---|---|")
	fs.VisitAll(func(f *pflag.Flag) {
		if f.Hidden {
			return
		}
		name := "--" + f.Name
		if f.Shorthand != "" {
			name = "-" + f.Shorthand + ", " + name
		}
		def := f.DefValue
		if def == "" || def == "false" || def == "0" || def == "[]" {
			def = ""
		} else {
			def = "`" + def + "`"
		}
		fmt.Fprintf(w, "| `%s` | %s | %s |\n", name, def, f.Usage)
	})
}
