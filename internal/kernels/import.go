package kernels

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"

	"banger/internal/disk"
	"banger/internal/errdefs"
	"banger/internal/names"
	"banger/internal/userfile"
)

// Import copies a vmlinux, or a bzImage that it unpacks to a vmlinux, and
// an optional initrd into the kernel store. An empty name is derived from
// the file name. Every problem with the request is reported at once.
func (s *Service) Import(ctx context.Context, req ImportRequest) (Kernel, error) {
	name := req.Name
	if name == "" {
		name = nameFromPath(req.Path)
	}
	var problems []error
	if err := names.ValidateAs("kernel", name); err != nil {
		problems = append(problems, err)
	}
	var format disk.KernelFormat
	if err := checkFile("kernel", req.Path); err != nil {
		problems = append(problems, err)
	} else if format, err = s.cfg.Host.DetectKernel(req.Path); err != nil {
		problems = append(problems, err)
	}
	if req.Initrd != "" {
		if err := checkFile("initrd", req.Initrd); err != nil {
			problems = append(problems, err)
		}
	}
	if len(problems) > 0 {
		return Kernel{}, errdefs.Wrap(errdefs.InvalidArgument, errors.Join(problems...))
	}
	if err := s.nameFree(ctx, name); err != nil {
		return Kernel{}, err
	}
	src := sources{initrd: req.Initrd, origin: "imported from " + req.Path}
	if format == disk.BzImage {
		src.bzImage = req.Path
	} else {
		src.vmlinux = req.Path
	}
	return s.record(ctx, name, SourceImported, "", src)
}

// checkFile checks that path is an absolute path to a readable regular
// file of at most disk.MaxKernelSize bytes, opening it with userfile so
// that a FIFO or a device fails at once instead of blocking.
func checkFile(field, path string) error {
	if path == "" {
		return fmt.Errorf("%s: a path is required", field)
	}
	if !filepath.IsAbs(path) {
		return fmt.Errorf("%s %q: must be an absolute path", field, path)
	}
	f, err := userfile.Open(path, disk.MaxKernelSize)
	if err != nil {
		return fmt.Errorf("%s %w", field, err) // "kernel /x does not exist: ..."
	}
	return f.Close()
}

// nameFromPath turns a file name into a kernel name: "vmlinux-6.1.102"
// becomes "vmlinux-6-1-102".
func nameFromPath(path string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(filepath.Base(path)) {
		if (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9') {
			b.WriteRune(r)
		} else if s := b.String(); s != "" && !strings.HasSuffix(s, "-") {
			b.WriteByte('-')
		}
	}
	name := strings.Trim(b.String(), "-")
	if len(name) > names.MaxLen {
		name = strings.Trim(name[:names.MaxLen], "-")
	}
	if name == "" {
		return "imported"
	}
	return name
}
