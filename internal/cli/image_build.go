package cli

import (
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"banger/internal/api"
	"banger/internal/bytesize"
	"banger/internal/client"
)

func (a *app) imageBuildCommand() *cobra.Command {
	var req api.BuildImageRequest
	var packages string
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "build [--name NAME] [--suite SUITE] [--packages a,b,c] [--kernel KERNEL]",
		Short: "Build an image from Debian packages (systemd, openssh-server, git, curl, sudo, ...)",
		Long: "Build the default guest image from Debian packages with mmdebstrap: systemd,\n" +
			"openssh-server, git, curl, sudo and common tools, with the banger agent installed.\n" +
			"The image boots with a kernel from \"banger kernel list\". Needs network access\n" +
			"to the Debian mirror; takes a minute or two. A daemon running as root builds as\n" +
			"root; one running as a user builds without root in a user namespace, which needs\n" +
			"the user's subordinate ids (\"banger doctor\" says what is missing). Progress\n" +
			"shows the phase and the packages set up of those apt announced: a bar on a\n" +
			"terminal, a line every few seconds otherwise, the events themselves with --json.\n" +
			"Ctrl-C cancels the build and removes what it made.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			for _, p := range strings.Split(packages, ",") {
				if p = strings.TrimSpace(p); p != "" {
					req.Packages = append(req.Packages, p)
				}
			}
			cl, err := a.client(cmd.Context())
			if err != nil {
				return err
			}
			img, took, err := watchBuild(cmd.Context(), a, asJSON, keptByImageBuild, func(p client.Progress) (api.Image, error) {
				return cl.BuildImage(cmd.Context(), req, p)
			})
			if err != nil || asJSON {
				return err
			}
			fmt.Fprintf(a.env.Stdout, "built image %s (%s, %s) in %s\n", img.Name, img.ID,
				bytesize.Format(img.RootFSSize), took.Round(time.Second))
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&req.Name, "name", "default", "image name")
	f.StringVar(&req.Suite, "suite", "bookworm", "Debian suite")
	f.StringVar(&packages, "packages", "", "extra Debian packages, comma-separated")
	f.StringVar(&req.Kernel, "kernel", "default", "kernel the image boots with")
	f.BoolVar(&asJSON, "json", false, "print the progress events and the image as JSON lines")
	return cmd
}
