package kernels

import (
	"context"
	"path/filepath"
	"time"

	"banger/internal/errdefs"
	"banger/internal/kernelbuild"
	"banger/internal/names"
)

// DefaultName is the name of the kernel `banger kernel build` makes and
// images boot with unless told otherwise.
const DefaultName = "default"

// MaxJobs bounds the parallel compile jobs a build may ask for: make starts
// that many compilers at once.
const MaxJobs = 256

// stepRecord is the service's own step after the build's.
const stepRecord = "record"

// OpBuild is the operation kind of a kernel build in progress events.
const OpBuild = "kernel.build"

// Build compiles the banger kernel (or reuses the build cache) and records
// a copy of it as req.Name ("default" when empty). progress, when set,
// gets a Progress for every report of the build.
func (s *Service) Build(ctx context.Context, opID string, req BuildRequest, progress func(Progress)) (Kernel, error) {
	name := req.Name
	if name == "" {
		name = DefaultName
	}
	if err := names.ValidateAs("kernel", name); err != nil {
		return Kernel{}, err
	}
	if req.Jobs < 0 || req.Jobs > MaxJobs {
		return Kernel{}, errdefs.InvalidArgumentf("jobs = %d: must be between 0 (one per CPU) and %d", req.Jobs, MaxJobs)
	}
	if err := s.nameFree(ctx, name); err != nil {
		return Kernel{}, err
	}
	steps := append(append([]string(nil), kernelbuild.Steps...), stepRecord)
	report := func(p kernelbuild.Progress) {
		if progress == nil {
			return
		}
		progress(Progress{
			Time: s.cfg.Now(), OpID: opID, Kind: OpBuild, Target: name,
			Step: p.Step, Index: indexOf(steps, p.Step), Total: len(steps), Detail: p.Detail, Fraction: p.Fraction,
			Current: p.Current, TotalUnits: p.TotalUnits, Unit: p.Unit,
		})
	}
	res, err := s.cfg.Host.Build(ctx, kernelbuild.Options{Source: req.Source, WorkDir: s.cfg.WorkDir, Jobs: req.Jobs}, report)
	if err != nil {
		return Kernel{}, err
	}
	report(kernelbuild.Progress{Step: stepRecord, Detail: "copying into the kernel store"})
	// The build is done: finish recording it even if the caller hangs up.
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Minute)
	defer cancel()
	k, err := s.record(rctx, name, SourceBuilt, res.Version, sources{vmlinux: res.Vmlinux, bzImage: res.BzImage,
		origin: "built from " + filepath.Base(res.Source)})
	if err != nil {
		return Kernel{}, err
	}
	report(kernelbuild.Progress{Step: stepRecord, Detail: k.Name + " " + k.Version, Fraction: 1})
	return k, nil
}

func indexOf(steps []string, step string) int {
	for i, s := range steps {
		if s == step {
			return i + 1
		}
	}
	return 0
}
