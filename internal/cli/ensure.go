package cli

import (
	"context"
	"fmt"

	"banger/internal/api"
	"banger/internal/client"
	"banger/internal/errdefs"
)

// defaultKernel is the kernel a default image boots.
const defaultKernel = "default"

// ensureImage makes sure the image a new VM boots exists. Only the
// daemon's default image is built when missing (with the default kernel
// first, if that is missing too), with progress: that is what lets
// `banger vm run` work on a fresh machine. Any other missing image is an
// error.
func (a *app) ensureImage(ctx context.Context, cl *client.Client, image string) error {
	info, err := cl.Info(ctx)
	if err != nil {
		return err
	}
	if image == "" {
		image = info.DefaultImage
	}
	if _, err := cl.GetImage(ctx, image); err == nil || !errdefs.Is(err, errdefs.NotFound) || image != info.DefaultImage {
		return err
	}
	if _, err := cl.GetKernel(ctx, defaultKernel); errdefs.Is(err, errdefs.NotFound) {
		if err := a.ensureKernel(ctx, cl); err != nil {
			return err
		}
	} else if err != nil {
		return err
	}
	fmt.Fprintf(a.env.Stderr, "banger: no image %q yet: building it from Debian packages (once; a minute or two)\n", image)
	pr := newBuildProgress(a.env.Stderr, isTerminal(a.env.Stderr))
	_, err = cl.BuildImage(ctx, api.BuildImageRequest{Name: image, Kernel: defaultKernel}, pr.report)
	pr.done()
	if err != nil {
		return fmt.Errorf("build the default image: %w", err)
	}
	return nil
}

// ensureKernel makes the default kernel: the distribution's kernel
// package when it is installed or the mirror has it (seconds), else a
// build from linux-source (minutes).
func (a *app) ensureKernel(ctx context.Context, cl *client.Client) error {
	fmt.Fprintf(a.env.Stderr, "banger: no kernel yet: taking the distribution's kernel package (once; seconds)\n")
	pr := newBuildProgress(a.env.Stderr, isTerminal(a.env.Stderr))
	_, err := cl.FetchKernel(ctx, api.FetchKernelRequest{Name: defaultKernel}, pr.report)
	pr.done()
	if err == nil || ctx.Err() != nil || errdefs.Is(err, errdefs.AlreadyExists) {
		return err
	}
	fmt.Fprintf(a.env.Stderr, "banger: no distribution kernel (%v): building the default kernel from linux-source (once; about 10 minutes on 2 cores)\n", err)
	pr = newBuildProgress(a.env.Stderr, isTerminal(a.env.Stderr))
	_, err = cl.BuildKernel(ctx, api.BuildKernelRequest{Name: defaultKernel}, pr.report)
	pr.done()
	if err != nil {
		return fmt.Errorf("build the default kernel: %w", err)
	}
	return nil
}
