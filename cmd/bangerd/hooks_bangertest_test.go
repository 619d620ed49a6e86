//go:build bangertest

package main

import (
	"errors"
	"testing"

	"banger/internal/vm"
)

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

func TestSkipHooks(t *testing.T) {
	if h := skipHooks(""); h.BeforeStep != nil {
		t.Error(`skipHooks("") has a hook, want none`)
	}
	h := skipHooks("vm.restore:reidentify,vm.start:boot")
	for _, c := range []struct {
		kind, step string
		skip       bool
	}{{"vm.restore", "reidentify", true}, {"vm.start", "boot", true}, {"vm.restore", "boot", false}, {"vm.create", "reidentify", false}} {
		if got := errors.Is(h.BeforeStep(c.kind, c.step), vm.ErrSkipStep); got != c.skip {
			t.Errorf("skip %s:%s = %v, want %v", c.kind, c.step, got, c.skip)
		}
	}
}
