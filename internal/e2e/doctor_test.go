package e2e

import (
	"encoding/json"
	"strings"
	"testing"

	"banger/internal/api"
)

// TestDoctor checks the doctor's VMM row against the fake Firecracker,
// once as a supported version and once as one that is too old.
func TestDoctor(t *testing.T) {
	const vmmCheck = "vmm firecracker"
	t.Run("supported", func(t *testing.T) {
		w := newWorld(t)
		w.startDaemon()
		stdout, stderr, code := w.banger("doctor", "--json")
		var rep api.DoctorReport
		if err := json.Unmarshal([]byte(stdout), &rep); err != nil {
			t.Fatalf("doctor --json does not parse: %v\n%s", err, stdout)
		}
		c := check(t, rep, vmmCheck)
		if c.Status != api.CheckPass || !strings.Contains(c.Detail, "1.7.0") {
			t.Errorf("%s = %+v, want PASS naming version 1.7.0", vmmCheck, c)
		}
		wantCode := 0
		for _, c := range rep.Checks {
			if c.Status == api.CheckFail {
				wantCode = 1 // e.g. kvm on a host without a usable /dev/kvm
				t.Logf("check %s fails here: %s", c.Name, c.Detail)
			}
		}
		if code != wantCode {
			t.Errorf("doctor --json exit %d, want %d; stderr: %s", code, wantCode, stderr)
		}
		table, _, tableCode := w.banger("doctor")
		if tableCode != code {
			t.Errorf("doctor exit %d, doctor --json exit %d; want the same", tableCode, code)
		}
		if !strings.Contains(table, "PASS") || !strings.Contains(table, vmmCheck) {
			t.Errorf("doctor table lacks a PASS row for %s:\n%s", vmmCheck, table)
		}
	})
	t.Run("too-old", func(t *testing.T) {
		w := newWorld(t)
		w.startDaemon("FAKEFC_VERSION=1.4.0")
		stdout, _, code := w.banger("doctor", "--json")
		if code != 1 {
			t.Errorf("doctor --json exit %d, want 1", code)
		}
		var rep api.DoctorReport
		if err := json.Unmarshal([]byte(stdout), &rep); err != nil {
			t.Fatalf("doctor --json does not parse: %v\n%s", err, stdout)
		}
		c := check(t, rep, vmmCheck)
		if c.Status != api.CheckFail || !strings.Contains(c.Detail, "1.4.0") || c.Fix == "" {
			t.Errorf("%s = %+v, want FAIL naming 1.4.0, with a fix", vmmCheck, c)
		}
		table, _, code := w.banger("doctor")
		if code != 1 {
			t.Errorf("doctor exit %d, want 1", code)
		}
		if want := "FAIL " + vmmCheck + ": fix: " + c.Fix; !strings.Contains(table, want) {
			t.Errorf("doctor output lacks the fix line %q:\n%s", want, table)
		}
	})
}

// check returns the named row of a doctor report.
func check(t *testing.T, rep api.DoctorReport, name string) api.Check {
	t.Helper()
	for _, c := range rep.Checks {
		if c.Name == name {
			return c
		}
	}
	t.Fatalf("doctor report has no %q check: %+v", name, rep.Checks)
	return api.Check{}
}
