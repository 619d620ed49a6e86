package cli

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"io/fs"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"banger/internal/api"
)

func TestParseCpEnd(t *testing.T) {
	tests := []struct {
		in   string
		want cpEnd
	}{
		{"-", cpEnd{std: true}},
		{"dev:/etc/hosts", cpEnd{vm: "dev", path: "/etc/hosts"}},
		{"dev:notes.txt", cpEnd{vm: "dev", path: "/root/notes.txt"}},
		{"dev:", cpEnd{vm: "dev", path: "/root/"}},
		{"dev:dir/.", cpEnd{vm: "dev", path: "/root/dir/."}},
		{"web-2:/a:b", cpEnd{vm: "web-2", path: "/a:b"}},
		{"0f3a9c:/x", cpEnd{vm: "0f3a9c", path: "/x"}},
		{"./a:b", cpEnd{path: "./a:b"}},
		{"/tmp/a:b", cpEnd{path: "/tmp/a:b"}},
		{"dir/a:b", cpEnd{path: "dir/a:b"}},
		{`C:\Users\me`, cpEnd{path: `C:\Users\me`}},
		{"Dev:/x", cpEnd{path: "Dev:/x"}},
		{"-dev:/x", cpEnd{path: "-dev:/x"}},
		{":x", cpEnd{path: ":x"}},
		{"plain", cpEnd{path: "plain"}},
		{"a_b:/x", cpEnd{path: "a_b:/x"}},
	}
	for _, tt := range tests {
		if got := parseCpEnd(tt.in); got != tt.want {
			t.Errorf("parseCpEnd(%q) = %+v, want %+v", tt.in, got, tt.want)
		}
	}
}

func TestPlanCp(t *testing.T) {
	tests := []struct {
		src, dst string
		bad      string
	}{
		{"./f", "dev:/root/", ""},
		{"dev:/etc/hosts", ".", ""},
		{"-", "dev:/root", ""},
		{"dev:/root", "-", ""},
		{"dev:/a", "web:/b", "both in VMs"},
		{"./a", "./b", "neither"},
		{"-", "-", "neither"},
		{"./a:b", "c:d", ""},
		{"dev:/a", "", "empty host path"},
	}
	for _, tt := range tests {
		_, err := planCp(tt.src, tt.dst)
		if tt.bad == "" && err != nil || tt.bad != "" && (err == nil || !strings.Contains(err.Error(), tt.bad)) {
			t.Errorf("planCp(%q, %q) = %v, want error containing %q", tt.src, tt.dst, err, tt.bad)
		}
		if err != nil && !strings.Contains(err.Error(), "NAME:PATH on exactly one side") {
			t.Errorf("planCp(%q, %q) error %q does not say how to call vm cp", tt.src, tt.dst, err)
		}
	}
}

// entry is one tar entry a fake guest sends.
type entry struct {
	name string
	typ  byte
	link string
	body string
	mode int64
}

func tarOf(t *testing.T, entries []entry) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		mode := e.mode
		if mode == 0 {
			mode = 0o644
		}
		h := &tar.Header{Name: e.name, Typeflag: e.typ, Linkname: e.link, Mode: mode, Size: int64(len(e.body)), ModTime: time.Unix(1_600_000_000, 0)}
		if e.typ != tar.TypeReg {
			h.Size = 0
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		io.WriteString(tw, e.body)
	}
	tw.Close()
	return buf.Bytes()
}

// fakeGuestDaemon serves the routes vm cp uses for one running VM "dev"
// whose every download is archive.
func fakeGuestDaemon(t *testing.T, archive []byte) string {
	t.Helper()
	return fakeGuest(t, archive, nil, nil)
}

// upload is what a fake guest received.
type upload struct {
	dir   string
	names []string
	modes []int64
}

