package archtest

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// testtierDir is the one package that decides which tier of tests may
// run here (unit, root, guest; see its doc comment).
const testtierDir = "internal/testtier"

// TestOnlyTesttierDecidesTiers fails when test code outside
// internal/testtier decides a tier itself: calls testing.Short(), or
// compares the process's uid with 0 (os.Geteuid() != 0 and the like), or
// skips on a condition that reads the uid. Test code is every _test.go
// file and every file that imports "testing" (the *test helper packages).
// Such a test calls testtier.Root, testtier.Guest or testtier.Slow first.
func TestOnlyTesttierDecidesTiers(t *testing.T) {
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	checked := 0
	err = filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		if d.IsDir() {
			name := d.Name()
			if path != root && (strings.HasPrefix(name, ".") || name == "testdata") || filepath.ToSlash(rel) == testtierDir {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") {
			return nil
		}
		fset := token.NewFileSet()
		f, err := parser.ParseFile(fset, path, nil, 0)
		if err != nil {
			return err
		}
		testingName, _ := importName(f, "testing")
		if !strings.HasSuffix(path, "_test.go") && testingName == "" {
			return nil // not test code
		}
		checked++
		for _, p := range tierDecisions(fset, f) {
			t.Errorf("%s: %s: call testtier.Root, testtier.Guest or testtier.Slow instead (internal/testtier decides every tier)", filepath.Join(rel), p)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if checked < 50 {
		t.Fatalf("checked only %d test files under %s; is the test running from internal/archtest?", checked, root)
	}
}

// uidFuncs are the calls that read the process's uid.
var uidFuncs = map[string][]string{
	"os":                    {"Geteuid", "Getuid"},
	"syscall":               {"Geteuid", "Getuid"},
	"golang.org/x/sys/unix": {"Geteuid", "Getuid"},
}

// tierDecisions returns, as "line:col: what", every place f decides a
// test tier on its own.
func tierDecisions(fset *token.FileSet, f *ast.File) []string {
	testingName, _ := importName(f, "testing")
	isUID := func(e ast.Expr) bool {
		call, ok := ast.Unparen(e).(*ast.CallExpr)
		if !ok {
			return false
		}
		for path, funcs := range uidFuncs {
			name, ok := importName(f, path)
			if !ok {
				continue
			}
			for _, fn := range funcs {
				if isPkgCall(call, name, fn) {
					return true
				}
			}
		}
		return false
	}
	var found []string
	report := func(n ast.Node, what string) {
		p := fset.Position(n.Pos())
		found = append(found, fmt.Sprintf("%d:%d: %s", p.Line, p.Column, what))
	}
	ast.Inspect(f, func(n ast.Node) bool {
		switch n := n.(type) {
		case *ast.CallExpr:
			if testingName != "" && isPkgCall(n, testingName, "Short") {
				report(n, "calls testing.Short()")
			}
		case *ast.BinaryExpr:
			if (isUID(n.X) && isZero(n.Y)) || (isUID(n.Y) && isZero(n.X)) {
				report(n, "compares the uid with 0")
			}
		case *ast.IfStmt:
			readsUID := false
			for _, part := range []ast.Node{n.Init, n.Cond} {
				if part == nil || readsUID {
					continue
				}
				ast.Inspect(part, func(c ast.Node) bool {
					if e, ok := c.(ast.Expr); ok && isUID(e) {
						readsUID = true
					}
					return !readsUID
				})
			}
			if readsUID && callsSkip(n.Body) {
				report(n, "skips on the uid")
			}
		}
		return true
	})
	return found
}

// importName returns the name f refers to the package path by, and
// whether f imports it at all.
func importName(f *ast.File, path string) (string, bool) {
	for _, imp := range f.Imports {
		p, _ := strconv.Unquote(imp.Path.Value)
		if p != path {
			continue
		}
		if imp.Name != nil {
			return imp.Name.Name, true
		}
		return path[strings.LastIndex(path, "/")+1:], true
	}
	return "", false
}

// isPkgCall reports whether call is pkg.fn(...).
func isPkgCall(call *ast.CallExpr, pkg, fn string) bool {
	sel, ok := call.Fun.(*ast.SelectorExpr)
	if !ok || sel.Sel.Name != fn {
		return false
	}
	id, ok := sel.X.(*ast.Ident)
	return ok && id.Name == pkg
}

func isZero(e ast.Expr) bool {
	lit, ok := ast.Unparen(e).(*ast.BasicLit)
	return ok && lit.Kind == token.INT && lit.Value == "0"
}

// callsSkip reports whether body calls a Skip, Skipf or SkipNow method.
func callsSkip(body *ast.BlockStmt) bool {
	found := false
	ast.Inspect(body, func(n ast.Node) bool {
		if call, ok := n.(*ast.CallExpr); ok {
			if sel, ok := call.Fun.(*ast.SelectorExpr); ok {
				switch sel.Sel.Name {
				case "Skip", "Skipf", "SkipNow":
					found = true
				}
			}
		}
		return !found
	})
	return found
}

// TestTierDecisionsFindsAdHocSkips keeps the guard honest: each way of
// deciding a tier by hand is found, and the testtier calls are not.
func TestTierDecisionsFindsAdHocSkips(t *testing.T) {
	tests := []struct {
		name, src string
		want      int
	}{
		{"short", `package x
import "testing"
func TestX(t *testing.T) { if testing.Short() { t.Skip("slow") } }`, 1},
		{"renamed testing", `package x
import tt "testing"
func TestX(t *tt.T) { if tt.Short() { t.Skip() } }`, 1},
		{"euid", `package x
import ("os"; "testing")
func TestX(t *testing.T) { if os.Geteuid() != 0 { t.Skip("needs root") } }`, 2},
		{"uid reversed", `package x
import ("os"; "testing")
func TestX(t *testing.T) { if 0 == os.Getuid() { return } }`, 1},
		{"syscall in a subtest", `package x
import ("syscall"; "testing")
func TestX(t *testing.T) { t.Run("a", func(t *testing.T) { if ok && syscall.Geteuid() > 0 { t.SkipNow() } }) }`, 2},
		{"unix", `package x
import ("testing"; "golang.org/x/sys/unix")
func TestX(t *testing.T) { root := unix.Geteuid() == 0; _ = root }`, 1},
		{"uid in a helper's skip", `package x
import ("os"; "testing")
func need(t testing.TB) { if uid := os.Geteuid(); uid != 4711 { t.Skipf("uid %d", uid) } }`, 1},
		{"testtier", `package x
import ("os"; "testing"; "banger/internal/testtier")
func TestX(t *testing.T) { testtier.Root(t); if got := os.Getuid(); got != want { t.Errorf("uid %d", got) } }`, 0},
		{"uid as a value", `package x
import ("fmt"; "os"; "testing")
func TestX(t *testing.T) { fmt.Printf("RESULT uid=%d\n", os.Getuid()) }`, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fset := token.NewFileSet()
			f, err := parser.ParseFile(fset, tt.name+"_test.go", tt.src, 0)
			if err != nil {
				t.Fatal(err)
			}
			if got := tierDecisions(fset, f); len(got) != tt.want {
				t.Errorf("tierDecisions found %d (%q), want %d", len(got), got, tt.want)
			}
		})
	}
}
