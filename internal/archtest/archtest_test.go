// Package archtest holds the tests that enforce the project's structure:
// every package has a doc comment and imports point the way DESIGN.md says.
// It has no non-test code.
package archtest

import (
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
)

const module = "banger"

// pkg is one Go package of the repository.
type pkg struct {
	path    string // import path
	dir     string
	doc     bool
	name    string
	imports map[string]bool // banger imports of non-test files
	// testImports are the banger imports of its _test.go files (internal
	// and external tests).
	testImports map[string]bool
}

func loadPackages(t *testing.T) []pkg {
	t.Helper()
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	byDir := map[string]*pkg{}
	err = filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			name := d.Name()
			if path != root && (strings.HasPrefix(name, ".") || name == "testdata") {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") {
			return nil
		}
		isTest := strings.HasSuffix(path, "_test.go")
		f, err := parser.ParseFile(token.NewFileSet(), path, nil, parser.ParseComments|parser.ImportsOnly)
		if err != nil {
			return err
		}
		dir := filepath.Dir(path)
		p := byDir[dir]
		if p == nil {
			rel, _ := filepath.Rel(root, dir)
			p = &pkg{path: module + "/" + filepath.ToSlash(rel), dir: dir, imports: map[string]bool{}, testImports: map[string]bool{}}
			byDir[dir] = p
		}
		imports := p.testImports
		if !isTest {
			imports = p.imports
			p.name = f.Name.Name
			if f.Doc != nil && strings.TrimSpace(f.Doc.Text()) != "" {
				p.doc = true
			}
		}
		for _, imp := range f.Imports {
			ip, _ := strconv.Unquote(imp.Path.Value)
			if ip == module || strings.HasPrefix(ip, module+"/") {
				imports[ip] = true
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	var out []pkg
	for _, p := range byDir {
		if p.name == "" {
			continue // tests only, such as internal/archtest itself
		}
		out = append(out, *p)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].path < out[j].path })
	if len(out) < 10 {
		t.Fatalf("found only %d packages under %s; is the test running from internal/archtest?", len(out), root)
	}
	return out
}

func TestEveryPackageHasDocComment(t *testing.T) {
	for _, p := range loadPackages(t) {
		if !p.doc {
			t.Errorf("package %s has no package doc comment: say what it owns and what it must not do", p.path)
		}
	}
}

// allowed lists, for the packages whose direction matters, the only banger
// packages they may import. cli → client → api: the CLI never imports a
// service or a host adapter.
var allowed = map[string][]string{
	"banger/internal/api":      {"banger/internal/errdefs"},
	"banger/internal/errdefs":  {},
	"banger/internal/bytesize": {},
	// Shared by the guest agent and the CLI: a leaf.
	"banger/internal/tarstream": {"banger/internal/errdefs"},
	"banger/internal/client":    {"banger/internal/api", "banger/internal/errdefs", "banger/internal/agent/proto", "banger/internal/peercred"},
	"banger/internal/cli": {"banger/internal/api", "banger/internal/client", "banger/internal/errdefs",
		"banger/internal/bytesize", "banger/internal/paths", "banger/internal/agent/proto", "banger/internal/tarstream", "banger/internal/workspace",
		"banger/internal/bootstrap"},
	// The host-side reader of git checkouts, used by the CLI as the user who
	// owns them.
	"banger/internal/workspace": {"banger/internal/errdefs", "banger/internal/gitindex"},
	// Git index files, written by the CLI and completed by the daemon with
	// what it reads from a guest: a leaf.
	"banger/internal/gitindex": {"banger/internal/errdefs"},
	// The tool bootstrap's plan and install steps, used by the CLI: a leaf.
	"banger/internal/bootstrap": {},
	// The agent's wire types are shared by the guest, the daemon and the CLI.
	"banger/internal/agent/proto": {},
	"banger/cmd/banger":           {"banger/internal/cli"},
	// banger-init runs as /init at every boot of a distribution kernel:
	// it shares only the initramfs layout, a leaf, and so stays small and
	// quick to start (the builder's package pulls in net/http through
	// errdefs).
	"banger/cmd/banger-init":               {"banger/internal/initramfs/initlayout"},
	"banger/internal/initramfs/initlayout": {},
}

// adapters do things on the host; services decide. Adapters never import
// services, the daemon or the CLI side.
var adapters = []string{
	"banger/internal/vmm", "banger/internal/disk", "banger/internal/process", "banger/internal/store",
	"banger/internal/paths", "banger/internal/kernelbuild", "banger/internal/imagebuild",
	"banger/internal/agent", "banger/internal/netlink", "banger/internal/firewall", "banger/internal/dns",
	"banger/internal/resolved", "banger/internal/netnstest", "banger/internal/privileged", "banger/internal/portfwd",
	"banger/internal/peercred", "banger/internal/cow", "banger/internal/mountinfo",
}