// fakeGuest is fakeGuestDaemon whose guest has the paths of guestFS (true
// for a directory) and records every upload in uploads.
func fakeGuest(t *testing.T, archive []byte, guestFS map[string]bool, uploads chan<- upload) string {
	t.Helper()
	dir := shortTemp(t)
	sock := filepath.Join(dir, "bangerd.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/system/info", func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "{}")
	})
	mux.HandleFunc("GET /v1/vms/dev", func(w http.ResponseWriter, r *http.Request) {
		json.NewEncoder(w).Encode(api.VM{Name: "dev", State: api.StateRunning})
	})
	mux.HandleFunc("POST /v1/vms/dev/wait", func(w http.ResponseWriter, r *http.Request) {
		json.NewEncoder(w).Encode(api.AgentInfo{Version: "test"})
	})
	mux.HandleFunc("GET /v1/vms/dev/files", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", api.TarType)
		w.Write(archive)
	})
	mux.HandleFunc("GET /v1/vms/dev/stat", func(w http.ResponseWriter, r *http.Request) {
		p := r.URL.Query().Get("path")
		dir, ok := guestFS[p]
		if !ok {
			w.WriteHeader(http.StatusNotFound)
			json.NewEncoder(w).Encode(api.ErrorBody{Error: api.Error{Code: "not_found", Message: p + " does not exist in the guest"}})
			return
		}
		json.NewEncoder(w).Encode(api.FileStat{Path: p, Dir: dir})
	})
	mux.HandleFunc("PUT /v1/vms/dev/files", func(w http.ResponseWriter, r *http.Request) {
		u := upload{dir: r.URL.Query().Get("path")}
		tr := tar.NewReader(r.Body)
		for {
			h, err := tr.Next()
			if err != nil {
				break
			}
			u.names = append(u.names, h.Name)
			u.modes = append(u.modes, h.Mode)
		}
		uploads <- u
		w.WriteHeader(http.StatusNoContent)
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
	return sock
}

// tree lists every path under root with its type and, for files, content.
func tree(t *testing.T, root string) []string {
	t.Helper()
	var out []string
	filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		line := rel + " " + d.Type().String()
		if d.Type().IsRegular() {
			b, _ := os.ReadFile(p)
			line += " " + string(b)
		}
		out = append(out, line)
		return nil
	})
	sort.Strings(out)
	return out
}

// TestCpFromHostileGuest: archives a guest could send to vm cp are refused
// with an error, and nothing is written outside the destination: names
// that climb out or are absolute, symlinks and hard links that lead out,
// a link planted by one entry and written through by a later one, device
// nodes, FIFOs, and entries outside the path that was asked for.
func TestCpFromHostileGuest(t *testing.T) {
	tests := []struct {
		name    string
		entries []entry
		says    string
	}{
		{"traversal", []entry{{name: "x/", typ: tar.TypeDir}, {name: "x/../../outside/victim", typ: tar.TypeReg, body: "pwned"}}, `".."`},
		{"absolute name", []entry{{name: "x/", typ: tar.TypeDir}, {name: "/outside/victim", typ: tar.TypeReg, body: "pwned"}}, "not a relative path"},
		{"symlink out, written through", []entry{{name: "x/", typ: tar.TypeDir}, {name: "x/out", typ: tar.TypeSymlink, link: "../../outside"},
			{name: "x/out/victim", typ: tar.TypeReg, body: "pwned"}}, "through the symlink"},
		{"absolute symlink, written through", []entry{{name: "x/", typ: tar.TypeDir}, {name: "x/out", typ: tar.TypeSymlink, link: "/"},
			{name: "x/out/tmp/pwned", typ: tar.TypeReg, body: "pwned"}}, "through the symlink"},
		{"in-tree link planted, written through", []entry{{name: "x/", typ: tar.TypeDir}, {name: "x/up", typ: tar.TypeSymlink, link: ".."},
			{name: "x/up/planted", typ: tar.TypeReg, body: "pwned"}}, "through the symlink"},
		{"top is a link, written through", []entry{{name: "x", typ: tar.TypeSymlink, link: "/"},
			{name: "x/tmp/pwned", typ: tar.TypeReg, body: "pwned"}}, "through the symlink"},
		{"hard link out", []entry{{name: "x/", typ: tar.TypeDir}, {name: "x/hl", typ: tar.TypeLink, link: "../outside/victim"}}, "outside the target"},
		{"absolute hard link", []entry{{name: "x/", typ: tar.TypeDir}, {name: "x/hl", typ: tar.TypeLink, link: "/etc/passwd"}}, "outside the target"},
		{"hard link through a planted symlink", []entry{{name: "x/", typ: tar.TypeDir}, {name: "x/out", typ: tar.TypeSymlink, link: "../../outside"},
			{name: "x/hl", typ: tar.TypeLink, link: "x/out/victim"}}, "through the symlink"},
		{"device node", []entry{{name: "x/", typ: tar.TypeDir}, {name: "x/sda", typ: tar.TypeBlock}}, "device node"},
		{"fifo", []entry{{name: "x/", typ: tar.TypeDir}, {name: "x/pipe", typ: tar.TypeFifo}}, "fifo"},
		{"entry outside the path asked for", []entry{{name: "x/", typ: tar.TypeDir}, {name: "y", typ: tar.TypeReg, body: "pwned"}}, "not under"},
		{"first entry not the top", []entry{{name: "x/y", typ: tar.TypeReg, body: "pwned"}}, "not the top"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			base := t.TempDir()
			dst := filepath.Join(base, "dst")
			outside := filepath.Join(base, "outside")
			os.MkdirAll(dst, 0o755)
			os.MkdirAll(outside, 0o755)
			os.WriteFile(filepath.Join(outside, "victim"), []byte("intact"), 0o644)
			before := tree(t, base)
			sock := fakeGuestDaemon(t, tarOf(t, tt.entries))
			var stdout, stderr bytes.Buffer
			code := Run(context.Background(), []string{"--socket", sock, "vm", "cp", "dev:/root/x", dst + "/"}, Env{
				Stdout: &stdout, Stderr: &stderr, Getenv: func(string) string { return "" },
			})
			if code == 0 {
				t.Errorf("vm cp of a hostile archive succeeded; stderr %q", stderr.String())
			}
			if !strings.Contains(stderr.String(), tt.says) {
				t.Errorf("stderr %q does not say %q", stderr.String(), tt.says)
			}
			// Only dst may have changed.
			var after []string
			for _, l := range tree(t, base) {
				if !strings.HasPrefix(l, "dst/") {
					after = append(after, l)
				}
			}
			if diff := cmp.Diff(before, after); diff != "" {
				t.Errorf("something outside the destination changed (-before +after):\n%s", diff)
			}
			if b, _ := os.ReadFile(filepath.Join(outside, "victim")); string(b) != "intact" {
				t.Errorf("victim = %q", b)
			}
			if _, err := os.Lstat("/tmp/pwned"); err == nil {
				t.Errorf("/tmp/pwned was written")
			}
		})
	}
}

