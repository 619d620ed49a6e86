// Package identdisk owns the per-VM identity disk: a small raw image the
// VM service writes with plain file I/O (no mkfs, no debugfs) and attaches
// to the VM as an extra read-only block device, and that the guest reads
// at early boot to install the VM's hostname, agent token and authorized
// key. It holds the format (Encode, Decode), the list of guest paths the
// disk may name (Allowed), the guest side's search for the device (Find)
// and the installation of the files under a root (Install).
//
// The host is trusted with the guest (it owns its disks), but the reader
// still refuses anything outside the format: sizes past the limits,
// paths outside the allowed list, modes with more than permission bits,
// a checksum that does not match. It must not import any banger service.
//
// # Format (version 1)
//
// A 32-byte header, then the payload, then zeros up to a multiple of
// 4096 bytes. All integers are big-endian.
//
//	header:  "BANGERID" | u32 version (1) | u32 count | u32 payload length | u32 CRC-32 (IEEE) of the payload | 8 zero bytes
//	payload: count entries of u16 path length | path | u32 mode | u32 data length | data
package identdisk
