package cli

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/spf13/cobra"

	"banger/internal/api"
	"banger/internal/bytesize"
	"banger/internal/client"
)

func (a *app) snapshotCommand() *cobra.Command {
	cmd := &cobra.Command{Use: "snapshot", Short: "Manage VM snapshots (see banger vm snapshot)"}
	cmd.AddCommand(a.snapshotListCommand(), a.snapshotShowCommand(), a.snapshotRemoveCommand(), a.snapshotPruneCommand())
	return cmd
}

func (a *app) vmSnapshotCommand() *cobra.Command {
	var name string
	cmd := &cobra.Command{
		Use:               "snapshot NAME [--name SNAPSHOT]",
		ValidArgsFunction: a.completeVMs(1),
		Short:             "Save a running or paused VM: its memory, devices and a copy of its disks taken at the same instant",
		Long: "Save a running or paused VM: its VMM's state and memory and copies of its disks,\n" +
			"taken while the guest is paused so that they agree. A running VM is paused for\n" +
			"the copy and then continues. banger snapshot list shows the snapshots.",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cl, err := a.client(cmd.Context())
			if err != nil {
				return err
			}
			pr := a.vmView(false)
			defer pr.finish(false)
			sn, err := cl.SnapshotVM(cmd.Context(), args[0], name, pr.forVM(args[0]))
			if err != nil {
				return err
			}
			pr.finish(true)
			fmt.Fprintf(a.env.Stdout, "saved %s as snapshot %s (%s)\n", args[0], sn.Name, bytesize.Format(sn.SizeBytes))
			return nil
		},
	}
	cmd.Flags().StringVar(&name, "name", "", "snapshot name (default: generated)")
	return cmd
}

func (a *app) vmForkCommand() *cobra.Command {
	var (
		name         string
		count        int
		json         bool
		nat, offline bool
		netGroup     string
	)
	cmd := &cobra.Command{
		Use:               "fork NAME [--name NEW] [-n COUNT]",
		ValidArgsFunction: a.completeVMs(1),
		Short:             "Copy a running or paused VM into new running VMs that go on from where it is",
		Long: "Save the running or paused VM as a snapshot and make COUNT new VMs from it (see vm create\n" +
			"--from-snapshot): each resumes the saved guest, with its files and processes, on its own\n" +
			"copy-on-write disks, and is a new machine: its own name, address, MAC, DNS name, host name,\n" +
			"agent secret, SSH host keys and machine-id, its clock set to the host's. With one copy --name\n" +
			"names it; with more the copies are NEW-1, NEW-2, ...; without --name names are generated.\n" +
			"The copies are made several at a time, and all or none: when one fails, the others are\n" +
			"rolled back or deleted and the command says which failed.\n\n" +
			"The snapshot is listed by banger snapshot list (auto) and deleted with the last VM made from it.",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if nat && offline {
				return fmt.Errorf("--nat and --offline contradict each other: pick one")
			}
			if count < 1 {
				return fmt.Errorf("-n %d: make at least one copy", count)
			}
			req := api.ForkVMRequest{Name: name, Count: count, NetGroup: netGroup}
			if nat || offline {
				req.NAT = &nat
			}
			cl, err := a.client(cmd.Context())
			if err != nil {
				return err
			}
			// Several copies are made at once: a line per step of each.
			pr := a.vmView(count > 1)
			defer pr.finish(false)
			copies, err := cl.ForkVM(cmd.Context(), args[0], req, pr.forVMs(args[0]))
			if err != nil {
				return err
			}
			pr.finish(true)
			if json {
				return writeJSON(a.env.Stdout, copies)
			}
			for _, v := range copies {
				where := ""
				if v.IP != "" {
					where = ", " + v.IP
				}
				fmt.Fprintf(a.env.Stdout, "forked %s into %s (%s%s)\n", args[0], v.Name, v.State, where)
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&name, "name", "", "name of the copy, or prefix of the copies' names with -n (default: generated)")
	f.IntVarP(&count, "count", "n", 1, "number of copies")
	f.BoolVar(&json, "json", false, "print the copies as JSON")
	f.BoolVar(&nat, "nat", false, "let the copies reach outside networks (default: network.nat from the config)")
	f.BoolVar(&offline, "offline", false, "keep the copies off outside networks")
	f.StringVar(&netGroup, "net-group", "", "net group of the copies (default: none)")
	return cmd
}

func (a *app) snapshotListCommand() *cobra.Command {
	var json bool
	cmd := &cobra.Command{
		Use:     "list",
		Aliases: []string{"ls"},
		Short:   "List snapshots; KIND says warm (warm start), fork (made by vm fork) or saved",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cl, err := a.client(cmd.Context())
			if err != nil {
				return err
			}
			list, err := cl.ListSnapshots(cmd.Context())
			if err != nil {
				return err
			}
			if json {
				if list == nil {
					list = []api.Snapshot{}
				}
				return writeJSON(a.env.Stdout, list)
			}
			now := time.Now()
			rows := make([][]string, 0, len(list))
			for _, s := range list {
				kind := "saved"
				switch {
				case s.Warm:
					kind = "warm"
				case s.Auto:
					kind = "fork"
				}
				rows = append(rows, []string{s.Name, kind, s.State, s.VM, s.Image, shape(s), s.Driver, bytesize.Format(s.SizeBytes), since(now, s.CreatedAt)})
			}
			return table(a.env.Stdout, []string{"NAME", "KIND", "STATE", "VM", "IMAGE", "SHAPE", "DRIVER", "SIZE", "CREATED"}, rows)
		},
	}
	cmd.Flags().BoolVar(&json, "json", false, "print JSON")
	return cmd
}

