// Package qemu drives QEMU microVMs: a vmm.Driver that launches
// `qemu-system-x86_64 -M microvm` paused with the whole machine on its
// command line (the same kernel, root filesystem, disks, tap and
// virtio-mmio device model as Firecracker), starts and stops the guest
// through a small QMP client on the VMM's unix socket, and connects to the
// guest agent over a virtio-serial port. It picks KVM when KVM can really
// run a guest here and TCG (software emulation) otherwise.
//
// It owns the qemu processes it starts only until they are handed back as
// a vmm.Process; it must not decide VM lifecycle policy, touch host
// networking or disks, or persist anything.
package qemu
