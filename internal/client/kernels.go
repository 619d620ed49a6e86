package client

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"

	"banger/internal/api"
	"banger/internal/errdefs"
)

// ListKernels returns every kernel.
func (c *Client) ListKernels(ctx context.Context) ([]api.Kernel, error) {
	var out []api.Kernel
	return out, c.do(ctx, http.MethodGet, "/kernels", nil, &out)
}

// GetKernel returns one kernel by name or id.
func (c *Client) GetKernel(ctx context.Context, ref string) (api.Kernel, error) {
	var out api.Kernel
	return out, c.do(ctx, http.MethodGet, "/kernels/"+esc(ref), nil, &out)
}

// ImportKernel copies a vmlinux or bzImage (and an initrd) on the daemon's
// host into the kernel store.
func (c *Client) ImportKernel(ctx context.Context, req api.ImportKernelRequest) (api.Kernel, error) {
	var out api.Kernel
	return out, c.do(ctx, http.MethodPost, "/kernels", req, &out)
}

// BuildKernel builds the banger kernel, reporting progress; it can take
// many minutes the first time.
func (c *Client) BuildKernel(ctx context.Context, req api.BuildKernelRequest, progress Progress) (api.Kernel, error) {
	ev, err := c.stream(ctx, http.MethodPost, "/kernels/build", req, progress)
	if err != nil {
		return api.Kernel{}, err
	}
	var k api.Kernel
	if len(ev.Result) == 0 {
		return api.Kernel{}, errdefs.Internalf("bangerd finished the kernel build without a result (op %s)", ev.OpID)
	}
	if err := json.Unmarshal(ev.Result, &k); err != nil {
		return api.Kernel{}, fmt.Errorf("bad kernel build result from bangerd: %w", err)
	}
	return k, nil
}

// FetchKernel takes the kernel of a distribution package with banger's
// initramfs, reporting progress; a download takes seconds to a minute.
func (c *Client) FetchKernel(ctx context.Context, req api.FetchKernelRequest, progress Progress) (api.Kernel, error) {
	ev, err := c.stream(ctx, http.MethodPost, "/kernels/fetch", req, progress)
	if err != nil {
		return api.Kernel{}, err
	}
	var k api.Kernel
	if len(ev.Result) == 0 {
		return api.Kernel{}, errdefs.Internalf("bangerd finished the kernel fetch without a result (op %s)", ev.OpID)
	}
	if err := json.Unmarshal(ev.Result, &k); err != nil {
		return api.Kernel{}, fmt.Errorf("bad kernel fetch result from bangerd: %w", err)
	}
	return k, nil
}

// RemoveKernel deletes a kernel and its files.
func (c *Client) RemoveKernel(ctx context.Context, ref string) error {
	return c.do(ctx, http.MethodDelete, "/kernels/"+esc(ref), nil, nil)
}
