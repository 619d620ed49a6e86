package cli

import (
	"fmt"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"banger/internal/api"
	"banger/internal/bytesize"
	"banger/internal/client"
)

func (a *app) kernelCommand() *cobra.Command {
	cmd := &cobra.Command{Use: "kernel", Short: "Manage guest kernels"}
	cmd.AddCommand(a.kernelFetchCommand(), a.kernelBuildCommand(), a.kernelImportCommand(), a.kernelListCommand(), a.kernelShowCommand(), a.kernelRemoveCommand())
	return cmd
}

func (a *app) kernelFetchCommand() *cobra.Command {
	var req api.FetchKernelRequest
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "fetch [--package PKG] [--name NAME]",
		Short: "Take the distribution's kernel package, with an initramfs banger builds for it",
		Long: "Take the kernel of a distribution package, by default Debian's\n" +
			"linux-image-cloud-amd64: from the installed package, or downloaded with apt-get\n" +
			"from the configured mirror (no root needed). banger unpacks it to a vmlinux and\n" +
			"builds a small initramfs that loads the virtio and vsock modules its VMs need and\n" +
			"hands over to the root disk. It takes seconds; \"banger kernel build\" compiles a\n" +
			"kernel instead.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cl, err := a.client(cmd.Context())
			if err != nil {
				return err
			}
			k, took, err := watchBuild(cmd.Context(), a, asJSON, keptByKernelFetch, func(p client.Progress) (api.Kernel, error) {
				return cl.FetchKernel(cmd.Context(), req, p)
			})
			if err != nil || asJSON {
				return err
			}
			fmt.Fprintf(a.env.Stdout, "kernel %s (%s, %s) from %s in %s\n", k.Name, k.ID, k.Version, k.Origin, took.Round(time.Second))
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&req.Name, "name", "default", "kernel name")
	f.StringVar(&req.Package, "package", "linux-image-cloud-amd64", "kernel package (a metapackage or a versioned linux-image-RELEASE)")
	f.BoolVar(&asJSON, "json", false, "print the progress events and the kernel as JSON lines")
	return cmd
}

func (a *app) kernelBuildCommand() *cobra.Command {
	var req api.BuildKernelRequest
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "build [--name NAME] [--source TARBALL] [--jobs N]",
		Short: "Build the banger guest kernel from the distribution's linux-source",
		Long: "Build banger's guest kernel (virtio-mmio, virtio block/net/vsock/console, ext4,\n" +
			"everything built in) from a linux-source tarball, by default the newest\n" +
			"/usr/src/linux-source-*.tar.xz (apt-get install linux-source-6.1). The first\n" +
			"build takes about 8 minutes on 2 cores; later builds reuse the daemon's cache.\n" +
			"Progress shows the objects compiled of the expected total and the time left: a\n" +
			"bar on a terminal, a line every few seconds otherwise, the events themselves\n" +
			"with --json. Ctrl-C cancels the build; the extracted source is kept for the next.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if req.Source != "" {
				abs, err := filepath.Abs(req.Source)
				if err != nil {
					return err
				}
				req.Source = abs
			}
			cl, err := a.client(cmd.Context())
			if err != nil {
				return err
			}
			k, took, err := watchBuild(cmd.Context(), a, asJSON, keptByKernelBuild, func(p client.Progress) (api.Kernel, error) {
				return cl.BuildKernel(cmd.Context(), req, p)
			})
			if err != nil || asJSON {
				return err
			}
			fmt.Fprintf(a.env.Stdout, "built kernel %s (%s, %s) in %s\n", k.Name, k.ID, k.Version, took.Round(time.Second))
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&req.Name, "name", "default", "kernel name")
	f.StringVar(&req.Source, "source", "", "kernel source tarball (default: newest /usr/src/linux-source-*.tar.xz)")
	f.IntVar(&req.Jobs, "jobs", 0, "parallel compile jobs (default: one per CPU)")
	f.BoolVar(&asJSON, "json", false, "print the progress events and the kernel as JSON lines")
	return cmd
}

