package cli

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"syscall"

	"github.com/spf13/cobra"

	"banger/internal/agent/proto"
	"banger/internal/api"
	"banger/internal/bootstrap"
	"banger/internal/client"
	"banger/internal/workspace"
)

// bootstrapOptions is the flag of the tool bootstrap, shared by vm run and
// vm workspace prepare.
type bootstrapOptions struct {
	skip bool
}

func (o *bootstrapOptions) register(cmd *cobra.Command) {
	cmd.Flags().BoolVar(&o.skip, "no-bootstrap", false,
		"do not install the tool versions the repository declares (.mise.toml, .tool-versions, go.mod, .nvmrc, .python-version)")
}

// vmWithBootstrap is the VM as --json prints it after shipping a workspace,
// with what became of the tools the workspace declares.
type vmWithBootstrap struct {
	api.VM
	Bootstrap *bootstrap.Result `json:"bootstrap,omitempty"`
}

// detectTools reads the declaration files that ship at the checkout's top
// level (as they are in the working tree) and says what is wrong in them.
// With --no-bootstrap it reads nothing and the plan is empty.
func (a *app) detectTools(co *workspace.Checkout, o bootstrapOptions) bootstrap.Plan {
	if o.skip {
		return bootstrap.Plan{}
	}
	names := map[string]bool{}
	for _, n := range bootstrap.Files {
		names[n] = true
	}
	files := map[string][]byte{}
	var warnings []string
	for _, f := range co.Files {
		if !names[f.Path] {
			continue
		}
		if !f.Mode.IsRegular() {
			warnings = append(warnings, f.Path+": not a regular file: not read")
			continue
		}
		data, err := readBounded(filepath.Join(co.Root, f.Path))
		if err != nil {
			warnings = append(warnings, fmt.Sprintf("%s: %v: not read", f.Path, err))
			continue
		}
		files[f.Path] = data
	}
	p := bootstrap.Detect(files)
	p.Warnings = append(warnings, p.Warnings...)
	for _, w := range p.Warnings {
		fmt.Fprintf(a.env.Stderr, "banger: warning: %s\n", w)
	}
	for _, n := range p.Notes {
		fmt.Fprintf(a.env.Stderr, "banger: %s\n", n)
	}
	return p
}

// readBounded reads at most bootstrap.MaxFileSize+1 bytes of the regular
// file at path, not following a symlink.
func readBounded(path string) ([]byte, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("not a regular file")
	}
	return io.ReadAll(io.LimitReader(f, bootstrap.MaxFileSize+1))
}

// planned is the plan as --dry-run shows it: nothing is asked of a guest.
func (a *app) planned(p bootstrap.Plan) *bootstrap.Result {
	if p.Empty() {
		return nil
	}
	fmt.Fprintf(a.env.Stderr, "banger: would install %s once shipped, when the VM has internet access\n", p.Summary())
	return &bootstrap.Result{Plan: p, Status: bootstrap.StatusPlanned}
}

// online reports whether the VM may reach outside networks: it has an
// address and NAT.
func online(v api.VM) bool { return v.NAT && v.IP != "" }

// bootstrapTools installs the plan in VM v's workspace at gp when the VM
// is online, and says what it did; an offline VM gets a note. A failed
// install is a warning: the command or shell still runs, without the
// tools. Nil when there is nothing to install.
func (a *app) bootstrapTools(ctx context.Context, cl *client.Client, v api.VM, gp string, p bootstrap.Plan) *bootstrap.Result {
	if p.Empty() {
		return nil
	}
	if !online(v) {
		msg := fmt.Sprintf("tool versions declared in %s; not installed: VM %s is offline; create it with --nat to have them installed, or pass --no-bootstrap",
			p.Declared(), v.Name)
		fmt.Fprintf(a.env.Stderr, "banger: %s\n", msg)
		return &bootstrap.Result{Plan: p, Status: bootstrap.StatusOffline, Message: msg}
	}
	r := bootstrap.Install(ctx, execGuest{cl: cl, name: v.Name}, p, gp, a.env.Stderr)
	if r.Status == bootstrap.StatusFailed {
		fmt.Fprintf(a.env.Stderr, "banger: warning: the tool bootstrap failed: %s; carrying on without the tools (--no-bootstrap skips it)\n", r.Message)
	}
	return &r
}

// execGuest runs bootstrap commands through the agent's exec.
type execGuest struct {
	cl   *client.Client
	name string
}

func (g execGuest) Run(ctx context.Context, c bootstrap.Command, stdout, stderr io.Writer) (int, error) {
	ex, err := g.cl.ExecVM(ctx, g.name, proto.ExecRequest{Argv: c.Argv, Env: c.Env, Cwd: c.Dir})
	if err != nil {
		return -1, err
	}
	code, err := ex.Run(ctx, client.ExecIO{Stdout: stdout, Stderr: stderr})
	if ee, ok := err.(*client.ExitError); ok {
		fmt.Fprintf(stderr, "%s\n", ee.Message)
		return ee.Code, nil
	}
	return code, err
}
