package cli

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

// TestJSONNeedsSomethingToDescribe: --json where the output is not banger's
// own (vm run's command, export's patch on standard output) is refused
// before anything is created or asked of a daemon.
func TestJSONNeedsSomethingToDescribe(t *testing.T) {
	tests := []struct {
		args []string
		says string
	}{
		{[]string{"vm", "run", "--json", "--", "true"}, "--json needs -d"},
		{[]string{"vm", "run", "--json"}, "--json needs -d"},
		{[]string{"vm", "workspace", "export", "dev", "--json"}, "--json describes a patch written with -o FILE or applied with --apply"},
		{[]string{"vm", "workspace", "export", "dev", "--json", "-o", "-"}, "--json describes a patch written with -o FILE or applied with --apply"},
	}
	for _, tt := range tests {
		var stderr bytes.Buffer
		args := append([]string{"--socket", "/nonexistent/bangerd.sock"}, tt.args...)
		code := Run(context.Background(), args, Env{Stdout: &bytes.Buffer{}, Stderr: &stderr, Getenv: func(string) string { return "" }})
		if code == 0 || !strings.Contains(stderr.String(), tt.says) {
			t.Errorf("banger %s: exit %d, stderr %q; want an error saying %q", strings.Join(tt.args, " "), code, stderr.String(), tt.says)
		}
	}
}
