package cli

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"banger/internal/api"
	"banger/internal/bytesize"
	"banger/internal/client"
)

func (a *app) imagePullCommand() *cobra.Command {
	var req api.PullImageRequest
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "pull REF [--name NAME]",
		Short: "Pull an OCI image from a registry (Docker Hub, ghcr.io, ...) and make it bootable",
		Long: "Pull the linux/amd64 image of REF (\"debian:12\", \"node:22\", \"ghcr.io/owner/app:tag\",\n" +
			"\"image@sha256:...\"), flatten its layers into one checked root filesystem tree and make\n" +
			"a bootable root disk of it with the guest agent, booting the default kernel.\n" +
			"Layers are cached by digest, so a later pull downloads only new layers. Registry\n" +
			"credentials come from the Docker config of the user bangerd runs as (\"docker login\").\n" +
			"Progress shows a bar per layer on a terminal, a line every few seconds otherwise,\n" +
			"the events themselves with --json. vm run and vm exec use the image's Entrypoint,\n" +
			"Env, WorkingDir and User; vm run --image REF pulls REF itself on first use.",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			req.Ref = args[0]
			cl, err := a.client(cmd.Context())
			if err != nil {
				return err
			}
			img, took, err := watchBuild(cmd.Context(), a, asJSON, keptByImagePull, func(p client.Progress) (api.Image, error) {
				return cl.PullImage(cmd.Context(), req, p)
			})
			if err != nil || asJSON {
				return err
			}
			fmt.Fprintf(a.env.Stdout, "pulled image %s (%s) from %s: %d layers, %s root disk (boots with %s), in %s\n", img.Name, img.ID,
				img.Source, len(img.Layers), bytesize.Format(img.RootFSSize), bootsWith(img), took.Round(time.Second))
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&req.Name, "name", "", "image name (default: from REF, \"debian:12\" → \"debian-12\")")
	f.BoolVar(&asJSON, "json", false, "print the progress events and the image as JSON lines")
	return cmd
}

// keptByImagePull says what a cancelled pull leaves: the layers it had
// downloaded whole, in the cache.
func keptByImagePull(*progressView) string {
	return "the layers downloaded whole are kept in the cache for the next pull; no image was recorded"
}

// bootsWith says how a pulled image boots: "systemd" or "agent".
func bootsWith(img api.Image) string {
	if img.Config == nil || img.Config.Init == "" {
		return "unknown init"
	}
	return img.Config.Init
}
