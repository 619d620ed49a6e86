// Package oci pulls container images from OCI/Docker registries and
// flattens their layers into one checked root filesystem tar stream.
//
// It owns reference normalisation (as Docker does it), registry
// credentials (the Docker config of the user the daemon runs as),
// choosing the linux/amd64 image of a multi-platform index, a
// content-addressed layer cache verified by digest, and the flattener,
// which applies layers oldest first with whiteouts and opaque directories
// and refuses hostile entries (traversal, absolute names, writes through
// symlinks, hard links out of the tree, device nodes outside /dev) with an
// error naming the layer digest and the entry.
//
// It never extracts anything onto the host: the flattened result is a tar
// stream with one entry per final path, so ownership, modes, times,
// xattrs and file capabilities survive a daemon that is not root. It must
// not know about the daemon, the store or VMs.
package oci
