package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// docsPath is the user documentation of the config file.
const docsPath = "../../docs/config.md"

// TestDocsListEveryKey keeps docs/config.md in step with the code: every key
// is documented in its table, and the example file loads.
func TestDocsListEveryKey(t *testing.T) {
	b, err := os.ReadFile(docsPath)
	if err != nil {
		t.Fatalf("read the config docs: %v", err)
	}
	docs := string(b)
	for _, f := range fields {
		table, name := splitKey(f.key)
		if !strings.Contains(docs, "| `"+name+"` |") {
			t.Errorf("%s has no row in %s", f.key, docsPath)
		}
		if table != "" && !strings.Contains(docs, "### `["+table+"]`") {
			t.Errorf("table [%s] has no section in %s", table, docsPath)
		}
	}

	_, rest, ok := strings.Cut(docs, "## Example\n\n```toml\n")
	if !ok {
		t.Fatalf("%s has no example TOML block", docsPath)
	}
	example, _, _ := strings.Cut(rest, "```")
	path := filepath.Join(t.TempDir(), "config.toml")
	if err := os.WriteFile(path, []byte(example), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(path, Host{CPUs: 4, MemoryBytes: 16 * GiB, StateFreeBytes: 200 * GiB}); err != nil {
		t.Errorf("the example in %s does not load: %v", docsPath, err)
	}
}
