package cli

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"banger/internal/agent/proto"
	"banger/internal/api"
	"banger/internal/bootstrap"
	"banger/internal/client"
	"banger/internal/workspace"
)

// shipOptions are the flags of a workspace prepare, shared by vm run.
type shipOptions struct {
	guestPath string
	untracked bool
	depth     int
}

func (o *shipOptions) register(cmd *cobra.Command) {
	f := cmd.Flags()
	f.StringVar(&o.guestPath, "guest-path", "", "where the repository goes in the guest (default /root/<repository directory name>)")
	f.BoolVar(&o.untracked, "include-untracked", false, "also ship untracked files that .gitignore does not ignore")
	f.IntVar(&o.depth, "depth", workspace.DefaultDepth, "how many commits of history ship")
}

// open reads the checkout at path and works out its guest path.
func (o *shipOptions) open(ctx context.Context, path string) (*workspace.Checkout, string, error) {
	if o.depth < 1 {
		return nil, "", fmt.Errorf("--depth %d: must be at least 1", o.depth)
	}
	co, err := workspace.Open(ctx, path, workspace.Options{IncludeUntracked: o.untracked})
	if err != nil {
		return nil, "", err
	}
	gp := o.guestPath
	if gp == "" {
		gp = "/root/" + filepath.Base(co.Root)
	}
	if !strings.HasPrefix(gp, "/") || filepath.Clean(gp) != gp || gp == "/" {
		return nil, "", fmt.Errorf("--guest-path %q: give a clean absolute path below /, e.g. /root/app", gp)
	}
	return co, gp, nil
}

func (a *app) vmWorkspaceCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "workspace",
		Short: "Ship a git checkout into a VM and bring its changes back as a patch",
	}
	cmd.AddCommand(a.vmWorkspacePrepareCommand(), a.vmWorkspaceExportCommand())
	return cmd
}

func (a *app) vmWorkspacePrepareCommand() *cobra.Command {
	var (
		o      shipOptions
		boot   bootstrapOptions
		dryRun bool
		json   bool
	)
	cmd := &cobra.Command{
		Use:               "prepare NAME PATH",
		ValidArgsFunction: a.completeVMThenDir,
		Short:             "Ship the git checkout at PATH into the running VM NAME",
		Long: "Ship the git checkout that holds PATH into the running VM NAME, at /root/<repository directory\n" +
			"name> (or --guest-path): the tracked files as they are in the working tree (modified, with their\n" +
			"modifications; deleted ones left out), untracked files only with --include-untracked, ignored\n" +
			"files never, and a git repository with the last --depth commits of HEAD's history, HEAD's branch,\n" +
			"the origin remote's URL and your user.name/user.email, so git status in the guest shows your\n" +
			"uncommitted changes. Commands run in the VM then start in that directory. --dry-run lists the\n" +
			"files and their total size and ships nothing.\n\n" +
			"Tool versions the checkout declares (.mise.toml, .tool-versions, go.mod, .nvmrc,\n" +
			".python-version) are then installed as banger vm run does (see its help); --dry-run shows the\n" +
			"plan, --no-bootstrap skips it.",
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			co, gp, err := o.open(ctx, args[1])
			if err != nil {
				return err
			}
			tools := a.detectTools(co, boot)
			if dryRun {
				return a.printDryRun(co, gp, tools, json)
			}
			cl, err := a.client(ctx)
			if err != nil {
				return err
			}
			v, err := a.shipWorkspace(ctx, cl, args[0], co, gp, o.depth)
			if err != nil {
				return err
			}
			booted := a.bootstrapTools(ctx, cl, v, gp, tools)
			if json {
				return writeJSON(a.env.Stdout, vmWithBootstrap{v, booted})
			}
			return nil
		},
	}
	o.register(cmd)
	boot.register(cmd)
	cmd.Flags().BoolVar(&dryRun, "dry-run", false, "list the files that would ship and their total size; ship nothing")
	cmd.Flags().BoolVar(&json, "json", false, "print JSON (the VM, or with --dry-run the file list; with a bootstrap object when tools were declared)")
	return cmd
}

// dryRunFile is one file of --dry-run --json.
type dryRunFile struct {
	Path string `json:"path"`
	Mode string `json:"mode"`
	Size int64  `json:"size"`
	Link string `json:"link,omitempty"`
}

// printDryRun lists what would ship.
func (a *app) printDryRun(co *workspace.Checkout, gp string, tools bootstrap.Plan, json bool) error {
	planned := a.planned(tools)
	if json {
		files := make([]dryRunFile, 0, len(co.Files))
		for _, f := range co.Files {
			files = append(files, dryRunFile{Path: f.Path, Mode: f.Mode.String(), Size: f.Size, Link: f.Link})
		}
		return writeJSON(a.env.Stdout, struct {
			HostPath   string            `json:"host_path"`
			GuestPath  string            `json:"guest_path"`
			BaseCommit string            `json:"base_commit"`
			Branch     string            `json:"branch,omitempty"`
			Files      []dryRunFile      `json:"files"`
			TotalBytes int64             `json:"total_bytes"`
			Bootstrap  *bootstrap.Result `json:"bootstrap,omitempty"`
		}{co.Root, gp, co.Head, co.Branch, files, co.TotalSize(), planned})
	}
	for _, f := range co.Files {
		fmt.Fprintln(a.env.Stdout, f.Path)
	}
	fmt.Fprintf(a.env.Stderr, "banger: would ship %d files, %s, from %s at %s to %s (nothing was shipped)\n",
		len(co.Files), humanBytes(co.TotalSize()), co.Root, shortCommit(co.Head), gp)
	return nil
}

