// Package cli implements the banger command line: one cobra command per
// noun and verb, tables and --json output, and live progress. It talks to
// bangerd only through package client and must not import services or host
// adapters; it never touches VMs, disks or networking itself.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"banger/internal/client"
	"banger/internal/errdefs"
)

// Env is what the commands read from and write to; tests substitute it.
type Env struct {
	Stdin  io.Reader // nil means the process's standard input
	Stdout io.Writer
	Stderr io.Writer
	Getenv func(string) string
	// Version is printed by `banger version`.
	Version string
}

// app carries the state shared by the commands of one invocation.
type app struct {
	env    Env
	socket string // --socket override
	cl     *client.Client
}

// Run executes the banger command line and returns the process exit code.
func Run(ctx context.Context, args []string, env Env) int {
	a := &app{env: env}
	root := a.rootCommand()
	root.SetArgs(args)
	root.SetOut(env.Stdout)
	root.SetErr(env.Stderr)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return 0
	}
	var ec exitCode
	if errors.As(err, &ec) {
		return int(ec)
	}
	printError(env.Stderr, err)
	return 1
}

// exitCode ends the command with a status; its messages were already printed.
type exitCode int

func (e exitCode) Error() string { return fmt.Sprintf("exit status %d", int(e)) }

func printError(w io.Writer, err error) {
	msg := err.Error()
	var oe *client.OpError
	if errors.As(err, &oe) && oe.OpID != "" && errdefs.KindOf(err) == errdefs.Internal {
		msg += fmt.Sprintf(" (operation %s in the bangerd log)", oe.OpID)
	}
	// A joined error lists one problem per line: indent the rest under the first.
	fmt.Fprintf(w, "banger: %s\n", strings.ReplaceAll(strings.TrimRight(msg, "\n"), "\n", "\n  "))
}

func (a *app) rootCommand() *cobra.Command {
	root := &cobra.Command{
		Use:           "banger",
		Short:         "One-command development sandboxes on Firecracker microVMs",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.PersistentFlags().StringVar(&a.socket, "socket", "", "path of the bangerd socket (default: the user runtime directory)")
	root.AddCommand(a.vmCommand(), a.psCommand(), a.sshConfigCommand(), a.imageCommand(), a.kernelCommand(), a.snapshotCommand(), a.doctorCommand(), a.systemCommand(), a.daemonCommand(), a.versionCommand())
	root.CompletionOptions.HiddenDefaultCmd = true
	guardGroups(root)
	return root
}

func (a *app) versionCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the banger version",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			fmt.Fprintf(a.env.Stdout, "banger %s\n", a.env.Version)
			return nil
		},
	}
}

// stdin returns the standard input the commands read.
func (a *app) stdin() io.Reader {
	if a.env.Stdin != nil {
		return a.env.Stdin
	}
	return os.Stdin
}

// getenv returns the environment value of key.
func (a *app) getenv(key string) string {
	if a.env.Getenv != nil {
		return a.env.Getenv(key)
	}
	return os.Getenv(key)
}
