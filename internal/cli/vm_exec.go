package cli

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"banger/internal/agent/proto"
	"banger/internal/client"
)

// execOptions are the flags shared by vm exec and vm run.
type execOptions struct {
	tty     bool
	workdir string
	env     []string
}

func (o *execOptions) register(cmd *cobra.Command) {
	f := cmd.Flags()
	f.BoolVarP(&o.tty, "tty", "t", false, "run the command on a terminal in the guest (the default for an interactive shell)")
	f.StringVarP(&o.workdir, "workdir", "w", "", "working directory in the guest (default: the VM's workspace directory, else a pulled image's WorkingDir, else /root)")
	f.StringArrayVarP(&o.env, "env", "e", nil, "set an environment variable, KEY=value (repeatable)")
}

func (a *app) vmExecCommand() *cobra.Command {
	var (
		o       execOptions
		timeout time.Duration
	)
	cmd := &cobra.Command{
		Use:               "exec NAME [-- COMMAND [ARG...]]",
		ValidArgsFunction: a.completeVMs(1),
		Short:             "Run a command in a running VM (a shell when no command is given)",
		Long: "Run a command in a running VM through its guest agent and exit with the command's exit code.\n" +
			"Without a command, start an interactive login shell on a terminal.",
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cl, err := a.client(cmd.Context())
			if err != nil {
				return err
			}
			// A VM that was just started may still be booting.
			if _, err := cl.WaitVM(cmd.Context(), args[0], timeout); err != nil {
				return err
			}
			code, err := a.runInGuest(cmd.Context(), cl, args[0], args[1:], o)
			if err != nil {
				return err
			}
			if code != 0 {
				return exitCode(code)
			}
			return nil
		},
	}
	o.register(cmd)
	cmd.Flags().DurationVar(&timeout, "timeout", 5*time.Minute, "how long to wait for a booting guest to become ready")
	return cmd
}

// runInGuest runs argv (a login shell when empty) in VM name, relaying this
// process's stdio, and returns the exit code.
func (a *app) runInGuest(ctx context.Context, cl *client.Client, name string, argv []string, o execOptions) (int, error) {
	stdin := a.stdin()
	stdinFile, _ := stdin.(*os.File)
	stdinTerm := stdinFile != nil && term.IsTerminal(int(stdinFile.Fd()))
	stdoutTerm := isTerminal(a.env.Stdout)
	tty := o.tty
	if len(argv) == 0 {
		// The daemon picks the image's login shell.
		tty = tty || (stdinTerm && stdoutTerm)
	}
	req := proto.ExecRequest{Argv: argv, Env: o.env, Cwd: o.workdir, TTY: tty}
	// Send stdin when it is a pipe or file, or when a terminal drives a TTY.
	sendStdin := !stdinTerm || tty
	req.Stdin = sendStdin
	if tty && stdinTerm {
		if cols, rows, err := term.GetSize(int(stdinFile.Fd())); err == nil {
			req.Rows, req.Cols = uint16(rows), uint16(cols)
		}
		req.Env = append([]string{"TERM=" + termName()}, req.Env...)
	}
	ex, err := cl.ExecVMAsImage(ctx, name, req)
	if err != nil {
		return -1, err
	}
	stdio := client.ExecIO{Stdout: a.env.Stdout, Stderr: a.env.Stderr}
	if sendStdin {
		stdio.Stdin = stdin
	}
	if tty && stdinTerm {
		old, err := term.MakeRaw(int(stdinFile.Fd()))
		if err != nil {
			return -1, fmt.Errorf("put the terminal in raw mode: %w", err)
		}
		defer func() { _ = term.Restore(int(stdinFile.Fd()), old) }()
		stop := forwardResizes(ex, stdinFile)
		defer stop()
		// In raw mode Ctrl-C is a byte for the guest, not a signal here.
		ctx = context.WithoutCancel(ctx)
	}
	code, err := ex.Run(ctx, stdio)
	if ee, ok := err.(*client.ExitError); ok {
		fmt.Fprintf(a.env.Stderr, "banger: %s\n", ee.Message)
		return ee.Code, nil
	}
	return code, err
}

// forwardResizes sends the terminal's size to the guest whenever it
// changes, until the returned function is called.
func forwardResizes(ex *client.Exec, tty *os.File) func() {
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, syscall.SIGWINCH)
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		for {
			select {
			case <-done:
				return
			case <-ch:
				if cols, rows, err := term.GetSize(int(tty.Fd())); err == nil {
					_ = ex.Resize(uint16(rows), uint16(cols))
				}
			}
		}
	}()
	return func() {
		signal.Stop(ch)
		close(done)
		<-finished
	}
}

func termName() string {
	if t := os.Getenv("TERM"); t != "" {
		return t
	}
	return "xterm-256color"
}
