package kube_test

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rogpeppe/go-internal/txtar"

	"github.com/hoist-dev/hoist/compose"
	"github.com/hoist-dev/hoist/convert/kube"
)

var update = flag.Bool("update", false, "rewrite the golden files' want sections")

// convertDir loads dir's compose.yaml (and the other files given) as
// `hoist convert kubernetes` does and converts it with o; the problems
// come back located, as the command prints them, relative to dir.
func convertDir(t testing.TB, dir string, files []string, o kube.Options) (kube.Result, []string) {
	t.Helper()
	if len(files) == 0 {
		files = []string{filepath.Join(dir, "compose.yaml")}
	}
	p, loc, err := compose.LoadLocated(context.Background(), compose.Options{Files: files, Name: "t", Environ: []string{"TLS_KEY=key-bytes"}, Swarm: true})
	if err != nil {
		t.Fatalf("load: %v", err)
	}
	o.ReadFile = os.ReadFile
	res, err := kube.Convert(p, o)
	if err != nil {
		t.Fatalf("convert: %v", err)
	}
	var lines []string
	for _, pr := range res.Problems {
		kind := "error"
		if pr.Warning {
			kind = "warning"
		}
		where := ""
		if file, line := loc.Locate(pr.Path...); file != "" && len(pr.Path) > 0 {
			where = fmt.Sprintf("%s:%d: ", filepath.Base(file), line)
		}
		msg := pr.String()
		if dir != "" {
			msg = strings.ReplaceAll(msg, dir, "$DIR")
		}
		lines = append(lines, kind+": "+where+msg)
	}
	return res, lines
}

// options reads a golden file's "options" section: one flag a line.
func options(text string) kube.Options {
	o := kube.Options{Namespace: "ns"}
	for _, l := range strings.Fields(text) {
		switch k, v, _ := strings.Cut(l, "="); k {
		case "publish":
			o.Publish = kube.Publish(v)
		case "allow-host-paths":
			o.AllowHostPaths = true
		case "namespace":
			o.Namespace = v
		case "services":
			o.Services = strings.Split(v, ",")
		}
	}
	return o
}

// TestGolden converts each testdata/golden/KEY.txtar, one compose key a
// file, and compares the problems and the YAML with its want section;
// every object is also decoded strictly and checked against the API's
// schema. go test -run TestGolden -update rewrites the want sections.
func TestGolden(t *testing.T) {
	files, err := filepath.Glob("testdata/golden/*.txtar")
	if err != nil || len(files) == 0 {
		t.Fatalf("no golden files: %v", err)
	}
	for _, file := range files {
		t.Run(strings.TrimSuffix(filepath.Base(file), ".txtar"), func(t *testing.T) {
			ar, err := txtar.ParseFile(file)
			if err != nil {
				t.Fatal(err)
			}
			dir := t.TempDir()
			var want, opts string
			wantAt := -1
			for i, f := range ar.Files {
				switch f.Name {
				case "want":
					want, wantAt = string(f.Data), i
				case "options":
					opts = string(f.Data)
				default:
					if err := os.MkdirAll(filepath.Dir(filepath.Join(dir, f.Name)), 0o755); err != nil {
						t.Fatal(err)
					}
					if err := os.WriteFile(filepath.Join(dir, f.Name), f.Data, 0o644); err != nil {
						t.Fatal(err)
					}
				}
			}
			res, problems := convertDir(t, dir, nil, options(opts))
			out, err := kube.Encode(res.Objects, kube.FormatYAML)
			if err != nil {
				t.Fatal(err)
			}
			var got bytes.Buffer
			for _, l := range problems {
				got.WriteString(l + "\n")
			}
			if len(problems) > 0 {
				got.WriteString("---\n")
			}
			got.Write(out)
			if *update {
				if wantAt < 0 {
					ar.Files = append(ar.Files, txtar.File{Name: "want"})
					wantAt = len(ar.Files) - 1
				}
				ar.Files[wantAt].Data = got.Bytes()
				if err := os.WriteFile(file, txtar.Format(ar), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			if got.String() != want {
				t.Errorf("got:\n%s\nwant:\n%s", got.String(), want)
			}
			checkObjects(t, res.Objects)
		})
	}
}

// TestChecksFail proves the strict decoding and the schema check catch
// what they are there for: an unknown field, a duplicate field, a value
// of the wrong type, a missing required field.
func TestChecksFail(t *testing.T) {
	for name, doc := range map[string]string{
		"unknown field":   "apiVersion: v1\nkind: Service\nmetadata:\n  name: a\nspec:\n  selectr: {}\n",
		"duplicate field": "apiVersion: v1\nkind: Service\nmetadata:\n  name: a\n  name: b\n",
		"case":            "apiVersion: v1\nkind: Service\nmetadata:\n  Name: a\n",
	} {
		if _, err := strictDecode([]byte(doc)); err == nil {
			t.Errorf("%s: strict decoding passed:\n%s", name, doc)
		}
	}
	for name, o := range map[string]kube.Object{
		"wrong type": {APIVersion: "v1", Kind: "Service", Name: "a", Value: map[string]any{
			"apiVersion": "v1", "kind": "Service", "metadata": map[string]any{"name": "a"},
			"spec": map[string]any{"ports": []any{map[string]any{"port": "eighty"}}}}},
		"missing required": {APIVersion: "apps/v1", Kind: "Deployment", Name: "a", Value: map[string]any{
			"apiVersion": "apps/v1", "kind": "Deployment", "metadata": map[string]any{"name": "a"},
			"spec": map[string]any{"template": map[string]any{"spec": map[string]any{"containers": []any{map[string]any{"image": "x"}}}}}}},
		"unknown field": {APIVersion: "v1", Kind: "ConfigMap", Name: "a", Value: map[string]any{
			"apiVersion": "v1", "kind": "ConfigMap", "metadata": map[string]any{"name": "a"}, "dta": map[string]any{}}},
	} {
		ft := &fakeT{TB: t}
		validateSchema(ft, o)
		if !ft.failed {
			t.Errorf("%s: the schema check passed", name)
		}
	}
}

// fakeT records an Errorf instead of failing the test.
type fakeT struct {
	testing.TB
	failed bool
}

func (f *fakeT) Errorf(string, ...any) { f.failed = true }
func (f *fakeT) Helper()               {}

// TestSamples converts the sample and the 20-service project: no error,
// and every object strict and valid.
func TestSamples(t *testing.T) {
	for name, files := range map[string][]string{
		"flask-redis": {"../../samples/flask-redis/compose.yaml", "testdata/flask-redis-image.yaml"},
		"twenty":      {"testdata/twenty/compose.yaml"},
	} {
		t.Run(name, func(t *testing.T) {
			res, problems := convertDir(t, "", files, kube.Options{Namespace: "ns"})
			if errs := res.Errors(); len(errs) > 0 {
				t.Fatalf("errors: %v", problems)
			}
			if len(res.Objects) == 0 {
				t.Fatal("no objects")
			}
			checkObjects(t, res.Objects)
		})
	}
}
