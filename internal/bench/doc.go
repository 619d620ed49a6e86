// Package bench holds banger's control-plane and memory benchmarks. They
// build the real bangerd, run it in a private XDG layout against the fake
// Firecracker, drive it through the Go client over its unix socket, and
// print what they measure next to a floor measured in the same run (a
// minimal client driving the fake Firecracker directly) and next to the
// goals of the issue. Figures are printed and reported as metrics, never
// asserted: a slow host must not fail the build.
//
// The package has no code outside its tests and must not be imported. It
// never touches processes or files it did not create.
package bench