// TestCpFromGuestShapes: the docker cp rules for where a download lands,
// and the to-stdout form that passes a checked archive on.
func TestCpFromGuestShapes(t *testing.T) {
	dirTar := tarOf(t, []entry{{name: "x/", typ: tar.TypeDir, mode: 0o750}, {name: "x/run.sh", typ: tar.TypeReg, body: "#!/bin/sh\n", mode: 0o755},
		{name: "x/link", typ: tar.TypeSymlink, link: "run.sh"}})
	fileTar := tarOf(t, []entry{{name: "f.txt", typ: tar.TypeReg, body: "hello", mode: 0o600}})
	tests := []struct {
		name    string
		archive []byte
		src     string
		dst     string // relative to the test's base directory, which has dir/ and file
		want    []string
		bad     string
	}{
		{"dir into an existing dir", dirTar, "dev:/root/x", "dir", []string{"dir/x d---------", "dir/x/link L---------", "dir/x/run.sh ---------- #!/bin/sh\n"}, ""},
		{"dir contents into an existing dir", dirTar, "dev:/root/x/.", "dir", []string{"dir/link L---------", "dir/run.sh ---------- #!/bin/sh\n"}, ""},
		{"dir to a new name", dirTar, "dev:/root/x", "new", []string{"new d---------", "new/link L---------", "new/run.sh ---------- #!/bin/sh\n"}, ""},
		{"dir over a file", dirTar, "dev:/root/x", "file", nil, "over the file"},
		{"file into a dir", fileTar, "dev:/f.txt", "dir/", []string{"dir/f.txt ---------- hello"}, ""},
		{"file over a file", fileTar, "dev:/f.txt", "file", []string{"file ---------- hello"}, ""},
		{"file to a new name", fileTar, "dev:/f.txt", "g.txt", []string{"g.txt ---------- hello"}, ""},
		{"file to a missing dir/", fileTar, "dev:/f.txt", "nodir/", nil, "does not exist"},
		{"missing parent", fileTar, "dev:/f.txt", "no/such/g.txt", nil, "does not exist"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			base := t.TempDir()
			os.Mkdir(filepath.Join(base, "dir"), 0o755)
			os.WriteFile(filepath.Join(base, "file"), []byte("old"), 0o644)
			sock := fakeGuestDaemon(t, tt.archive)
			var stdout, stderr bytes.Buffer
			code := Run(context.Background(), []string{"--socket", sock, "vm", "cp", tt.src, filepath.Join(base, tt.dst) + map[bool]string{true: "/"}[strings.HasSuffix(tt.dst, "/")]}, Env{
				Stdout: &stdout, Stderr: &stderr, Getenv: func(string) string { return "" },
			})
			if tt.bad != "" {
				if code == 0 || !strings.Contains(stderr.String(), tt.bad) {
					t.Errorf("exit %d, stderr %q; want an error saying %q", code, stderr.String(), tt.bad)
				}
				return
			}
			if code != 0 {
				t.Fatalf("exit %d: %s", code, stderr.String())
			}
			var got []string
			for _, l := range tree(t, base) {
				if l != ". d---------" && l != "dir d---------" && (l != "file ---------- old" || strings.HasPrefix(tt.dst, "file")) {
					got = append(got, l)
				}
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("tree (-want +got):\n%s", diff)
			}
		})
	}
	t.Run("modes and times", func(t *testing.T) {
		base := t.TempDir()
		sock := fakeGuestDaemon(t, dirTar)
		if code := Run(context.Background(), []string{"--socket", sock, "vm", "cp", "dev:/root/x", filepath.Join(base, "y")}, Env{
			Stdout: io.Discard, Stderr: io.Discard, Getenv: func(string) string { return "" },
		}); code != 0 {
			t.Fatalf("exit %d", code)
		}
		for name, mode := range map[string]fs.FileMode{"y": fs.ModeDir | 0o750, "y/run.sh": 0o755} {
			st, err := os.Lstat(filepath.Join(base, name))
			if err != nil || st.Mode() != mode || st.ModTime().Unix() != 1_600_000_000 {
				t.Errorf("%s: %v, %v, %v; want %v at 1600000000", name, st.Mode(), st.ModTime().Unix(), err, mode)
			}
		}
	})
	t.Run("to stdout", func(t *testing.T) {
		sock := fakeGuestDaemon(t, dirTar)
		var stdout, stderr bytes.Buffer
		if code := Run(context.Background(), []string{"--socket", sock, "vm", "cp", "dev:/root/x", "-"}, Env{
			Stdout: &stdout, Stderr: &stderr, Getenv: func(string) string { return "" },
		}); code != 0 {
			t.Fatalf("exit %d: %s", code, stderr.String())
		}
		var names []string
		tr := tar.NewReader(&stdout)
		for {
			h, err := tr.Next()
			if err != nil {
				break
			}
			names = append(names, h.Name)
		}
		if want := []string{"x/", "x/run.sh", "x/link"}; !cmp.Equal(names, want) {
			t.Errorf("stdout tar = %v, want %v", names, want)
		}
	})
	t.Run("hostile to stdout", func(t *testing.T) {
		sock := fakeGuestDaemon(t, tarOf(t, []entry{{name: "x/", typ: tar.TypeDir}, {name: "x/../../etc/cron.d/evil", typ: tar.TypeReg, body: "pwned"}}))
		var stdout, stderr bytes.Buffer
		code := Run(context.Background(), []string{"--socket", sock, "vm", "cp", "dev:/root/x", "-"}, Env{
			Stdout: &stdout, Stderr: &stderr, Getenv: func(string) string { return "" },
		})
		if code == 0 || strings.Contains(stdout.String(), "pwned") {
			t.Errorf("exit %d, stdout carries the hostile entry: %q", code, stdout.String())
		}
	})
}

