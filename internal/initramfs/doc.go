// Package initramfs builds the small initramfs banger boots a
// distribution kernel with: an uncompressed newc cpio archive holding
// banger-init as /init and exactly the kernel modules the VMs need, with
// their dependencies, and the list banger-init loads them from (package
// initlayout: each module with the modules it needs loaded first). It reads modules'
// .modinfo sections to find their names, dependencies and vermagic, and
// refuses a module built for another kernel release. It needs no root and
// mounts nothing. It must not talk to the daemon, the CLI or a VMM.
package initramfs
