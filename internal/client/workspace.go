package client

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"

	"banger/internal/api"
)

// WorkspaceTarget says where a workspace comes from and what the guest's
// repository gets: see PUT /v1/vms/{ref}/workspace.
type WorkspaceTarget struct {
	HostPath, GuestPath, Base, Branch, Origin, UserName, UserEmail string
}

// PrepareWorkspace streams tarStream (files, and a shallow bare clone under
// .git/) into the running VM ref at t.GuestPath and returns the VM with
// its workspace recorded. The stream is sent as it is read, never held
// whole.
func (c *Client) PrepareWorkspace(ctx context.Context, ref string, t WorkspaceTarget, tarStream io.Reader) (api.VM, error) {
	q := url.Values{}
	for k, v := range map[string]string{api.WorkspaceHostPath: t.HostPath, api.WorkspaceGuestPath: t.GuestPath,
		api.WorkspaceBase: t.Base, api.WorkspaceBranch: t.Branch, api.WorkspaceOrigin: t.Origin,
		api.WorkspaceUserName: t.UserName, api.WorkspaceUserEmail: t.UserEmail} {
		if v != "" {
			q.Set(k, v)
		}
	}
	path := "/vms/" + esc(ref) + "/workspace?" + q.Encode()
	req, err := c.newRequest(ctx, http.MethodPut, path, nil)
	if err != nil {
		return api.VM{}, err
	}
	req.Body = io.NopCloser(tarStream)
	req.ContentLength = -1
	req.Header.Set("Content-Type", "application/x-tar")
	resp, err := c.send(req)
	if err != nil {
		return api.VM{}, err
	}
	defer resp.Body.Close()
	var out api.VM
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		return api.VM{}, fmt.Errorf("decode reply of PUT %s: %w", path, err)
	}
	return out, nil
}
