package config

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"banger/internal/errdefs"
)

// TestLoadRefusesSpecialFiles: a config path that names /dev/zero once grew
// the daemon to gigabytes, and a FIFO hung it silently. Both, and a file
// too large to be a config, are refused at once with a message naming the
// path.
func TestLoadRefusesSpecialFiles(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo.toml")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	huge := filepath.Join(dir, "huge.toml")
	if err := os.WriteFile(huge, []byte("# "+strings.Repeat("x", int(MaxFileSize))+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct{ name, path, want string }{
		{"dev-zero", "/dev/zero", "not a regular file"},
		{"fifo", fifo, "named pipe"},
		{"directory", dir, "directory"},
		{"too-large", huge, "more than the 1MiB allowed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			errc := make(chan error, 1)
			go func() {
				_, err := Load(tt.path, testHost)
				errc <- err
			}()
			var err error
			select {
			case err = <-errc:
			case <-time.After(30 * time.Second): // a hang detector, not a timing check
				t.Fatalf("Load(%s) hung", tt.path)
			}
			if err == nil {
				t.Fatalf("Load(%s) succeeded", tt.path)
			}
			if k := errdefs.KindOf(err); k != errdefs.FailedPrecondition {
				t.Errorf("kind = %s, want failed_precondition", k)
			}
			for _, s := range []string{tt.path, tt.want} {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q lacks %q", err, s)
				}
			}
		})
	}
}
