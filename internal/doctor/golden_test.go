package doctor

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden with the current output")

// golden compares got with testdata/name, rewriting it with -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("report differs from %s (run with -update to accept):\n--- got\n%s\n--- want\n%s", path, got, want)
	}
}

// TestReportGolden pins the full report of one scenario with a failure in
// every kind of check. Everything machine-dependent is fixed: KVM points at
// /dev/null, the state directory is missing (so disk space is a WARN
// without a number), and the scratch directory is written as $TMP.
func TestReportGolden(t *testing.T) {
	h := newHost(t)
	if err := os.Chmod(h.socket, 0o644); err != nil {
		t.Fatal(err)
	}
	d := h.deps(
		&fakeDriver{err: errors.New(`firecracker not found in PATH: install it or set vmm.firecracker_bin`)},
		&fakeStore{err: errors.New("integrity check: database disk image is malformed")},
		[]Tool{
			{Name: "mkfs.ext4", Path: "/usr/sbin/mkfs.ext4"},
			{Name: "e2fsck", Err: errors.New(`"e2fsck" not found in PATH: install e2fsprogs`)},
		},
	)
	d.StateDir = filepath.Join(h.base, "state-missing")

	report := Run(context.Background(), d)
	b, err := json.MarshalIndent(reportJSON(report), "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	b = append(b, '\n')
	golden(t, "report.golden", []byte(strings.ReplaceAll(string(b), h.base, "$TMP")))

	for _, c := range report.Checks {
		if c.Status == StatusFail && c.Fix == "" {
			t.Errorf("FAIL %s has no fix", c.Name)
		}
	}
	if !Failed(report) {
		t.Error("Failed = false, want true")
	}
}

// jsonCheck is a check in the golden file, shaped as in the API's doctor
// report so the file reads the way users see the report.
type jsonCheck struct {
	Name   string `json:"name"`
	Status Status `json:"status"`
	Detail string `json:"detail"`
	Fix    string `json:"fix,omitempty"`
}

func reportJSON(r Report) any {
	checks := make([]jsonCheck, 0, len(r.Checks))
	for _, c := range r.Checks {
		checks = append(checks, jsonCheck(c))
	}
	return struct {
		Checks []jsonCheck `json:"checks"`
	}{checks}
}
