package cli

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"

	"banger/internal/bootstrap"
	"banger/internal/bytesize"
	"banger/internal/client"
	"banger/internal/workspace"
)

func (a *app) vmRunCommand() *cobra.Command {
	var (
		c       createFlags
		o       execOptions
		ship    shipOptions
		boot    bootstrapOptions
		name    string
		rm      bool
		cold    bool
		detach  bool
		json    bool
		timeout time.Duration
	)
	cmd := &cobra.Command{
		Use:   "run [flags] [PATH] [-- COMMAND [ARG...]]",
		Short: "Create and start a VM, ship a git checkout into it, then run a command in it (a shell when none is given)",
		Long: "Create a VM from an image, start it, wait for its guest agent and then run COMMAND in it,\n" +
			"exiting with its exit code; without a command, open an interactive shell. With --rm the VM is\n" +
			"deleted afterwards (kept if it never became ready, for a post-mortem); without it the VM keeps\n" +
			"running and banger says so on exit, with how to get back in and how to delete it; with -d it is\n" +
			"left running at once and banger prints how to reach it.\n\n" +
			"With PATH (e.g. \".\"), the git checkout that holds it is shipped into the VM first, as banger vm\n" +
			"workspace prepare does, and the command or shell starts in it. Without PATH nothing is shipped,\n" +
			"even when run inside a checkout. The checkout is checked before any VM is created.\n\n" +
			"When the checkout declares tool versions (.mise.toml, .tool-versions, go.mod's go or toolchain\n" +
			"line, .nvmrc, .python-version), banger installs them in the VM after shipping it, before the\n" +
			"command or shell: with mise when the image has it on its PATH, otherwise with the distribution's\n" +
			"packages (whose versions may differ from the pinned ones). Only a VM with internet access (NAT)\n" +
			"installs them; an --offline one gets a note. A failed install is a warning, not an error.\n" +
			"--no-bootstrap skips it.\n\n" +
			"Warm start: when the daemon has a warm snapshot of the image in the VM's shape (vCPUs,\n" +
			"memory, work disk), the VM resumes a copy of it instead of booting; after a cold boot the\n" +
			"daemon makes one in the background for the next run (banger image warm makes it ahead).\n" +
			"--cold always boots; vm.warm_start = false in the config turns warm start off.",
		RunE: func(cmd *cobra.Command, args []string) error {
			path, args, err := splitRunArgs(cmd, args)
			if err != nil {
				return err
			}
			if detach && (rm || len(args) > 0) {
				return fmt.Errorf("-d cannot be combined with --rm or a command")
			}
			if json && !detach {
				return fmt.Errorf("--json needs -d: without it, the output is the command's or the shell's")
			}
			req, err := c.request()
			if err != nil {
				return err
			}
			req.Name, req.Start = name, true
			req.Warm = !cold && req.FromSnapshot == ""
			ctx := cmd.Context()
			var (
				co    *workspace.Checkout
				gp    string
				tools bootstrap.Plan
			)
			if path != "" {
				if co, gp, err = ship.open(ctx, path); err != nil {
					return err
				}
				tools = a.detectTools(co, boot)
			}
			cl, err := a.client(ctx)
			if err != nil {
				return err
			}
			if req.FromSnapshot == "" {
				if req.Image, err = a.ensureImageName(ctx, cl, req.Image); err != nil {
					return err
				}
			}
			start := time.Now()
			pr := a.vmView(false)
			v, err := cl.CreateVM(ctx, req, pr.forVM(name))
			pr.finish(err == nil)
			if err != nil {
				return err
			}
			info, err := cl.WaitVM(ctx, v.Name, timeout)
			if err != nil {
				if rm {
					fmt.Fprintf(a.env.Stderr, "banger: kept VM %s for a post-mortem (banger vm logs %s); delete it with banger vm delete %s\n", v.Name, v.Name, v.Name)
				}
				return err
			}
			where := ""
			if v.IP != "" {
				where = ", " + v.IP
				if v.DNSName != "" {
					where += " " + v.DNSName
				}
			}
			if v.Snapshot != "" {
				where += ", resumed from snapshot " + v.Snapshot
			}
			fmt.Fprintf(a.env.Stderr, "banger: %s ready in %.2fs (%d vCPU, %s memory, %s work disk, image %s, %s%s)\n",
				v.Name, time.Since(start).Seconds(), v.VCPUs, bytesize.Format(int64(v.MemoryMiB)<<20),
				bytesize.Format(v.DiskBytes), v.Image, info.Hostname, where)
			if co != nil {
				shipped, err := a.shipWorkspace(ctx, cl, v.Name, co, gp, ship.depth)
				if err != nil {
					if rm {
						a.deleteAfterRun(cl, v.Name)
					} else {
						fmt.Fprintf(a.env.Stderr, "banger: VM %s is running without its workspace; delete it with banger vm delete %s\n", v.Name, v.Name)
					}
					return err
				}
				v = shipped
			}
			booted := a.bootstrapTools(ctx, cl, v, gp, tools)
			if detach {
				if json {
					if err := writeJSON(a.env.Stdout, vmWithBootstrap{v, booted}); err != nil {
						return err
					}
				} else {
					fmt.Fprintf(a.env.Stdout, "%s\n", v.Name)
				}
				fmt.Fprintf(a.env.Stderr, "banger: running; reach it with: banger vm exec %s   (stop: banger vm stop %s)\n", v.Name, v.Name)
				return nil
			}
			code, runErr := a.runInGuest(ctx, cl, v.Name, args, o)
			if rm {
				a.deleteAfterRun(cl, v.Name)
			} else {
				stillRunning(a.env.Stderr, v.Name)
			}
			if runErr != nil {
				return runErr
			}
			if code != 0 {
				return exitCode(code)
			}
			return nil
		},
	}
	c.register(cmd)
	o.register(cmd)
	ship.register(cmd)
	boot.register(cmd)
	f := cmd.Flags()
	f.StringVar(&name, "name", "", "VM name (default: a generated one)")
	f.BoolVar(&rm, "rm", false, "delete the VM when the command or shell ends")
	f.BoolVar(&cold, "cold", false, "boot the VM even when a warm snapshot of its image and shape could be resumed")
	f.BoolVarP(&detach, "detach", "d", false, "leave the VM running and print how to reach it")
	f.BoolVar(&json, "json", false, "with -d: print the VM as JSON instead of its name (with a bootstrap object when tools were declared)")
	f.DurationVar(&timeout, "timeout", 5*time.Minute, "how long to wait for the guest to become ready")
	return cmd
}

// splitRunArgs splits vm run's arguments into the optional PATH (before
// "--") and the command (after it).
func splitRunArgs(cmd *cobra.Command, args []string) (string, []string, error) {
	before := args
	var after []string
	if dash := cmd.ArgsLenAtDash(); dash >= 0 {
		before, after = args[:dash], args[dash:]
	}
	switch len(before) {
	case 0:
		return "", after, nil
	case 1:
		return before[0], after, nil
	}
	return "", nil, fmt.Errorf("vm run takes at most one PATH before \"--\" (got %q): put the command after \"--\"", before)
}

// stillRunning tells, after vm run without --rm, that the VM outlives the
// command, and how to get back in or get rid of it.
func stillRunning(w io.Writer, name string) {
	fmt.Fprintf(w, "banger: VM %s is still running; get back in with banger vm exec %s or banger vm ssh %s; delete it with banger vm delete %s\n",
		name, name, name, name)
}

// deleteAfterRun deletes a VM after vm run --rm, even when the command
// was interrupted.
func (a *app) deleteAfterRun(cl *client.Client, name string) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := cl.DeleteVM(ctx, name, nil); err != nil {
		printError(a.env.Stderr, fmt.Errorf("delete %s: %w", name, err))
	}
}
