package vm

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestInitError(t *testing.T) {
	const boot = "[    0.000000] Linux version 6.1.0-57-cloud-amd64 (debian-kernel@lists.debian.org)\n[    3.2] Run /init as init process\n"
	const line = "banger-init: error: module virtio_blk: open /lib/modules/virtio_blk.ko: no such file or directory"
	for name, tt := range map[string]struct{ log, want string }{
		"failed boot":              {boot + line + "\r\n[    4.5] reboot: Restarting system\n", line},
		"good boot":                {boot + "[    5.0] systemd[1]: started\n", ""},
		"failure of an older boot": {boot + line + "\n" + boot + "[    5.0] systemd[1]: started\n", ""},
		"no banner":                {line + "\n", line},
		"no log":                   {"", ""},
		"cut line":                 {boot + line, line},
	} {
		t.Run(name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "console.log")
			if tt.log != "" {
				if err := os.WriteFile(p, []byte(tt.log), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			if got := initError(p); got != tt.want {
				t.Errorf("initError = %q, want %q", got, tt.want)
			}
		})
	}
	// A failure far back in a large log, with the boot's banner beyond
	// the tail, is not reported.
	p := filepath.Join(t.TempDir(), "console.log")
	big := boot + line + "\n" + strings.Repeat("x", initErrorTail) + "\n"
	if err := os.WriteFile(p, []byte(big), 0o600); err != nil {
		t.Fatal(err)
	}
	if got := initError(p); got != "" {
		t.Errorf("initError of a long log = %q, want nothing", got)
	}
}
