package archtest

import (
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// The CLI reaches the engine through the orchestrator only: no file of
// cmd/hoist touches an orchestrator's Backend or imports an engine, but
// root.go, which opens the engine the flags select, run.go, whose
// fast-path recording is the native engine's own (native.Replay), and
// main.go, where a re-executed hoist becomes a container's init before
// any command. The rootless launcher is process plumbing, not engine
// use: before any engine is opened, hoist re-executes itself in a user
// namespace (rootless.go, main.go), checks what that needs (doctor.go)
// and removes what it left (system_reset.go); those files may import
// engine/native/rootless (and rootless.go the carrier, rootnet), no more.
func TestCLIReachesEnginesThroughTheOrchestrator(t *testing.T) {
	allowed := map[string]bool{"root.go": true, "run.go": true}
	const native = "github.com/hoist-dev/hoist/engine/native/"
	allowedImports := map[string][]string{
		"main.go":         {native + "runtime", native + "rootless"},
		"rootless.go":     {native + "rootless", native + "rootnet"},
		"doctor.go":       {native + "rootless"},
		"system_reset.go": {native + "rootless"},
	}
	files, err := filepath.Glob("../../cmd/hoist/*.go")
	if err != nil || len(files) == 0 {
		t.Fatalf("no cmd/hoist files: %v", err)
	}
	fset := token.NewFileSet()
	for _, path := range files {
		name := filepath.Base(path)
		if strings.HasSuffix(name, "_test.go") || allowed[name] {
			continue
		}
		f, err := parser.ParseFile(fset, path, nil, parser.SkipObjectResolution)
		if err != nil {
			t.Fatal(err)
		}
		for _, imp := range f.Imports {
			p, _ := strconv.Unquote(imp.Path.Value)
			if strings.HasPrefix(p, "github.com/hoist-dev/hoist/engine/") && !slices.Contains(allowedImports[name], p) {
				t.Errorf("%s imports %s", fset.Position(imp.Pos()), p)
			}
		}
		ast.Inspect(f, func(n ast.Node) bool {
			if sel, ok := n.(*ast.SelectorExpr); ok && sel.Sel.Name == "Backend" {
				t.Errorf("%s uses an orchestrator's Backend: call the orchestrator", fset.Position(sel.Pos()))
			}
			return true
		})
	}
}