// TestCpToGuestShapes: the docker cp rules for where an upload lands: the
// directory the tar is extracted in and the names in it.
func TestCpToGuestShapes(t *testing.T) {
	host := t.TempDir()
	os.MkdirAll(filepath.Join(host, "src", "sub"), 0o750)
	os.WriteFile(filepath.Join(host, "src", "run.sh"), []byte("#!/bin/sh\n"), 0o755)
	os.Symlink("run.sh", filepath.Join(host, "src", "link"))
	os.WriteFile(filepath.Join(host, "f.txt"), []byte("hello"), 0o600)
	guestFS := map[string]bool{"/root": true, "/root/dir": true, "/root/file": false}
	src, f := filepath.Join(host, "src"), filepath.Join(host, "f.txt")
	dirNames := func(top string) []string {
		return []string{top + "/", top + "/link", top + "/run.sh", top + "/sub/"}
	}
	tests := []struct {
		name     string
		src, dst string
		want     upload
		bad      string
	}{
		{"dir into an existing dir", src, "dev:dir", upload{dir: "/root/dir", names: dirNames("src")}, ""},
		{"dir contents into an existing dir", src + "/.", "dev:/root/dir", upload{dir: "/root/dir", names: []string{"./", "link", "run.sh", "sub/"}}, ""},
		{"dir to a new name", src, "dev:/root/new", upload{dir: "/root", names: dirNames("new")}, ""},
		{"dir over a file", src, "dev:/root/file", upload{}, "over the file"},
		{"file into a dir", f, "dev:/root/dir/", upload{dir: "/root/dir", names: []string{"f.txt"}}, ""},
		{"file over a file", f, "dev:/root/file", upload{dir: "/root", names: []string{"file"}}, ""},
		{"file to a new name", f, "dev:/root/g.txt", upload{dir: "/root", names: []string{"g.txt"}}, ""},
		{"file to a missing dir/", f, "dev:/root/nodir/", upload{}, "does not exist"},
		{"missing parent", f, "dev:/root/no/such", upload{}, "does not exist"},
		{"missing source", filepath.Join(host, "nope"), "dev:/root/", upload{}, "does not exist on the host"},
		{"stdin to a file", "-", "dev:/root/file", upload{}, "must be an existing directory"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			uploads := make(chan upload, 1)
			sock := fakeGuest(t, nil, guestFS, uploads)
			var stderr bytes.Buffer
			code := Run(context.Background(), []string{"--socket", sock, "vm", "cp", tt.src, tt.dst}, Env{
				Stdin: strings.NewReader(""), Stdout: io.Discard, Stderr: &stderr, Getenv: func(string) string { return "" },
			})
			if tt.bad != "" {
				if code == 0 || !strings.Contains(stderr.String(), tt.bad) {
					t.Errorf("exit %d, stderr %q; want an error saying %q", code, stderr.String(), tt.bad)
				}
				if len(uploads) != 0 {
					t.Errorf("uploaded %+v", <-uploads)
				}
				return
			}
			if code != 0 {
				t.Fatalf("exit %d: %s", code, stderr.String())
			}
			got := <-uploads
			got.modes = nil
			if diff := cmp.Diff(tt.want, got, cmp.AllowUnexported(upload{})); diff != "" {
				t.Errorf("upload (-want +got):\n%s", diff)
			}
		})
	}
	t.Run("modes", func(t *testing.T) {
		uploads := make(chan upload, 1)
		sock := fakeGuest(t, nil, guestFS, uploads)
		if code := Run(context.Background(), []string{"--socket", sock, "vm", "cp", src, "dev:/root/dir"}, Env{
			Stdout: io.Discard, Stderr: io.Discard, Getenv: func(string) string { return "" },
		}); code != 0 {
			t.Fatalf("exit %d", code)
		}
		got := <-uploads
		if want := []int64{0o750, 0o777, 0o755, 0o750}; !cmp.Equal(got.modes, want) {
			t.Errorf("modes of %v = %o, want %o", got.names, got.modes, want)
		}
	})
}

