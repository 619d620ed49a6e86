package cli

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"banger/internal/api"
	"banger/internal/client"
)

func (a *app) vmCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "vm",
		Short: "Create, run and manage VMs",
	}
	cmd.AddCommand(
		a.vmCreateCommand(),
		a.vmLifecycleCommand("start", "Start stopped VMs", "started", (*client.Client).StartVM),
		a.vmLifecycleCommand("stop", "Stop VMs gracefully (forced after the stop timeout)", "stopped", (*client.Client).StopVM),
		a.vmLifecycleCommand("restart", "Stop and start VMs", "restarted", (*client.Client).RestartVM),
		a.vmLifecycleCommand("kill", "Stop VMs at once", "killed", (*client.Client).KillVM),
		a.vmLifecycleCommand("pause", "Pause running VMs: their vCPUs stop, address, forwards and name stay", "paused", (*client.Client).PauseVM),
		a.vmLifecycleCommand("resume", "Resume paused VMs", "resumed", (*client.Client).ResumeVM),
		a.vmSnapshotCommand(),
		a.vmForkCommand(),
		a.vmDeleteCommand(),
		a.vmPruneCommand(),
		a.vmListCommand(),
		a.vmShowCommand(),
		a.vmLogsCommand(),
		a.vmExecCommand(),
		a.vmCpCommand(),
		a.vmRunCommand(),
		a.vmPortsCommand(),
		a.vmForwardCommand(),
		a.vmSSHCommand(),
		a.vmSSHProxyCommand(),
		a.vmWorkspaceCommand(),
	)
	return cmd
}

type vmOpFunc func(c *client.Client, ctx context.Context, ref string, p client.Progress) (api.VM, error)

// vmLifecycleCommand builds start, stop, restart, kill, pause and resume: each takes
// several VMs and runs them concurrently.
func (a *app) vmLifecycleCommand(verb, short, past string, fn vmOpFunc) *cobra.Command {
	return &cobra.Command{
		Use:               verb + " NAME...",
		ValidArgsFunction: a.completeVMs(-1),
		Short:             short,
		Args:              cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cl, err := a.client(cmd.Context())
			if err != nil {
				return err
			}
			pr := a.vmView(len(args) > 1)
			defer pr.finish(false)
			return a.forEach(cmd.Context(), verb, args, func(ctx context.Context, name string) error {
				v, err := fn(cl, ctx, name, pr.forVM(name))
				if err != nil {
					return err
				}
				if len(args) == 1 {
					pr.finish(true)
				}
				fmt.Fprintf(a.env.Stdout, "%s %s\n", past, v.Name)
				return nil
			})
		},
	}
}

func (a *app) vmDeleteCommand() *cobra.Command {
	del := func(c *client.Client, ctx context.Context, ref string, p client.Progress) (api.VM, error) {
		return api.VM{Name: ref}, c.DeleteVM(ctx, ref, p)
	}
	cmd := a.vmLifecycleCommand("delete", "Delete VMs and their disks (running VMs are stopped first)", "deleted", del)
	cmd.Aliases = []string{"rm"}
	return cmd
}
