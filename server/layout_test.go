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

// TestFilesDependOneWay: the package's files can be read in an order where each uses only
// top-level names of the files before it: no file uses another that, directly or through
// others, uses it. Methods and fields, reached through a selector, do not count: the Server's
// layers are its methods, in the files of their concerns, and server.go wires them.
func TestFilesDependOneWay(t *testing.T) {
	uses := fileUses(t, ".")
	// A cycle is a file that reaches itself: for each file, the files it reaches.
	for start := range uses {
		path := map[string]string{} // file → the file it was reached from
		queue := []string{start}
		for len(queue) > 0 {
			f := queue[0]
			queue = queue[1:]
			for next := range uses[f] {
				if next == start {
					cycle := []string{start}
					for at := f; at != start; at = path[at] {
						cycle = append(cycle, at)
					}
					slices.Reverse(cycle[1:])
					t.Fatalf("files that use each other: %s, then back to %s (%s uses %v)",
						strings.Join(cycle, " uses "), start, f, uses[f][start])
				}
				if _, seen := path[next]; !seen {
					path[next] = f
					queue = append(queue, next)
				}
			}
		}
	}
}

// fileUses returns, for each non-test Go file of dir, the files whose top-level names it uses,
// with the names: identifiers go/parser left unresolved in the file (its package-level names
// are declared elsewhere), and the keys of map and array literals, which go/parser leaves
// unresolved without saying so (go.dev/issue/45160).
func fileUses(t *testing.T, dir string) map[string]map[string][]string {
	paths, err := filepath.Glob(filepath.Join(dir, "*.go"))
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
		p = filepath.Base(p)
		files[p] = f
		for name := range f.Scope.Objects {
			declaredIn[name] = p
		}
	}
	uses := map[string]map[string][]string{}
	for p, f := range files {
		uses[p] = map[string][]string{}
		use := func(id *ast.Ident) {
			if other, ok := declaredIn[id.Name]; ok && other != p && !slices.Contains(uses[p][other], id.Name) {
				uses[p][other] = append(uses[p][other], id.Name)
			}
		}
		for _, id := range f.Unresolved {
			use(id)
		}
		ast.Inspect(f, func(n ast.Node) bool {
			lit, ok := n.(*ast.CompositeLit)
			if !ok {
				return true
			}
			switch lit.Type.(type) {
			case *ast.MapType, *ast.ArrayType: // not a struct's, whose keys are its fields' names
				for _, elt := range lit.Elts {
					if kv, ok := elt.(*ast.KeyValueExpr); ok {
						ast.Inspect(kv.Key, func(n ast.Node) bool {
							if sel, ok := n.(*ast.SelectorExpr); ok {
								ast.Inspect(sel.X, func(n ast.Node) bool {
									if id, ok := n.(*ast.Ident); ok && id.Obj == nil {
										use(id)
									}
									return true
								})
								return false
							}
							if id, ok := n.(*ast.Ident); ok && id.Obj == nil {
								use(id)
							}
							return true
						})
					}
				}
			}
			return true
		})
	}
	return uses
}
