// Package imagebuild is the host adapter that builds banger's default guest
// image from Debian packages: it bootstraps a root tree with mmdebstrap (or
// debootstrap), configures it for banger (agent, units, first-boot identity,
// /root on the work disk), packs it into an ext4 file with mkfs.ext4 -d and
// stores it content-addressed under a work directory. It runs as root, or
// as an ordinary user inside a user namespace of its subordinate ids
// (mode.go, userns.go) with the same owners and modes in the image. It
// never mounts a filesystem it makes and never records images: deciding
// names, kernels and store records is the images service's job.
package imagebuild
