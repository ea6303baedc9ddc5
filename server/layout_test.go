package server

import (
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestFilesDependOneWay: no two files of the package use each other's top-level names, so that
// each reads on its own, after the files it uses. Methods and fields, reached through a
// selector, do not count: the Server's layers are its methods, in the files of their concerns,
// and server.go wires them.
func TestFilesDependOneWay(t *testing.T) {
	paths, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	files := map[string]*ast.File{}
	declaredIn := map[string]string{} // top-level name → its file
	for _, p := range paths {
		if strings.HasSuffix(p, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, p, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		files[p] = f
		for name, obj := range f.Scope.Objects {
			if obj.Kind != ast.Bad {
				declaredIn[name] = p
			}
		}
	}
	uses := map[string]map[string][]string{} // file → file it uses → the names
	for p, f := range files {
		uses[p] = map[string][]string{}
		selected := map[*ast.Ident]bool{}
		ast.Inspect(f, func(n ast.Node) bool {
			if sel, ok := n.(*ast.SelectorExpr); ok {
				selected[sel.Sel] = true
			}
			return true
		})
		for _, id := range f.Unresolved {
			if other, ok := declaredIn[id.Name]; ok && other != p && !selected[id] && !slices.Contains(uses[p][other], id.Name) {
				uses[p][other] = append(uses[p][other], id.Name)
			}
		}
	}
	for a := range uses {
		for b, names := range uses[a] {
			if a < b && len(uses[b][a]) > 0 {
				t.Errorf("%s and %s use each other: %s uses %v, %s uses %v", a, b, a, names, b, uses[b][a])
			}
		}
	}
}
