package cli

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"banger/internal/errdefs"
)

// guardGroups makes every command of the tree below root that only groups
// subcommands (vm, image, kernel, system, ...) behave as git and docker
// do: run with no argument it prints its help and succeeds; run with an
// argument that names none of its subcommands it fails with
// `unknown command "x" for "banger vm"` and a suggestion, so a script can
// tell a typo from success. Cobra does this only for the root command and
// prints the parent's help with exit status 0 everywhere else.
//
// It must run after the whole tree is built; commands added later are
// covered because it walks the tree rather than a list.
func guardGroups(root *cobra.Command) {
	// Cobra adds these at Execute time; add them now so that they are
	// guarded too (completion is a group of its own).
	root.InitDefaultHelpCmd()
	root.InitDefaultCompletionCmd()
	guardHelp(root)
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		if c.HasSubCommands() && c.Run == nil && c.RunE == nil {
			c.Args = subcommandArgs
			c.RunE = func(cmd *cobra.Command, _ []string) error { return cmd.Help() }
		}
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(root)
}

// guardHelp makes `banger help TOPIC` fail on a topic that names no
// command, as the command itself would, instead of printing "Unknown
// help topic" and succeeding.
func guardHelp(root *cobra.Command) {
	for _, help := range root.Commands() {
		if help.Name() != "help" {
			continue
		}
		help.RunE = func(c *cobra.Command, args []string) error {
			cmd, rest, err := c.Root().Find(args)
			if err != nil {
				return err
			}
			if len(rest) > 0 && cmd.HasSubCommands() {
				return unknownCommand(cmd, rest[0])
			}
			cmd.InitDefaultHelpFlag()
			return cmd.Help()
		}
	}
}

// subcommandArgs is the argument check of a group command: it takes no
// argument, since any argument is a subcommand name cobra did not find.
func subcommandArgs(cmd *cobra.Command, args []string) error {
	if len(args) == 0 {
		return nil
	}
	return unknownCommand(cmd, args[0])
}

// unknownCommand is the error for name under group, worded as cobra words
// it for the root command, with its suggestions.
func unknownCommand(group *cobra.Command, name string) error {
	if group.SuggestionsMinimumDistance <= 0 {
		group.SuggestionsMinimumDistance = 2
	}
	msg := fmt.Sprintf("unknown command %q for %q", name, group.CommandPath())
	if s := group.SuggestionsFor(name); len(s) > 0 {
		msg += "; did you mean " + strings.Join(quoteAll(s), " or ") + "?"
	}
	msg += fmt.Sprintf("\nrun %q to list its commands", group.CommandPath()+" --help")
	return errdefs.Newf(errdefs.InvalidArgument, "%s", msg)
}

func quoteAll(s []string) []string {
	q := make([]string, len(s))
	for i, v := range s {
		q[i] = fmt.Sprintf("%q", v)
	}
	return q
}
