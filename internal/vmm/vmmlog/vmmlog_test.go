package vmmlog

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

func TestOpenAppendAndTail(t *testing.T) {
	path := filepath.Join(t.TempDir(), "console.log")
	if err := os.WriteFile(path, []byte("an earlier run\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	f, from, err := OpenAppend(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := Tail(path, from, 5); got != "(no output)" {
		t.Errorf("Tail before any output = %q", got)
	}
	for i := range 30 {
		fmt.Fprintf(f, "line %d\n", i)
	}
	f.Close()
	got := Tail(path, from, 3)
	if got != "line 27\nline 28\nline 29" {
		t.Errorf("Tail = %q", got)
	}
	if strings.Contains(Tail(path, from, 100), "earlier") {
		t.Error("Tail shows output from before this run")
	}
	if got := Tail(filepath.Join(t.TempDir(), "nope"), 0, 3); !strings.HasPrefix(got, "(cannot read ") {
		t.Errorf("Tail of a missing file = %q", got)
	}
}

func TestReset(t *testing.T) {
	dir := t.TempDir()
	old := filepath.Join(dir, "vmm.log")
	if err := os.WriteFile(old, []byte("a longer earlier run\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(dir, "metrics.json")
	for _, p := range []string{old, missing} {
		if err := Reset(p); err != nil {
			t.Fatalf("Reset(%s): %v", p, err)
		}
		info, err := os.Stat(p)
		if err != nil || info.Size() != 0 {
			t.Errorf("after Reset, %s: %v, size %d; want an empty file", p, err, info.Size())
		}
	}
	if info, _ := os.Stat(missing); info.Mode().Perm() != 0o600 {
		t.Errorf("Reset created %s with mode %v, want 0600", missing, info.Mode().Perm())
	}

	// A FIFO (a person watching the log live) is left alone: opening it
	// for writing would block until someone reads.
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := Reset(fifo); err != nil {
		t.Errorf("Reset(fifo) = %v", err)
	}
	if info, err := os.Lstat(fifo); err != nil || info.Mode()&os.ModeNamedPipe == 0 {
		t.Errorf("Reset replaced the FIFO: %v, %v", info, err)
	}
}
