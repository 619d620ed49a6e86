//go:build !bangertest

package main

import "banger/internal/vm"

// testHooks is the fault injection of the crash-safety tests; release
// builds have none. Builds with -tags bangertest take it from the
// environment (hooks_bangertest.go).
func testHooks() vm.Hooks { return vm.Hooks{} }

// startProfile is the benchmarks' CPU profile of the daemon; release builds
// have none (see hooks_bangertest.go).
func startProfile() (stop func()) { return func() {} }
