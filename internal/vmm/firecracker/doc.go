// Package firecracker drives Firecracker microVMs: a small typed client of
// the Firecracker HTTP API (written against its published OpenAPI
// description, served over the VMM's unix socket) and a vmm.Driver that
// launches the firecracker process, configures and boots the guest through
// that API, and asks it to shut down.
//
// It owns the firecracker processes it starts only until they are handed
// back as a vmm.Process; it must not decide VM lifecycle policy, touch host
// networking or disks, or persist anything. The jailer is not handled here.
package firecracker