// TestCpJSON: --json prints what was copied, both ways, and is refused
// when the tar stream is the output.
func TestCpJSON(t *testing.T) {
	host := t.TempDir()
	f := filepath.Join(host, "f.txt")
	os.WriteFile(f, []byte("hello"), 0o600)
	guestFS := map[string]bool{"/root": true, "/root/dir": true}
	archive := tarOf(t, []entry{{name: "x/", typ: tar.TypeDir}, {name: "x/a", typ: tar.TypeReg, body: "abc"}})
	dst := filepath.Join(host, "out")
	tests := []struct {
		args []string
		want string
	}{
		{[]string{f, "dev:/root/dir"}, `{"source":"` + f + `","destination":"dev:/root/dir","tar_bytes":2048}`},
		{[]string{"dev:x", dst}, `{"source":"dev:/root/x","destination":"` + dst + `","tar_bytes":2560}`},
	}
	for _, tt := range tests {
		uploads := make(chan upload, 1)
		sock := fakeGuest(t, archive, guestFS, uploads)
		var stdout, stderr bytes.Buffer
		code := Run(context.Background(), append([]string{"--socket", sock, "vm", "cp", "--json"}, tt.args...), Env{
			Stdout: &stdout, Stderr: &stderr, Getenv: func(string) string { return "" },
		})
		var got bytes.Buffer
		if err := json.Compact(&got, stdout.Bytes()); code != 0 || err != nil || got.String() != tt.want || stderr.Len() != 0 {
			t.Errorf("vm cp --json %v: exit %d, stdout %s (%v), stderr %q; want %s", tt.args, code, stdout.String(), err, stderr.String(), tt.want)
		}
	}
	var stderr bytes.Buffer
	if code := Run(context.Background(), []string{"--socket", "/nonexistent/sock", "vm", "cp", "--json", "dev:x", "-"}, Env{
		Stdout: io.Discard, Stderr: &stderr, Getenv: func(string) string { return "" },
	}); code == 0 || !strings.Contains(stderr.String(), "the tar stream is the output") {
		t.Errorf("vm cp --json dev:x -: exit %d, stderr %q", code, stderr.String())
	}
}
