package vmmlog

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
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
