package cli

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"banger/internal/api"
	"banger/internal/bytesize"
)

func (a *app) imagePullCommand() *cobra.Command {
	var req api.PullImageRequest
	var json bool
	cmd := &cobra.Command{
		Use:   "pull REF [--name NAME]",
		Short: "Pull an OCI image from a registry (Docker Hub, ghcr.io, ...) and flatten its layers",
		Long: "Pull the linux/amd64 image of REF (\"debian:12\", \"node:22\", \"ghcr.io/owner/app:tag\",\n" +
			"\"image@sha256:...\") and flatten its layers into one checked root filesystem tree.\n" +
			"Layers are cached by digest, so a later pull downloads only new layers. Registry\n" +
			"credentials come from the Docker config of the user bangerd runs as (\"docker login\").\n" +
			"A pulled image cannot boot yet: it is listed with state \"pulled\".",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			req.Ref = args[0]
			cl, err := a.client(cmd.Context())
			if err != nil {
				return err
			}
			bp := newBuildProgress(a.env.Stderr, isTerminal(a.env.Stderr))
			img, err := cl.PullImage(cmd.Context(), req, bp.report)
			bp.done()
			if err != nil {
				return err
			}
			if json {
				return writeJSON(a.env.Stdout, img)
			}
			fmt.Fprintf(a.env.Stdout, "pulled image %s (%s) from %s: %d layers, %s tree, in %s\n", img.Name, img.ID,
				img.Source, len(img.Layers), bytesize.Format(img.RootFSSize), time.Since(bp.start).Round(time.Second))
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&req.Name, "name", "", "image name (default: from REF, \"debian:12\" → \"debian-12\")")
	f.BoolVar(&json, "json", false, "print the image as JSON")
	return cmd
}
