package disk

// Limits on the files a user names, checked before they are read.
const (
	// MaxImageSize bounds a root filesystem image: 2TiB, the largest work
	// disk a VM may have.
	MaxImageSize = 2 << 40
	// MaxKernelSize bounds a kernel or an initrd: 1GiB is far above a
	// vmlinux with debug information.
	MaxKernelSize = 1 << 30
)
