package kerneltest

import (
	"path/filepath"
	"testing"
)

func TestCacheDir(t *testing.T) {
	tests := []struct{ xdg, home, want string }{
		{"/xdg", "/home/u", "/xdg/banger-test/kernel"},
		{"relative", "/home/u", "/home/u/.cache/banger-test/kernel"},
		{"", "/home/u", "/home/u/.cache/banger-test/kernel"},
	}
	for _, tt := range tests {
		t.Setenv("XDG_CACHE_HOME", tt.xdg)
		t.Setenv("HOME", tt.home)
		got, err := CacheDir()
		if err != nil || got != filepath.Clean(tt.want) {
			t.Errorf("CacheDir with XDG_CACHE_HOME=%q HOME=%q = %q, %v; want %q", tt.xdg, tt.home, got, err, tt.want)
		}
	}
}
