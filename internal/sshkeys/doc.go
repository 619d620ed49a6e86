// Package sshkeys owns banger's SSH identity and trust: the ed25519 key the
// daemon's user logs into guests with (made on first use, private key mode
// 0600, OpenSSH format) and banger's own known_hosts file, in which each
// VM's host keys are pinned under its DNS name, its address and a per-VM
// alias. A pinned key never changes: a VM that presents another key of the
// same type is refused, not re-pinned. It must not talk to guests, the
// store or HTTP; the vm service hands it the keys its agent reported.
package sshkeys
