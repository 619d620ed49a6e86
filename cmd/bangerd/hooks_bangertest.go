//go:build bangertest

package main

import (
	"os"
	"strings"
	"syscall"

	"banger/internal/vm"
)

// crashEnv names the step before which a test build of the daemon kills
// itself.
const crashEnv = "BANGERD_TEST_CRASH_BEFORE"

// testHooks is fault injection for the crash-safety tests, compiled only
// with -tags bangertest: with BANGERD_TEST_CRASH_BEFORE="vm.create:copy-root-disk"
// the daemon kills itself with SIGKILL just before that step, as a crash
// or power loss would.
func testHooks() vm.Hooks { return crashHooks(os.Getenv(crashEnv)) }

func crashHooks(spec string) vm.Hooks {
	kind, step, ok := strings.Cut(spec, ":")
	if !ok {
		return vm.Hooks{}
	}
	return vm.Hooks{BeforeStep: func(k, s string) error {
		if k == kind && s == step {
			_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
			select {} // never returns: the signal ends the process
		}
		return nil
	}}
}
