package archtest

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"strings"
	"testing"
)

// TestPathsInRootsGoThroughInroot: internal/inroot is the one place that
// resolves paths inside a container's root or an image layer (openat2's
// RESOLVE_ flags, or its component walk where openat2 is missing). A
// package that calls openat2 itself has its own rules again, and no
// fallback.
func TestPathsInRootsGoThroughInroot(t *testing.T) {
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	err = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		if d.IsDir() {
			switch {
			case rel == "internal/inroot", strings.HasPrefix(d.Name(), "."), d.Name() == "testdata", d.Name() == "bin":
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(p, ".go") || strings.HasSuffix(p, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, p, nil, parser.SkipObjectResolution)
		if err != nil {
			return err
		}
		ast.Inspect(f, func(n ast.Node) bool {
			sel, ok := n.(*ast.SelectorExpr)
			if !ok {
				return true
			}
			if x, ok := sel.X.(*ast.Ident); ok && x.Name == "unix" && (sel.Sel.Name == "Openat2" || strings.HasPrefix(sel.Sel.Name, "RESOLVE_")) {
				t.Errorf("%s: unix.%s: resolve paths in a root with internal/inroot", fset.Position(sel.Pos()), sel.Sel.Name)
			}
			return true
		})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