func (a *app) kernelImportCommand() *cobra.Command {
	var req api.ImportKernelRequest
	cmd := &cobra.Command{
		Use:   "import PATH [--initrd FILE] [--name NAME]",
		Short: "Copy a vmlinux or bzImage (unpacked to a vmlinux) into the kernel store",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			req.Path = args[0]
			for _, p := range []*string{&req.Path, &req.Initrd} {
				if *p == "" {
					continue
				}
				abs, err := filepath.Abs(*p)
				if err != nil {
					return err
				}
				*p = abs
			}
			cl, err := a.client(cmd.Context())
			if err != nil {
				return err
			}
			k, err := cl.ImportKernel(cmd.Context(), req)
			if err != nil {
				return err
			}
			fmt.Fprintf(a.env.Stdout, "imported kernel %s (%s, %s)\n", k.Name, k.ID, kernelDash(k.Version))
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&req.Name, "name", "", "kernel name (default: from the file name)")
	f.StringVar(&req.Initrd, "initrd", "", "initial ramdisk to boot with (optional)")
	return cmd
}

func (a *app) kernelListCommand() *cobra.Command {
	var json bool
	cmd := &cobra.Command{
		Use:     "list",
		Aliases: []string{"ls"},
		Short:   "List kernels",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cl, err := a.client(cmd.Context())
			if err != nil {
				return err
			}
			ks, err := cl.ListKernels(cmd.Context())
			if err != nil {
				return err
			}
			if json {
				if ks == nil {
					ks = []api.Kernel{}
				}
				return writeJSON(a.env.Stdout, ks)
			}
			return table(a.env.Stdout, kernelHeader, kernelRows(time.Now(), ks))
		},
	}
	cmd.Flags().BoolVar(&json, "json", false, "print JSON")
	return cmd
}

var kernelHeader = []string{"NAME", "ID", "VERSION", "SOURCE", "SIZE", "CREATED", "ORIGIN"}

func kernelRows(now time.Time, ks []api.Kernel) [][]string {
	rows := make([][]string, 0, len(ks))
	for _, k := range ks {
		rows = append(rows, []string{k.Name, k.ID, kernelDash(k.Version), k.Source, bytesize.Format(k.Size), since(now, k.CreatedAt), kernelDash(k.Origin)})
	}
	return rows
}

// kernelDiscovery says how a kernel finds its virtio devices.
func kernelDiscovery(d string) string {
	switch d {
	case "acpi":
		return "virtio-mmio through ACPI"
	case "", "cmdline":
		return "virtio-mmio on the command line"
	}
	return d
}

// kernelDash shows an empty field as "-".
func kernelDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func (a *app) kernelShowCommand() *cobra.Command {
	var json bool
	cmd := &cobra.Command{
		Use:               "show NAME",
		ValidArgsFunction: a.completeNames(1, listKernelNames),
		Short:             "Show a kernel",
		Args:              cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cl, err := a.client(cmd.Context())
			if err != nil {
				return err
			}
			k, err := cl.GetKernel(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			if json {
				return writeJSON(a.env.Stdout, k)
			}
			printFields(a.env.Stdout, [][2]string{{"Name:", k.Name}, {"ID:", k.ID}, {"Version:", kernelDash(k.Version)},
				{"Source:", k.Source}, {"Origin:", kernelDash(k.Origin)}, {"Devices:", kernelDiscovery(k.Discovery)}, {"vmlinux:", k.Vmlinux}, {"bzImage:", kernelDash(k.BzImage)},
				{"Initrd:", kernelDash(k.Initrd)}, {"Size:", bytesize.Format(k.Size)}, {"SHA256:", k.SHA256},
				{"Created:", k.CreatedAt.Local().Format(time.RFC3339)}})
			return nil
		},
	}
	cmd.Flags().BoolVar(&json, "json", false, "print JSON")
	return cmd
}

func (a *app) kernelRemoveCommand() *cobra.Command {
	return a.removeCommand("kernel", "Delete kernels and their files (refused while an image boots with one)",
		(*client.Client).RemoveKernel)
}
