package cli

import (
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"banger/internal/api"
	"banger/internal/bytesize"
)

func (a *app) imageBuildCommand() *cobra.Command {
	var req api.BuildImageRequest
	var packages string
	cmd := &cobra.Command{
		Use:   "build [--name NAME] [--suite SUITE] [--packages a,b,c] [--kernel KERNEL]",
		Short: "Build an image from Debian packages (systemd, openssh-server, git, curl, sudo, ...)",
		Long: "Build the default guest image from Debian packages with mmdebstrap: systemd,\n" +
			"openssh-server, git, curl, sudo and common tools, with the banger agent installed.\n" +
			"The image boots with a kernel from \"banger kernel list\". Needs network access\n" +
			"to the Debian mirror; takes a minute or two. A daemon running as root builds as\n" +
			"root; one running as a user builds without root in a user namespace, which needs\n" +
			"the user's subordinate ids (\"banger doctor\" says what is missing).",
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
			bp := newBuildProgress(a.env.Stderr, isTerminal(a.env.Stderr))
			img, err := cl.BuildImage(cmd.Context(), req, bp.report)
			bp.done()
			if err != nil {
				return err
			}
			fmt.Fprintf(a.env.Stdout, "built image %s (%s, %s) in %s\n", img.Name, img.ID,
				bytesize.Format(img.RootFSSize), time.Since(bp.start).Round(time.Second))
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&req.Name, "name", "default", "image name")
	f.StringVar(&req.Suite, "suite", "bookworm", "Debian suite")
	f.StringVar(&packages, "packages", "", "extra Debian packages, comma-separated")
	f.StringVar(&req.Kernel, "kernel", "default", "kernel the image boots with")
	return cmd
}

// buildProgress shows a long build: on a terminal one updating line with
// the step, how far it has got, the time taken and the latest output;
// elsewhere one line per step.
type buildProgress struct {
	mu    sync.Mutex
	w     io.Writer
	live  bool
	start time.Time
	step  int
}

func newBuildProgress(w io.Writer, live bool) *buildProgress {
	return &buildProgress{w: w, live: live, start: time.Now()}
}

func (p *buildProgress) report(ev api.Event) {
	if ev.Type != api.EventStep {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	elapsed := time.Since(p.start).Round(time.Second)
	if !p.live {
		if ev.Index != p.step {
			p.step = ev.Index
			fmt.Fprintf(p.w, "[%d/%d] %s (%s)\n", ev.Index, ev.Total, ev.Step, elapsed)
		}
		return
	}
	line := fmt.Sprintf("[%d/%d] %s", ev.Index, ev.Total, ev.Step)
	if ev.Fraction > 0 {
		line += fmt.Sprintf(" %3.0f%%", ev.Fraction*100)
	}
	line += fmt.Sprintf(" %s", elapsed)
	if ev.Detail != "" {
		line += "  " + ev.Detail
	}
	const width = 100
	if r := []rune(line); len(r) > width {
		line = string(r[:width-1]) + "…"
	}
	fmt.Fprintf(p.w, "\r\033[K%s", line)
}

// done clears the live line.
func (p *buildProgress) done() {
	if p.live {
		p.mu.Lock()
		fmt.Fprint(p.w, "\r\033[K")
		p.mu.Unlock()
	}
}
