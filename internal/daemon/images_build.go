package daemon

import (
	"context"
	"errors"
	"net/http"
	"os"
	"path/filepath"

	"banger/internal/api"
	"banger/internal/errdefs"
	"banger/internal/imagebuild"
	"banger/internal/images"
)

// AgentBinEnv overrides where the daemon finds the banger-agent binary it
// puts into the images it builds.
const AgentBinEnv = "BANGER_AGENT_BIN"

// InitBinEnv overrides where the daemon finds the banger-init binary it
// puts into the initramfs of distribution kernels.
const InitBinEnv = "BANGER_INIT_BIN"

// agentBinary returns the banger-agent to embed: $BANGER_AGENT_BIN, or
// banger-agent next to the daemon's own executable (bin/ after make build,
// the install prefix's bin/ after make install).
func agentBinary() (string, error) { return helperBinary("banger-agent", AgentBinEnv) }

// initBinary returns the banger-init for a distro kernel's initramfs,
// found like the agent: $BANGER_INIT_BIN, or next to bangerd.
func initBinary() (string, error) { return helperBinary("banger-init", InitBinEnv) }

func helperBinary(name, env string) (string, error) {
	if p := os.Getenv(env); p != "" {
		return filepath.Abs(p)
	}
	exe, err := os.Executable()
	if err != nil {
		return "", errdefs.FailedPreconditionf("find the %s binary: %v: set %s", name, err, env)
	}
	if resolved, err := filepath.EvalSymlinks(exe); err == nil {
		exe = resolved
	}
	p := filepath.Join(filepath.Dir(exe), name)
	if _, err := os.Stat(p); errors.Is(err, os.ErrNotExist) {
		return "", errdefs.FailedPreconditionf("%s not found next to bangerd (%s): run \"make build\" (or \"make install\"), or set %s", name, p, env)
	}
	return p, nil
}

// imageBuilder adapts package imagebuild to the images service.
type imageBuilder struct{}

func (imageBuilder) Build(ctx context.Context, spec images.BuildSpec, progress func(images.Progress)) (images.BuildOutput, error) {
	agent, err := agentBinary()
	if err != nil {
		return images.BuildOutput{}, err
	}
	opts := imagebuild.Options{Suite: spec.Suite, Packages: spec.Packages, AgentBinary: agent, WorkDir: spec.Dir}
	res, err := imagebuild.Build(ctx, opts, func(p imagebuild.Progress) {
		if progress != nil {
			progress(images.Progress{Step: p.Step, Index: p.Index, Total: p.Total, Detail: p.Detail, Fraction: p.Fraction,
				Current: p.Current, TotalUnits: p.TotalUnits, Unit: p.Unit})
		}
	})
	if err != nil {
		return images.BuildOutput{}, err
	}
	return images.BuildOutput{RootFS: res.RootFS, SHA256: res.SHA256, Size: res.Size, IdentityDisk: res.IdentityDisk}, nil
}

func (d *Daemon) buildImage(w http.ResponseWriter, r *http.Request) {
	var req api.BuildImageRequest
	if err := decode(w, r, &req); err != nil {
		d.writeError(w, r, err)
		return
	}
	d.runOp(w, r, http.StatusCreated, func(ctx context.Context, opID string, p func(api.Event)) (any, error) {
		name := req.Name
		if name == "" {
			name = images.DefaultImage
		}
		progress := func(ip images.Progress) {
			if p != nil {
				p(apiImageProgress(ip, opImageBuild, opID, name))
			}
		}
		img, err := d.images.Build(ctx, imageBuildRequest(req), progress)
		return apiImage(img), err
	})
}
