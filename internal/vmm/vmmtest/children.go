package vmmtest

import (
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

// children returns the live (non-zombie) child processes of the test
// binary, by pid.
func children(t *testing.T) map[int]bool {
	t.Helper()
	entries, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatalf("list processes: %v", err)
	}
	self := os.Getpid()
	kids := map[int]bool{}
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		// Fields after the parenthesised command: state, ppid, ...
		s := string(b)
		i := strings.LastIndexByte(s, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(s[i+1:])
		if len(f) < 2 || f[0] == "Z" || f[0] == "X" {
			continue
		}
		if ppid, err := strconv.Atoi(f[1]); err == nil && ppid == self {
			kids[pid] = true
		}
	}
	return kids
}

// checkNoNewChildren fails the test if a child process that was not in
// before is still alive. A process just killed may take a moment to be
// reaped, so it retries briefly.
func checkNoNewChildren(t *testing.T, before map[int]bool) {
	t.Helper()
	deadline := time.Now().Add(killTimeout)
	for {
		var extra []int
		for pid := range children(t) {
			if !before[pid] {
				extra = append(extra, pid)
			}
		}
		if len(extra) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("processes left behind: %v", extra)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
