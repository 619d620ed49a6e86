package cli

import (
	"fmt"

	"github.com/spf13/cobra"

	"banger/internal/api"
	"banger/internal/bytesize"
)

func (a *app) systemDFCommand() *cobra.Command {
	var json, verbose bool
	cmd := &cobra.Command{
		Use:   "df",
		Short: "Show the disk space images, layers, kernels, VM disks and caches take",
		Long: "Show, per category, how many there are, their apparent size (the files' sizes), what they occupy on disk " +
			"(allocated blocks: less for sparse disks), how much of that is shared with other files (a VM's copy-on-write " +
			"clone shares its image's blocks until either is written) and what the prune commands would free, then what " +
			"everything takes together with each shared block counted once, and the room left on the filesystems of the " +
			"state and cache directories. -v lists every item.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cl, err := a.client(cmd.Context())
			if err != nil {
				return err
			}
			du, err := cl.DiskUsage(cmd.Context())
			if err != nil {
				return err
			}
			if json {
				return writeJSON(a.env.Stdout, du)
			}
			return printDiskUsage(a, du, verbose)
		},
	}
	cmd.Flags().BoolVar(&json, "json", false, "print JSON")
	cmd.Flags().BoolVarP(&verbose, "verbose", "v", false, "list every image, layer, kernel, VM and cache entry")
	return cmd
}

// spaceTitles are the table's names of the categories the CLI knows; a
// category it does not know is shown by its API name.
var spaceTitles = map[string]string{
	api.SpaceImages: "Images", api.SpaceLayers: "Layers", api.SpaceKernels: "Kernels", api.SpaceVMDisks: "VM disks", api.SpaceSnapshots: "Snapshots", api.SpaceCaches: "Caches",
}

func spaceTitle(name string) string {
	if t, ok := spaceTitles[name]; ok {
		return t
	}
	return name
}

func printDiskUsage(a *app, du api.DiskUsage, verbose bool) error {
	rows := make([][]string, 0, len(du.Categories))
	for _, c := range du.Categories {
		reclaim := bytesize.Format(c.Reclaimable)
		if c.ReclaimCommand != "" && c.Reclaimable > 0 {
			reclaim += " (" + c.ReclaimCommand + ")"
		}
		rows = append(rows, []string{spaceTitle(c.Name), fmt.Sprint(c.Count), bytesize.Format(c.Apparent), bytesize.Format(c.Allocated),
			bytesize.Format(c.Shared), reclaim})
	}
	if err := table(a.env.Stdout, []string{"TYPE", "COUNT", "SIZE", "ON DISK", "SHARED", "RECLAIMABLE"}, rows); err != nil {
		return err
	}
	t := du.Total
	fmt.Fprintf(a.env.Stdout, "\nIn all: %s on disk", bytesize.Format(t.OnDisk))
	if t.Shared > 0 {
		fmt.Fprintf(a.env.Stdout, ", each block shared between files (an image and its clones) counted once; the ON DISK column adds up to %s, %s of it shared",
			bytesize.Format(t.Allocated), bytesize.Format(t.Shared))
	}
	fmt.Fprintln(a.env.Stdout)
	fmt.Fprintln(a.env.Stdout)
	for _, f := range du.Filesystems {
		fmt.Fprintf(a.env.Stdout, "%s directory %s: %s free of %s\n", f.Dir, f.Path, bytesize.Format(f.Available), bytesize.Format(f.Total))
	}
	if !verbose {
		return nil
	}
	for _, c := range du.Categories {
		if len(c.Items) == 0 {
			continue
		}
		fmt.Fprintf(a.env.Stdout, "\n%s:\n", spaceTitle(c.Name))
		items := make([][]string, 0, len(c.Items))
		for _, it := range c.Items {
			use := "-"
			switch {
			case it.InUse:
				use = "in use"
			case it.Reclaimable:
				use = "reclaimable"
			}
			items = append(items, []string{it.Name, bytesize.Format(it.Apparent), bytesize.Format(it.Allocated), bytesize.Format(it.Shared), use, it.Detail, it.Path})
		}
		if err := table(a.env.Stdout, []string{"NAME", "SIZE", "ON DISK", "SHARED", "USE", "DETAIL", "PATH"}, items); err != nil {
			return err
		}
	}
	return nil
}
