// Package disk is the host adapter for disk image files: it recognises ext4
// images and kernel formats by reading their headers, copies images
// sparsely and atomically, and creates empty ext4 work disks with
// e2fsprogs. It works on files only: it must not mount anything, attach
// loop or device-mapper devices, or decide which image or disk a VM gets
// (that is the VM and image services' job).
package disk
