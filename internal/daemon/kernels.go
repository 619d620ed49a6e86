package daemon

import (
	"context"
	"net/http"

	"banger/internal/api"
	"banger/internal/disk"
	"banger/internal/kernelbuild"
)

func (d *Daemon) listKernels(w http.ResponseWriter, r *http.Request) {
	ks, err := d.kernels.List(r.Context())
	if err != nil {
		d.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, mapSlice(ks, apiKernel))
}

func (d *Daemon) getKernel(w http.ResponseWriter, r *http.Request) {
	k, err := d.kernels.Get(r.Context(), r.PathValue("ref"))
	if err != nil {
		d.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, apiKernel(k))
}

func (d *Daemon) importKernel(w http.ResponseWriter, r *http.Request) {
	var req api.ImportKernelRequest
	if err := decode(w, r, &req); err != nil {
		d.writeError(w, r, err)
		return
	}
	k, err := d.kernels.Import(r.Context(), kernelImportRequest(req))
	if err != nil {
		d.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, apiKernel(k))
}

func (d *Daemon) buildKernel(w http.ResponseWriter, r *http.Request) {
	var req api.BuildKernelRequest
	if err := decode(w, r, &req); err != nil {
		d.writeError(w, r, err)
		return
	}
	d.runOp(w, r, http.StatusCreated, func(ctx context.Context, opID string, p func(api.Event)) (any, error) {
		k, err := d.kernels.Build(ctx, opID, kernelBuildRequest(req), kernelProgress(p))
		return apiKernel(k), err
	})
}

func (d *Daemon) fetchKernel(w http.ResponseWriter, r *http.Request) {
	var req api.FetchKernelRequest
	if err := decode(w, r, &req); err != nil {
		d.writeError(w, r, err)
		return
	}
	d.runOp(w, r, http.StatusCreated, func(ctx context.Context, opID string, p func(api.Event)) (any, error) {
		k, err := d.kernels.Fetch(ctx, opID, kernelFetchRequest(req), kernelProgress(p))
		return apiKernel(k), err
	})
}

func (d *Daemon) removeKernel(w http.ResponseWriter, r *http.Request) {
	if err := d.kernels.Remove(r.Context(), r.PathValue("ref")); err != nil {
		d.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, struct{}{})
}

// kernelHost adapts kernelbuild and disk to the kernels service.
type kernelHost struct{}

func (kernelHost) Build(ctx context.Context, opts kernelbuild.Options, progress func(kernelbuild.Progress)) (kernelbuild.Result, error) {
	return kernelbuild.Build(ctx, opts, progress)
}

func (kernelHost) Distro(ctx context.Context, opts kernelbuild.DistroOptions, progress func(kernelbuild.Progress)) (kernelbuild.DistroResult, error) {
	if opts.Init == "" {
		init, err := initBinary()
		if err != nil {
			return kernelbuild.DistroResult{}, err
		}
		opts.Init = init
	}
	return kernelbuild.Distro(ctx, opts, progress)
}

func (kernelHost) DetectKernel(path string) (disk.KernelFormat, error) {
	return disk.DetectKernel(path)
}

func (kernelHost) Unpack(bzImage, dst string) error { return kernelbuild.Unpack(bzImage, dst) }