func (a *app) snapshotShowCommand() *cobra.Command {
	var json bool
	cmd := &cobra.Command{
		Use:               "show NAME",
		ValidArgsFunction: a.completeNames(1, listSnapshotNames),
		Short:             "Show a snapshot",
		Args:              cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cl, err := a.client(cmd.Context())
			if err != nil {
				return err
			}
			s, err := cl.GetSnapshot(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			if json {
				return writeJSON(a.env.Stdout, s)
			}
			printFields(a.env.Stdout, [][2]string{{"Name:", s.Name}, {"ID:", s.ID}, {"State:", s.State},
				{"VM:", s.VM + " (" + s.VMID + ")"}, {"Image:", s.Image}, {"Driver:", s.Driver},
				{"vCPUs:", strconv.Itoa(s.VCPUs)}, {"Memory:", bytesize.Format(int64(s.MemoryMiB) << 20)},
				{"Work disk:", bytesize.Format(s.DiskBytes)}, {"Size:", bytesize.Format(s.SizeBytes)},
				{"Created:", s.CreatedAt.Local().Format(time.RFC3339)}, {"Warm start:", yesNo(s.Warm)}})
			return nil
		},
	}
	cmd.Flags().BoolVar(&json, "json", false, "print JSON")
	return cmd
}

func (a *app) snapshotRemoveCommand() *cobra.Command {
	cmd := a.removeCommand("snapshot", "Delete snapshots and their files",
		func(c *client.Client, ctx context.Context, ref string) error { return c.DeleteSnapshot(ctx, ref, nil) })
	cmd.ValidArgsFunction = a.completeNames(-1, listSnapshotNames)
	return cmd
}

func listSnapshotNames(ctx context.Context, cl *client.Client) ([]string, error) {
	list, err := cl.ListSnapshots(ctx)
	names := make([]string, 0, len(list))
	for _, s := range list {
		names = append(names, s.Name)
	}
	return names, err
}

// shape is a snapshot's VM shape, as vm run matches warm snapshots on it.
func shape(s api.Snapshot) string {
	return fmt.Sprintf("%dcpu/%s/%s", s.VCPUs, bytesize.Format(int64(s.MemoryMiB)<<20), bytesize.Format(s.DiskBytes))
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}
