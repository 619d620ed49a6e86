//go:build bangertest

package main

import (
	"os"
	"runtime/pprof"
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
func testHooks() vm.Hooks {
	crash, skip := crashHooks(os.Getenv(crashEnv)), skipHooks(os.Getenv(skipEnv))
	return vm.Hooks{BeforeStep: func(kind, step string) error {
		if crash.BeforeStep != nil {
			_ = crash.BeforeStep(kind, step)
		}
		if skip.BeforeStep != nil {
			return skip.BeforeStep(kind, step)
		}
		return nil
	}}
}

// skipEnv names the steps ("kind:step,kind:step") a test build of the
// daemon skips: worlds of the fake Firecracker, which runs no guest, skip
// the steps that need a guest agent (vm.restore:reidentify).
const skipEnv = "BANGERD_TEST_SKIP_STEPS"

func skipHooks(spec string) vm.Hooks {
	if spec == "" {
		return vm.Hooks{}
	}
	skip := map[string]bool{}
	for _, s := range strings.Split(spec, ",") {
		skip[s] = true
	}
	return vm.Hooks{BeforeStep: func(kind, step string) error {
		if skip[kind+":"+step] {
			return vm.ErrSkipStep
		}
		return nil
	}}
}

// profileEnv names the file a test build of the daemon writes its CPU
// profile to, from start to exit (the benchmarks read it with pprof).
const profileEnv = "BANGERD_TEST_CPU_PROFILE"

// startProfile starts the CPU profile when profileEnv is set and returns
// what stops and writes it.
func startProfile() (stop func()) {
	path := os.Getenv(profileEnv)
	if path == "" {
		return func() {}
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return func() {}
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return func() {}
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
	}
}

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
