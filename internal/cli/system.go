package cli

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"banger/internal/api"
)

func (a *app) doctorCommand() *cobra.Command {
	var json bool
	cmd := &cobra.Command{
		Use:   "doctor",
		Short: "Check that this host can run banger VMs",
		Long:  "Check KVM, the VMM, disk tools, the state store and socket permissions. Exits non-zero when a check fails.",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cl, err := a.client(cmd.Context())
			if err != nil {
				return err
			}
			rep, err := cl.Doctor(cmd.Context())
			if err != nil {
				return err
			}
			if json {
				if err := writeJSON(a.env.Stdout, rep); err != nil {
					return err
				}
			} else {
				printDoctor(a, rep)
			}
			for _, c := range rep.Checks {
				if c.Status == api.CheckFail {
					return exitCode(1)
				}
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&json, "json", false, "print JSON")
	return cmd
}

func printDoctor(a *app, rep api.DoctorReport) {
	rows := make([][]string, 0, len(rep.Checks))
	for _, c := range rep.Checks {
		rows = append(rows, []string{c.Status, c.Name, c.Detail})
	}
	_ = table(a.env.Stdout, []string{"STATUS", "CHECK", "DETAIL"}, rows)
	for _, c := range rep.Checks {
		if c.Fix != "" && c.Status != api.CheckPass {
			// A fix that spans lines is indented under its first line.
			fix := strings.ReplaceAll(strings.TrimRight(c.Fix, "\n"), "\n", "\n  ")
			fmt.Fprintf(a.env.Stdout, "%s %s: fix: %s\n", c.Status, c.Name, fix)
		}
	}
}

func (a *app) systemCommand() *cobra.Command {
	cmd := &cobra.Command{Use: "system", Short: "Inspect the banger daemon"}
	var json bool
	info := &cobra.Command{
		Use:   "info",
		Short: "Show the daemon's version, paths and counts",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cl, err := a.client(cmd.Context())
			if err != nil {
				return err
			}
			in, err := cl.Info(cmd.Context())
			if err != nil {
				return err
			}
			if json {
				return writeJSON(a.env.Stdout, in)
			}
			printFields(a.env.Stdout, [][2]string{
				{"Version:", in.Version}, {"PID:", fmt.Sprint(in.PID)}, {"Driver:", in.Driver},
				{"Disks:", in.DiskStrategy + " (" + in.DiskStrategyWhy + ")"},
				{"Socket:", in.Socket}, {"State dir:", in.StateDir}, {"Runtime dir:", in.RuntimeDir},
				{"Config:", in.ConfigFile}, {"VMs:", fmt.Sprintf("%d (%d running)", in.VMs, in.Running)},
				{"Images:", fmt.Sprint(in.Images)},
			})
			return nil
		},
	}
	info.Flags().BoolVar(&json, "json", false, "print JSON")
	ops := &cobra.Command{
		Use:   "operations",
		Short: "List recent operations",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cl, err := a.client(cmd.Context())
			if err != nil {
				return err
			}
			list, err := cl.ListOperations(cmd.Context(), 50)
			if err != nil {
				return err
			}
			rows := make([][]string, 0, len(list))
			for _, o := range list {
				rows = append(rows, []string{o.ID, o.Kind, o.Target, o.State, o.Step, o.Error})
			}
			return table(a.env.Stdout, []string{"ID", "KIND", "TARGET", "STATE", "STEP", "ERROR"}, rows)
		},
	}
	cmd.AddCommand(info, ops, a.systemDFCommand())
	return cmd
}
