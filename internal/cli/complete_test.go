package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/spf13/cobra"

	"banger/internal/api"
)

// newNames are the commands whose NAME is a name to create, which no
// completion can know.
var newNames = map[string]bool{"banger vm create": true}

// flagValue matches a flag and its value in a Use line ("--name NAME").
var flagValue = regexp.MustCompile(`--?[a-z-]+ [A-Z]+`)

// TestEveryNameCompletes: every command whose arguments include a NAME
// (of a VM, an image or a kernel) completes it.
func TestEveryNameCompletes(t *testing.T) {
	a := &app{env: Env{Stdout: io.Discard, Stderr: io.Discard, Getenv: func(string) string { return "" }}}
	var walk func(c *cobra.Command)
	checked := 0
	walk = func(c *cobra.Command) {
		for _, sub := range c.Commands() {
			walk(sub)
		}
		if !regexp.MustCompile(`\bNAME\b`).MatchString(flagValue.ReplaceAllString(c.Use, "")) || newNames[c.CommandPath()] {
			return
		}
		checked++
		if c.ValidArgsFunction == nil {
			t.Errorf("%s takes a NAME (%q) but does not complete it", c.CommandPath(), c.Use)
		}
	}
	walk(a.rootCommand())
	if checked < 15 {
		t.Errorf("only %d commands take a NAME: the walk missed some", checked)
	}
}

// fakeListDaemon serves the lists completion asks for.
func fakeListDaemon(t *testing.T) (string, *int) {
	t.Helper()
	dir := shortTemp(t)
	sock := filepath.Join(dir, "bangerd.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	lists := new(int)
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/system/info", func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "{}")
	})
	mux.HandleFunc("GET /v1/vms", func(w http.ResponseWriter, r *http.Request) {
		*lists++
		json.NewEncoder(w).Encode([]api.VM{{Name: "web"}, {Name: "dev"}, {Name: "db"}})
	})
	mux.HandleFunc("GET /v1/images", func(w http.ResponseWriter, r *http.Request) {
		json.NewEncoder(w).Encode([]api.Image{{Name: "default"}, {Name: "debian"}})
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		t.Errorf("fake daemon: unexpected %s %s", r.Method, r.URL)
		http.NotFound(w, r)
	})
	srv := httptest.NewUnstartedServer(mux)
	srv.Listener.Close()
	srv.Listener = ln
	srv.Start()
	t.Cleanup(srv.Close)
	return sock, lists
}

// TestCompletion: names come from the daemon's lists, filtered by what
// was typed and by the names already given; vm cp offers "NAME:" and
// falls back to files.
func TestCompletion(t *testing.T) {
	sock, _ := fakeListDaemon(t)
	tests := []struct {
		args []string
		want []string
	}{
		{[]string{"vm", "stop", "d"}, []string{"db", "dev", ":4"}},
		{[]string{"vm", "stop", "dev", ""}, []string{"db", "web", ":4"}},
		{[]string{"vm", "exec", ""}, []string{"db", "dev", "web", ":4"}},
		{[]string{"vm", "exec", "dev", ""}, []string{":4"}},
		{[]string{"vm", "ssh", "w"}, []string{"web", ":4"}},
		{[]string{"vm", "workspace", "export", "x"}, []string{":4"}},
		{[]string{"vm", "workspace", "prepare", "dev", ""}, []string{":16"}},
		{[]string{"vm", "cp", "d"}, []string{"db:", "dev:", ":2"}},
		{[]string{"vm", "cp", "./f"}, []string{":0"}},
		{[]string{"vm", "cp", "zz"}, []string{":0"}},
		{[]string{"image", "show", "de"}, []string{"debian", "default", ":4"}},
	}
	for _, tt := range tests {
		var stdout, stderr bytes.Buffer
		args := append([]string{"__complete", "--socket", sock}, tt.args...)
		code := Run(context.Background(), args, Env{Stdout: &stdout, Stderr: &stderr, Getenv: func(string) string { return "" }})
		if code != 0 {
			t.Errorf("banger %s: exit %d, stderr %q", strings.Join(args, " "), code, stderr.String())
		}
		if diff := cmp.Diff(tt.want, strings.Fields(stdout.String())); diff != "" {
			t.Errorf("banger %s (-want +got):\n%s", strings.Join(args, " "), diff)
		}
	}
}

// TestCompletionWithoutDaemon: with no daemon running, completion offers
// nothing, prints no error, and does not start bangerd.
func TestCompletionWithoutDaemon(t *testing.T) {
	root := shortTemp(t)
	marker := filepath.Join(root, "started")
	vars := testVars(root, fakeDaemonScript(t, root, marker))
	for _, args := range [][]string{{"vm", "stop", ""}, {"vm", "cp", "d"}, {"image", "show", ""}} {
		var stdout, stderr bytes.Buffer
		args = append([]string{"__complete"}, args...)
		code := Run(context.Background(), args, Env{Stdout: &stdout, Stderr: &stderr, Getenv: func(k string) string { return vars[k] }})
		if code != 0 || strings.Contains(stdout.String(), "banger") || strings.Contains(stderr.String(), "banger:") {
			t.Errorf("banger %s: exit %d, stdout %q, stderr %q", strings.Join(args, " "), code, stdout.String(), stderr.String())
		}
	}
	if _, err := os.Stat(marker); err == nil {
		t.Error("completion started bangerd")
	}
}
