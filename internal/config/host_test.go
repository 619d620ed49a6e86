package config

import (
	"path/filepath"
	"runtime"
	"testing"
)

func TestMemTotal(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want int64
	}{
		{"real", "MemTotal:       16318956 kB\nMemFree:         1234 kB\n", 16318956 * 1024},
		{"not first", "MemFree: 1 kB\nMemTotal: 2048 kB\n", 2048 * 1024},
		{"missing", "MemFree: 1 kB\n", 0},
		{"no unit", "MemTotal: 2048\n", 0},
		{"garbage", "MemTotal: lots kB\n", 0},
		{"negative", "MemTotal: -5 kB\n", 0},
		{"empty", "", 0},
	}
	for _, tt := range tests {
		if got := memTotal([]byte(tt.in)); got != tt.want {
			t.Errorf("%s: memTotal = %d, want %d", tt.name, got, tt.want)
		}
	}
}

func TestFreeBytesUsesNearestExistingParent(t *testing.T) {
	dir := t.TempDir()
	want := freeBytes(dir)
	if want <= 0 {
		t.Skipf("needs a file system that reports free space: statfs %s gave %d", dir, want)
	}
	got := freeBytes(filepath.Join(dir, "not", "yet", "created"))
	// Free space moves as other tests write; the same file system is what matters.
	if got <= 0 || got > want*2 || got < want/2 {
		t.Errorf("freeBytes(missing child) = %d, want about %d", got, want)
	}
	if got := freeBytes(""); got != 0 {
		t.Errorf("freeBytes(\"\") = %d, want 0", got)
	}
}

func TestDetectHost(t *testing.T) {
	h := DetectHost(filepath.Join(t.TempDir(), "state"))
	if h.CPUs != runtime.NumCPU() {
		t.Errorf("CPUs = %d, want %d", h.CPUs, runtime.NumCPU())
	}
	if h.MemoryBytes <= 0 {
		t.Errorf("MemoryBytes = %d, want the host's RAM from /proc/meminfo", h.MemoryBytes)
	}
	if h.StateFreeBytes <= 0 {
		t.Errorf("StateFreeBytes = %d, want the free space of the temp dir", h.StateFreeBytes)
	}
	if err := Defaults(h).Validate(h); err != nil {
		t.Errorf("defaults for this host are invalid: %v", err)
	}
}
