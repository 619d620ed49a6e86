package cli

import (
	"fmt"
	"strconv"
	"time"

	"github.com/spf13/cobra"

	"banger/internal/api"
	"banger/internal/bytesize"
)

func (a *app) vmListCommand() *cobra.Command {
	var json bool
	cmd := &cobra.Command{
		Use:     "list",
		Aliases: []string{"ls"},
		Short:   "List all VMs",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return a.listVMs(cmd, json, false)
		},
	}
	cmd.Flags().BoolVar(&json, "json", false, "print JSON")
	return cmd
}

func (a *app) psCommand() *cobra.Command {
	var json, all bool
	cmd := &cobra.Command{
		Use:   "ps",
		Short: "List running VMs (all VMs with -a)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return a.listVMs(cmd, json, !all)
		},
	}
	cmd.Flags().BoolVar(&json, "json", false, "print JSON")
	cmd.Flags().BoolVarP(&all, "all", "a", false, "include VMs that are not running")
	return cmd
}

func (a *app) listVMs(cmd *cobra.Command, json, runningOnly bool) error {
	cl, err := a.client(cmd.Context())
	if err != nil {
		return err
	}
	vms, err := cl.ListVMs(cmd.Context())
	if err != nil {
		return err
	}
	if runningOnly {
		kept := vms[:0]
		for _, v := range vms {
			if v.State == api.StateRunning {
				kept = append(kept, v)
			}
		}
		vms = kept
	}
	if json {
		if vms == nil {
			vms = []api.VM{}
		}
		return writeJSON(a.env.Stdout, vms)
	}
	return table(a.env.Stdout, vmHeader, vmRows(time.Now(), vms))
}

var vmHeader = []string{"NAME", "STATE", "IP", "IMAGE", "VCPUS", "MEMORY", "DISK", "CREATED", "WORKSPACE"}

func vmRows(now time.Time, vms []api.VM) [][]string {
	rows := make([][]string, 0, len(vms))
	for _, v := range vms {
		rows = append(rows, []string{
			v.Name, v.State, orDash(v.IP), v.Image, strconv.Itoa(v.VCPUs),
			bytesize.Format(int64(v.MemoryMiB) << 20), bytesize.Format(v.DiskBytes), since(now, v.CreatedAt), workspaceCell(v.Workspace),
		})
	}
	return rows
}

// workspaceCell is a VM's workspace in one table cell: where it lives in
// the guest and the commit it was shipped at.
func workspaceCell(w *api.Workspace) string {
	if w == nil {
		return "-"
	}
	return w.GuestPath + "@" + shortCommit(w.BaseCommit)
}

func shortCommit(c string) string {
	if len(c) > 12 {
		return c[:12]
	}
	return c
}

func (a *app) vmShowCommand() *cobra.Command {
	var json bool
	cmd := &cobra.Command{
		Use:               "show NAME...",
		ValidArgsFunction: a.completeVMs(-1),
		Aliases:           []string{"inspect"},
		Short:             "Show VMs in detail",
		Args:              cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cl, err := a.client(cmd.Context())
			if err != nil {
				return err
			}
			var vms []api.VM
			failed := false
			for _, name := range args {
				v, err := cl.GetVM(cmd.Context(), name)
				if err != nil {
					printError(a.env.Stderr, err)
					failed = true
					continue
				}
				vms = append(vms, v)
			}
			if json {
				if vms == nil {
					vms = []api.VM{}
				}
				if err := writeJSON(a.env.Stdout, vms); err != nil {
					return err
				}
			} else {
				for i, v := range vms {
					if i > 0 {
						fmt.Fprintln(a.env.Stdout)
					}
					printVM(a, v)
				}
			}
			if failed {
				return exitCode(1)
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&json, "json", false, "print JSON")
	return cmd
}

func printVM(a *app, v api.VM) {
	rows := [][]string{
		{"Name:", v.Name}, {"ID:", v.ID}, {"State:", v.State}, {"Image:", v.Image},
		{"vCPUs:", strconv.Itoa(v.VCPUs)}, {"Memory:", bytesize.Format(int64(v.MemoryMiB) << 20)},
		{"Work disk:", bytesize.Format(v.DiskBytes)}, {"Driver:", v.Driver}, {"Directory:", v.Dir},
		{"Created:", v.CreatedAt.Local().Format(time.RFC3339)},
	}
	if v.Snapshot != "" {
		rows = append(rows, []string{"From snapshot:", v.Snapshot})
	}
	if v.IP != "" {
		egress := "offline (no NAT)"
		if v.NAT {
			egress = "NAT"
		}
		rows = append(rows, []string{"Address:", v.IP}, []string{"MAC:", v.MAC}, []string{"DNS name:", v.DNSName},
			[]string{"Egress:", egress}, []string{"Net group:", orDash(v.NetGroup)})
	}
	if v.State == api.StateRunning || v.State == api.StatePaused {
		rows = append(rows, []string{"PID:", strconv.Itoa(v.PID)}, []string{"Started:", v.StartedAt.Local().Format(time.RFC3339)})
	}
	if w := v.Workspace; w != nil {
		branch := w.Branch
		if branch == "" {
			branch = "detached"
		}
		rows = append(rows, []string{"Workspace:", w.GuestPath}, []string{"Shipped from:", w.HostPath},
			[]string{"Base commit:", w.BaseCommit + " (" + branch + ")"})
	}
	if v.LastError != "" {
		rows = append(rows, []string{"Last error:", v.LastError})
	}
	fields := make([][2]string, 0, len(rows))
	for _, r := range rows {
		fields = append(fields, [2]string{r[0], r[1]})
	}
	printFields(a.env.Stdout, fields)
}

func (a *app) vmLogsCommand() *cobra.Command {
	var (
		follow bool
		tail   int
	)
	cmd := &cobra.Command{
		Use:               "logs NAME",
		ValidArgsFunction: a.completeVMs(1),
		Short:             "Show a VM's serial console log",
		Args:              cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if tail < 0 {
				return fmt.Errorf("--tail %d: must not be negative", tail)
			}
			cl, err := a.client(cmd.Context())
			if err != nil {
				return err
			}
			return cl.Logs(cmd.Context(), args[0], tail, follow, a.env.Stdout)
		},
	}
	cmd.Flags().BoolVarP(&follow, "follow", "f", false, "keep printing what the guest writes until it stops")
	cmd.Flags().IntVarP(&tail, "tail", "n", 0, "print only the last N lines (0: all)")
	return cmd
}

// orDash shows an empty value as "-".
func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
