// Package kernelbuild is the host adapter that turns the distribution's
// linux-source tarball into banger's guest kernel: it checks the build
// tools, extracts the source into a cache directory, configures it with the
// fragment embedded here (x86_64.config, applied with `make allnoconfig`
// and then verified line by line), runs make with progress, and installs
// vmlinux and bzImage into a content-addressed output directory that later
// builds reuse. It also unpacks a bzImage into a vmlinux.
//
// It owns only files under the work directory it is given (and the
// destination of Unpack). It must not touch the store, the daemon or the
// CLI: recording a kernel is the kernels service's job.
package kernelbuild

import _ "embed"

// Fragment is the kernel configuration fragment banger ships for x86_64.
//
//go:embed x86_64.config
var Fragment string
