// Package e2e holds the end-to-end and crash-safety tests of banger: they
// build the real banger and bangerd binaries and the fake Firecracker, run
// them in a private XDG layout per test, and check what is left on the host
// after every command, daemon restart and injected crash. It has no code
// outside its tests and must not be imported; it never touches processes or
// files it did not create.
package e2e