func (a *app) vmWorkspaceExportCommand() *cobra.Command {
	var (
		out   string
		base  string
		apply bool
		json  bool
	)
	cmd := &cobra.Command{
		Use:               "export NAME",
		ValidArgsFunction: a.completeVMs(1),
		Short:             "Print the changes made in a VM's workspace as one binary git patch",
		Long: "Print (or write with -o) one binary-safe git patch of everything that changed in VM NAME's\n" +
			"workspace since the commit it was shipped at (or --base): commits made in the guest, staged and\n" +
			"unstaged changes, untracked files that .gitignore does not ignore, deletions, renames, mode\n" +
			"changes and binary files. The guest's index and working tree are left untouched. With --apply\n" +
			"the patch is applied (git apply --index) to the host checkout it was shipped from, which must\n" +
			"still be at the base commit with no uncommitted changes or untracked files; otherwise nothing\n" +
			"is changed. With -o or --apply, --json prints what was written or applied.",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if apply && out != "" {
				return fmt.Errorf("--apply and -o cannot be combined: apply, or write the patch to a file")
			}
			if json && !apply && (out == "" || out == "-") {
				return fmt.Errorf("--json describes a patch written with -o FILE or applied with --apply; without them the patch itself is the output")
			}
			ctx := cmd.Context()
			cl, err := a.client(ctx)
			if err != nil {
				return err
			}
			v, err := cl.GetVM(ctx, args[0])
			if err != nil {
				return err
			}
			if v.Workspace == nil {
				return fmt.Errorf("VM %s has no workspace: ship one with banger vm workspace prepare %s PATH", v.Name, v.Name)
			}
			if base == "" {
				base = v.Workspace.BaseCommit
			}
			if apply && base != v.Workspace.BaseCommit {
				return fmt.Errorf("--apply works against the workspace's base commit %s only: drop --base, or write the patch with -o and apply it yourself", shortCommit(v.Workspace.BaseCommit))
			}
			patch, err := a.exportPatch(ctx, cl, v, base)
			if err != nil {
				return err
			}
			switch {
			case apply:
				if err := workspace.Apply(ctx, v.Workspace.HostPath, base, patch); err != nil {
					return err
				}
				if !json {
					fmt.Fprintf(a.env.Stderr, "banger: applied %s of changes from %s:%s to %s (staged)\n", humanBytes(int64(len(patch))), v.Name, v.Workspace.GuestPath, v.Workspace.HostPath)
				}
			case out != "" && out != "-":
				if err := os.WriteFile(out, patch, 0o644); err != nil {
					return fmt.Errorf("write the patch: %w", err)
				}
				if !json {
					fmt.Fprintf(a.env.Stderr, "banger: wrote %s of changes to %s; apply it with git apply --index %s\n", humanBytes(int64(len(patch))), out, out)
				}
			default:
				_, err := a.env.Stdout.Write(patch)
				return err
			}
			if json {
				return writeJSON(a.env.Stdout, exportResult{VM: v.Name, GuestPath: v.Workspace.GuestPath, HostPath: v.Workspace.HostPath,
					BaseCommit: base, Bytes: int64(len(patch)), Output: out, Applied: apply})
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVarP(&out, "output", "o", "", "write the patch to FILE instead of standard output")
	f.StringVar(&base, "base", "", "the commit to diff against (default: the commit the workspace was shipped at)")
	f.BoolVar(&apply, "apply", false, "apply the patch to the host checkout the workspace came from")
	f.BoolVar(&json, "json", false, "with -o or --apply: print JSON (the VM, paths, base commit, patch size, where it went)")
	return cmd
}

// exportResult is what export --json prints.
type exportResult struct {
	VM         string `json:"vm"`
	GuestPath  string `json:"guest_path"`
	HostPath   string `json:"host_path"`
	BaseCommit string `json:"base_commit"`
	Bytes      int64  `json:"bytes"`
	Output     string `json:"output,omitempty"`
	Applied    bool   `json:"applied"`
}

// exportPatch runs the export in the guest and returns the patch.
func (a *app) exportPatch(ctx context.Context, cl *client.Client, v api.VM, base string) ([]byte, error) {
	argv, err := workspace.ExportCommand(v.Workspace.GuestPath, base)
	if err != nil {
		return nil, err
	}
	ex, err := cl.ExecVM(ctx, v.Name, proto.ExecRequest{Argv: argv, Cwd: "/"})
	if err != nil {
		return nil, err
	}
	var patch, errb bytes.Buffer
	code, err := ex.Run(ctx, client.ExecIO{Stdout: &patch, Stderr: &errb})
	if err != nil {
		return nil, err
	}
	if code != 0 {
		return nil, fmt.Errorf("export the patch from %s:%s failed (exit %d): %s", v.Name, v.Workspace.GuestPath, code, strings.TrimSpace(errb.String()))
	}
	return patch.Bytes(), nil
}
