package cli

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestAutoStartFailure checks that a daemon that cannot start is reported
// clearly, with the lines it logged.
func TestAutoStartFailure(t *testing.T) {
	root, err := os.MkdirTemp("", "bgcli")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(root)
	fake := filepath.Join(root, "bangerd")
	script := "#!/bin/sh\necho 'bangerd: config broken.toml: vm.vcpus = 0: must be between 1 and 2' >&2\nexit 1\n"
	if err := os.WriteFile(fake, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	vars := map[string]string{
		"HOME":            root,
		"XDG_CONFIG_HOME": filepath.Join(root, "config"),
		"XDG_STATE_HOME":  filepath.Join(root, "state"),
		"XDG_CACHE_HOME":  filepath.Join(root, "cache"),
		"XDG_RUNTIME_DIR": filepath.Join(root, "run"),
		"BANGERD":         fake,
	}
	var stdout, stderr bytes.Buffer
	code := Run(context.Background(), []string{"vm", "list"}, Env{
		Stdout: &stdout, Stderr: &stderr, Getenv: func(k string) string { return vars[k] },
	})
	if code == 0 {
		t.Fatalf("exit 0 with a daemon that cannot start; stdout %q", stdout.String())
	}
	for _, want := range []string{"started bangerd", "bangerd exited at start", "vm.vcpus = 0"} {
		if !strings.Contains(stderr.String(), want) {
			t.Errorf("stderr lacks %q:\n%s", want, stderr.String())
		}
	}
}
