package cli

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"banger/internal/api"
	"banger/internal/bytesize"
	"banger/internal/client"
	"banger/internal/errdefs"
)

// pruneFunc asks the daemon to prune, or with dryRun to list what it
// would prune.
type pruneFunc func(ctx context.Context, cl *client.Client, dryRun bool) (api.PruneReply, error)

// pruneCommand builds "NOUN prune": --dry-run lists; otherwise the list is
// shown and confirmed on a terminal, unless -f. Without a terminal on
// standard input and without -f nothing is removed.
func (a *app) pruneCommand(noun, plural, short, long string, prune pruneFunc) *cobra.Command {
	var dryRun, force, json bool
	cmd := &cobra.Command{
		Use:   "prune",
		Short: short,
		Long:  long,
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			if !dryRun && !force && !a.stdinIsTerminal() {
				return errdefs.FailedPreconditionf("banger %s prune asks before removing anything, and standard input is not a terminal: pass -f to remove without asking, or --dry-run to see what would be removed", noun)
			}
			cl, err := a.client(ctx)
			if err != nil {
				return err
			}
			if dryRun || !force {
				plan, err := prune(ctx, cl, true)
				if err != nil {
					return err
				}
				if dryRun {
					if json {
						return writeJSON(a.env.Stdout, plan)
					}
					printPruned(a, "would remove", noun, plural, plan)
					return nil
				}
				if len(plan.Removed) == 0 {
					fmt.Fprintf(a.env.Stdout, "no %s to remove\n", plural)
					return nil
				}
				printPruned(a, "would remove", noun, plural, plan)
				if !a.confirm(fmt.Sprintf("Remove these %d %s? [y/N] ", len(plan.Removed), countNoun(len(plan.Removed), noun, plural))) {
					fmt.Fprintln(a.env.Stdout, "nothing removed")
					return nil
				}
			}
			done, err := prune(ctx, cl, false)
			if err != nil {
				return err
			}
			if json {
				return writeJSON(a.env.Stdout, done)
			}
			printPruned(a, "removed", noun, plural, done)
			return nil
		},
	}
	f := cmd.Flags()
	f.BoolVar(&dryRun, "dry-run", false, "list what would be removed, remove nothing")
	f.BoolVarP(&force, "force", "f", false, "remove without asking")
	f.BoolVar(&json, "json", false, "print JSON")
	return cmd
}

func countNoun(n int, noun, plural string) string {
	if n == 1 {
		return noun
	}
	return plural
}

// printPruned lists the items of r, one a line, and the bytes they take.
func printPruned(a *app, verb, noun, plural string, r api.PruneReply) {
	if len(r.Removed) == 0 {
		fmt.Fprintf(a.env.Stdout, "no %s to remove\n", plural)
		return
	}
	for _, it := range r.Removed {
		fmt.Fprintf(a.env.Stdout, "%s %s %s (%s)\n", verb, noun, it.Name, bytesize.Format(it.Allocated))
	}
	fmt.Fprintf(a.env.Stdout, "%s %d %s, %s on disk\n", verb, len(r.Removed), countNoun(len(r.Removed), noun, plural), bytesize.Format(r.Reclaimed))
}

// stdinIsTerminal reports whether the commands read a terminal.
func (a *app) stdinIsTerminal() bool {
	f, ok := a.stdin().(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// confirm asks question on stderr and reads a yes from standard input.
func (a *app) confirm(question string) bool {
	fmt.Fprint(a.env.Stderr, question)
	line, _ := bufio.NewReader(a.stdin()).ReadString('\n')
	switch strings.ToLower(strings.TrimSpace(line)) {
	case "y", "yes":
		return true
	}
	return false
}

func (a *app) imagePruneCommand() *cobra.Command {
	return a.pruneCommand("image", "images", "Remove the images no VM uses",
		"Remove every image no VM uses, except the default image (vm.image in the config), which \"vm run\" would otherwise rebuild. "+
			"Kernels are never removed (\"banger kernel rm\" does that). A built image's files are deleted; a registered image is forgotten and its files left on disk. "+
			"An image a VM starts using meanwhile is kept. The list is shown and confirmed first unless -f.",
		func(ctx context.Context, cl *client.Client, dryRun bool) (api.PruneReply, error) {
			return cl.PruneImages(ctx, dryRun)
		})
}

func (a *app) vmPruneCommand() *cobra.Command {
	return a.pruneCommand("VM", "VMs", "Delete every stopped VM",
		"Delete every stopped VM with its disks. VMs that are running, starting, being created or in error are left alone; "+
			"each VM is judged again under its lock when its turn comes. The list is shown and confirmed first unless -f.",
		func(ctx context.Context, cl *client.Client, dryRun bool) (api.PruneReply, error) {
			return cl.PruneVMs(ctx, dryRun, nil)
		})
}

func (a *app) imageCacheCommand() *cobra.Command {
	cmd := &cobra.Command{Use: "cache", Short: "Manage the cache of pulled image layers"}
	cmd.AddCommand(a.pruneCommand("layer", "layers", "Remove the cached layers no image needs",
		"Remove the cached OCI layers no image lists (those a failed or interrupted pull left; removing an image already removes the layers only it used), "+
			"and what pulls a crash cut short left in the cache. Refused while a pull runs. The list is shown and confirmed first unless -f.",
		func(ctx context.Context, cl *client.Client, dryRun bool) (api.PruneReply, error) {
			return cl.PruneLayers(ctx, dryRun)
		}))
	return cmd
}

func (a *app) snapshotPruneCommand() *cobra.Command {
	return a.pruneCommand("snapshot", "snapshots", "Delete the snapshots no VM uses",
		"Delete every snapshot no VM uses, warm-start snapshots too (vm run makes them again when it needs them). "+
			"A snapshot being made is left alone; each is judged again under its lock when its turn comes. "+
			"The list is shown and confirmed first unless -f.",
		func(ctx context.Context, cl *client.Client, dryRun bool) (api.PruneReply, error) {
			return cl.PruneSnapshots(ctx, dryRun, nil)
		})
}
