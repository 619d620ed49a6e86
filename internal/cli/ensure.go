package cli

import (
	"context"
	"fmt"
	"strings"

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
	_, err := a.ensureImageName(ctx, cl, image)
	return err
}

// isImageRef reports whether image is a registry reference rather than an
// image name, which has none of ':', '/' and '@'.
func isImageRef(image string) bool { return strings.ContainsAny(image, ":/@") }

// ensureImageName is ensureImage that also pulls a registry reference
// (vm run --image debian:12) on first use, with the pull's progress, and
// returns the name of the image to boot: image itself, or the name the
// pull recorded.
func (a *app) ensureImageName(ctx context.Context, cl *client.Client, image string) (string, error) {
	if isImageRef(image) {
		img, _, err := watchBuild(ctx, a, false, keptByImagePull, func(p client.Progress) (api.Image, error) {
			return cl.PullImage(ctx, api.PullImageRequest{Ref: image, IfMissing: true}, p)
		})
		if err != nil {
			return "", fmt.Errorf("pull %s: %w", image, err)
		}
		return img.Name, nil
	}
	return image, a.ensureNamedImage(ctx, cl, image)
}

func (a *app) ensureNamedImage(ctx context.Context, cl *client.Client, image string) error {
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
	_, _, err = watchBuild(ctx, a, false, keptByImageBuild, func(p client.Progress) (api.Image, error) {
		return cl.BuildImage(ctx, api.BuildImageRequest{Name: image, Kernel: defaultKernel}, p)
	})
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
	_, _, err := watchBuild(ctx, a, false, keptByKernelFetch, func(p client.Progress) (api.Kernel, error) {
		return cl.FetchKernel(ctx, api.FetchKernelRequest{Name: defaultKernel}, p)
	})
	if err == nil || ctx.Err() != nil || errdefs.Is(err, errdefs.AlreadyExists) {
		return err
	}
	fmt.Fprintf(a.env.Stderr, "banger: no distribution kernel (%v): building the default kernel from linux-source (once; about 10 minutes on 2 cores)\n", err)
	_, _, err = watchBuild(ctx, a, false, keptByKernelBuild, func(p client.Progress) (api.Kernel, error) {
		return cl.BuildKernel(ctx, api.BuildKernelRequest{Name: defaultKernel}, p)
	})
	if err != nil {
		return fmt.Errorf("build the default kernel: %w", err)
	}
	return nil
}
