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
	fmt.Fprintln(w, "Every command talks to bangerd and starts it first if it is not running.")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "A group command (`banger vm`, `banger image`, ...) run alone prints its help and exits 0, as")
	fmt.Fprintln(w, "`docker container` does; run with a word that is none of its subcommands it fails with")
	fmt.Fprintln(w, "`unknown command \"x\" for \"banger vm\"`, a suggestion when one is close, and exit status 1.")
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
