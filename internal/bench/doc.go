// Package bench holds banger's benchmarks. The control-plane and memory
// benchmarks build the real bangerd, run it in a private XDG layout against
// the fake Firecracker and drive it through the Go client over its unix
// socket; the real-guest benchmarks run the real banger CLI against a
// bangerd with the qemu driver, booting the kernel and default image the
// tests build once per machine. Each prints what it measures next to a
// floor measured in the same run (a minimal program doing the least the
// same result needs) and next to the goals of the issue. The real-guest
// floor boots the same machine as banger's VM, built by banger's own code
// (vm.VMMSpec, vm.NetAttachment.Apply, vm.IdentityFiles, qemu.Args);
// TestFloorLaunchMatchesBanger checks it against the qemu the daemon
// launches. Figures are printed and reported as metrics, never asserted: a
// slow host must not fail the build.
//
// The package has no code outside its tests and must not be imported. It
// never touches processes or files it did not create.
package bench
