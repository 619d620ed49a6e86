package daemon

import (
	"context"
	"io"
	"net/http"

	"banger/internal/agent/agentclient"
	"banger/internal/agent/proto"
	"banger/internal/api"
	"banger/internal/vm"
)

// agentSession is a guest agent client as the VM service uses it.
type agentSession struct{ *agentclient.Client }

// Run runs a command to its end and returns its exit code.
func (a agentSession) Run(ctx context.Context, req proto.ExecRequest, stdout, stderr io.Writer) (int, error) {
	p, err := a.Exec(ctx, req, stdout, stderr)
	if err != nil {
		return 0, err
	}
	return p.Wait()
}

// prepareWorkspace ships the tar stream of the request body into the VM
// as its workspace; the query says where it came from and where it goes.
// The body is streamed to the guest agent, never held whole (readBody lets
// this route's body through behind a stallGuard).
func (d *Daemon) prepareWorkspace(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	spec := vm.WorkspaceSpec{
		HostPath:   q.Get(api.WorkspaceHostPath),
		GuestPath:  q.Get(api.WorkspaceGuestPath),
		BaseCommit: q.Get(api.WorkspaceBase),
		Branch:     q.Get(api.WorkspaceBranch),
		Origin:     q.Get(api.WorkspaceOrigin),
		UserName:   q.Get(api.WorkspaceUserName),
		UserEmail:  q.Get(api.WorkspaceUserEmail),
	}
	ctx, cancel := d.streamContext(r)
	defer cancel()
	v, err := d.vms.PrepareWorkspace(ctx, r.PathValue("ref"), spec, r.Body)
	if err != nil {
		d.refuseStream(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, apiVM(v))
}
