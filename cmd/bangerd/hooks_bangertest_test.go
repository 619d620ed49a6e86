//go:build bangertest

package main

import "testing"

func TestCrashHooks(t *testing.T) {
	if h := crashHooks(""); h.BeforeStep != nil {
		t.Error(`crashHooks("") has a hook, want none`)
	}
	if h := crashHooks("no-colon"); h.BeforeStep != nil {
		t.Error(`crashHooks("no-colon") has a hook, want none`)
	}
	h := crashHooks("vm.create:copy-root-disk")
	if h.BeforeStep == nil {
		t.Fatal("crashHooks(vm.create:copy-root-disk) has no hook")
	}
	// Only the named step kills; any other passes.
	if err := h.BeforeStep("vm.create", "other-step"); err != nil {
		t.Errorf("BeforeStep on another step: %v", err)
	}
	if err := h.BeforeStep("vm.start", "copy-root-disk"); err != nil {
		t.Errorf("BeforeStep on another kind: %v", err)
	}
}
