package cli

import (
	"context"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"banger/internal/api"
	"banger/internal/bytesize"
	"banger/internal/client"
)

func (a *app) imageCommand() *cobra.Command {
	cmd := &cobra.Command{Use: "image", Short: "Manage the images VMs boot from"}
	cmd.AddCommand(a.imageBuildCommand(), a.imagePullCommand(), a.imageRegisterCommand(), a.imageListCommand(), a.imageShowCommand(), a.imageRemoveCommand(), a.imagePruneCommand(), a.imageCacheCommand(), a.imageWarmCommand())
	return cmd
}

func (a *app) imageRegisterCommand() *cobra.Command {
	var req api.RegisterImageRequest
	cmd := &cobra.Command{
		Use:   "register --name NAME --rootfs FILE --kernel FILE [--initrd FILE]",
		Short: "Record an ext4 root filesystem and a kernel on this host as an image",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			for _, p := range []*string{&req.RootFS, &req.Kernel, &req.Initrd} {
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
			img, err := cl.RegisterImage(cmd.Context(), req)
			if err != nil {
				return err
			}
			fmt.Fprintf(a.env.Stdout, "registered image %s (%s)\n", img.Name, img.ID)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&req.Name, "name", "", "image name (required)")
	f.StringVar(&req.RootFS, "rootfs", "", "ext4 root filesystem image (required)")
	f.StringVar(&req.Kernel, "kernel", "", "kernel: vmlinux ELF or bzImage (required)")
	f.StringVar(&req.Initrd, "initrd", "", "initial ramdisk (optional)")
	for _, n := range []string{"name", "rootfs", "kernel"} {
		_ = cmd.MarkFlagRequired(n)
	}
	return cmd
}

func (a *app) imageListCommand() *cobra.Command {
	var json bool
	cmd := &cobra.Command{
		Use:     "list",
		Aliases: []string{"ls"},
		Short:   "List images",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cl, err := a.client(cmd.Context())
			if err != nil {
				return err
			}
			imgs, err := cl.ListImages(cmd.Context())
			if err != nil {
				return err
			}
			if json {
				if imgs == nil {
					imgs = []api.Image{}
				}
				return writeJSON(a.env.Stdout, imgs)
			}
			return table(a.env.Stdout, imageHeader, imageRows(time.Now(), imgs))
		},
	}
	cmd.Flags().BoolVar(&json, "json", false, "print JSON")
	return cmd
}

var imageHeader = []string{"NAME", "ID", "STATE", "ROOTFS SIZE", "KERNEL", "CREATED"}

func imageRows(now time.Time, imgs []api.Image) [][]string {
	rows := make([][]string, 0, len(imgs))
	for _, img := range imgs {
		rows = append(rows, []string{img.Name, img.ID, orDash(img.State), bytesize.Format(img.RootFSSize), orDash(img.Kernel), since(now, img.CreatedAt)})
	}
	return rows
}

func (a *app) imageShowCommand() *cobra.Command {
	var json bool
	cmd := &cobra.Command{
		Use:               "show NAME",
		ValidArgsFunction: a.completeNames(1, listImageNames),
		Short:             "Show an image",
		Args:              cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cl, err := a.client(cmd.Context())
			if err != nil {
				return err
			}
			img, err := cl.GetImage(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			if json {
				return writeJSON(a.env.Stdout, img)
			}
			fields := [][2]string{{"Name:", img.Name}, {"ID:", img.ID}, {"State:", orDash(img.State)}, {"Root FS:", img.RootFS},
				{"Size:", bytesize.Format(img.RootFSSize)}, {"Kernel:", orDash(img.Kernel)}, {"Initrd:", orDash(img.Initrd)},
				{"Created:", img.CreatedAt.Local().Format(time.RFC3339)}}
			if img.Source != "" {
				fields = append(fields, [2]string{"Source:", img.Source}, [2]string{"Digest:", img.Digest},
					[2]string{"Layers:", fmt.Sprint(len(img.Layers))})
			}
			if c := img.Config; c != nil {
				fields = append(fields, [2]string{"Entrypoint:", orDash(strings.Join(c.Entrypoint, " "))},
					[2]string{"Cmd:", orDash(strings.Join(c.Cmd, " "))}, [2]string{"User:", orDash(c.User)},
					[2]string{"Workdir:", orDash(c.WorkingDir)}, [2]string{"Env:", orDash(strings.Join(c.Env, " "))})
			}
			printFields(a.env.Stdout, fields)
			return nil
		},
	}
	cmd.Flags().BoolVar(&json, "json", false, "print JSON")
	return cmd
}

func (a *app) imageRemoveCommand() *cobra.Command {
	return a.removeCommand("image", "Forget images (a built or pulled image's files and unneeded cached layers are deleted; a registered image's are left on disk)",
		(*client.Client).RemoveImage)
}

// removeCommand builds "NOUN rm NAME...": each name removed in turn, each
// failure reported, a non-zero exit if any failed.
func (a *app) removeCommand(noun, short string, remove func(*client.Client, context.Context, string) error) *cobra.Command {
	return &cobra.Command{
		Use:               "rm NAME...",
		ValidArgsFunction: a.completeNames(-1, listImageNames),
		Aliases:           []string{"remove"},
		Short:             short,
		Args:              cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cl, err := a.client(cmd.Context())
			if err != nil {
				return err
			}
			failed := false
			for _, n := range args {
				if err := remove(cl, cmd.Context(), n); err != nil {
					printError(a.env.Stderr, fmt.Errorf("%s rm %s: %w", noun, n, err))
					failed = true
					continue
				}
				fmt.Fprintf(a.env.Stdout, "removed %s %s\n", noun, n)
			}
			if failed {
				return exitCode(1)
			}
			return nil
		},
	}
}

// printFields prints label/value rows, labels padded to one column.
func printFields(w io.Writer, rows [][2]string) {
	width := 0
	for _, r := range rows {
		width = max(width, len(r[0]))
	}
	for _, r := range rows {
		fmt.Fprintf(w, "%-*s %s\n", width, r[0], r[1])
	}
}