var upper = []string{
	"banger/internal/daemon", "banger/internal/vm", "banger/internal/images", "banger/internal/doctor",
	"banger/internal/kernels", "banger/internal/cli", "banger/internal/client", "banger/internal/network", "banger/internal/sshkeys",
}

func TestImportDirection(t *testing.T) {
	for _, p := range loadPackages(t) {
		if allow, ok := allowed[p.path]; ok {
			for imp := range p.imports {
				if !contains(allow, imp) {
					t.Errorf("%s imports %s; it may import only %v", p.path, imp, allow)
				}
			}
		}
		if hasPrefixAny(p.path, adapters) {
			for imp := range p.imports {
				if hasPrefixAny(imp, upper) {
					t.Errorf("adapter %s imports %s: adapters must not depend on services, the daemon or the CLI", p.path, imp)
				}
			}
		}
		if p.path != "banger/cmd/bangerd" && !strings.HasPrefix(p.path, "banger/internal/daemon") {
			for imp := range p.imports {
				if strings.HasPrefix(imp, "banger/internal/daemon") {
					t.Errorf("%s imports %s: only cmd/bangerd may import the daemon", p.path, imp)
				}
			}
		}
	}
}

// services decide what to do (DESIGN.md's internal/<service>). Each
// declares its own types and small interfaces; the daemon wires them to
// adapters and maps their types to the API's wire types.
var services = []string{
	"banger/internal/vm", "banger/internal/images", "banger/internal/kernels", "banger/internal/doctor",
	"banger/internal/network", "banger/internal/sshkeys",
}

// composers may import the services: the daemon, and bangerd's main that
// builds it.
var composers = []string{"banger/internal/daemon", "banger/cmd/bangerd"}

// apiUsers may import the API's wire types: the CLI side, banger-vk (the
// Kubernetes provider in the ./vk module, a client of the API like the
// CLI), and on the daemon side only the daemon, which maps the services'
// types to them.
var apiUsers = []string{"banger/internal/cli", "banger/internal/client", "banger/vk", "banger/internal/daemon"}

// TestServiceBoundaries: services import neither the API's wire types nor
// each other (in their tests either); only the daemon (and bangerd's main)
// imports services; only the CLI side and the daemon import api.
func TestServiceBoundaries(t *testing.T) {
	pkgs := loadPackages(t)
	found := map[string]bool{}
	for _, p := range pkgs {
		service := serviceOf(p.path)
		found[p.path] = true
		for imp, test := range mergeImports(p) {
			where := ""
			if test {
				where = " (in its tests)"
			}
			if service != "" && hasPrefixAny(imp, []string{"banger/internal/api"}) {
				t.Errorf("service %s imports %s%s: declare the service's own types; the daemon maps them to the wire types", p.path, imp, where)
			}
			if other := serviceOf(imp); service != "" && other != "" && other != service {
				t.Errorf("service %s imports service %s%s: services must not depend on each other; declare a small interface the daemon wires instead", p.path, imp, where)
			}
			if test || service != "" {
				continue // the rules below are for the non-test code of the other packages
			}
			if serviceOf(imp) != "" && !hasPrefixAny(p.path, composers) {
				t.Errorf("%s imports service %s: only %v may", p.path, imp, composers)
			}
			if hasPrefixAny(imp, []string{"banger/internal/api"}) && !hasPrefixAny(p.path, apiUsers) {
				t.Errorf("%s imports %s: only %v may use the wire types", p.path, imp, apiUsers)
			}
		}
	}
	for _, s := range services {
		if !found[s] {
			t.Errorf("service %s is listed but not found: update the list", s)
		}
	}
}

// mergeImports returns every banger import of p, true when only its tests
// import it.
func mergeImports(p pkg) map[string]bool {
	out := map[string]bool{}
	for imp := range p.testImports {
		out[imp] = true
	}
	for imp := range p.imports {
		out[imp] = false
	}
	return out
}

// serviceOf returns the service that path is or lies below, or "".
func serviceOf(path string) string {
	for _, s := range services {
		if hasPrefixAny(path, []string{s}) {
			return s
		}
	}
	return ""
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// hasPrefixAny reports whether path is one of pkgs or below one of them.
func hasPrefixAny(path string, pkgs []string) bool {
	for _, p := range pkgs {
		if path == p || strings.HasPrefix(path, p+"/") {
			return true
		}
	}
	return false
}
