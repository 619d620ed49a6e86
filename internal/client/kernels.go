package client

import (
	"context"
	"net/http"

	"banger/internal/api"
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
	return streamResult[api.Kernel](ctx, c, http.MethodPost, "/kernels/build", req, progress, "kernel build")
}

// FetchKernel takes the kernel of a distribution package with banger's
// initramfs, reporting progress; a download takes seconds to a minute.
func (c *Client) FetchKernel(ctx context.Context, req api.FetchKernelRequest, progress Progress) (api.Kernel, error) {
	return streamResult[api.Kernel](ctx, c, http.MethodPost, "/kernels/fetch", req, progress, "kernel fetch")
}

// RemoveKernel deletes a kernel and its files.
func (c *Client) RemoveKernel(ctx context.Context, ref string) error {
	return c.do(ctx, http.MethodDelete, "/kernels/"+esc(ref), nil, nil)
}
