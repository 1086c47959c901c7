package docker

import (
	"archive/tar"
	"bytes"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"testing"

	"github.com/hoist-dev/hoist/engine"
)

func writeTree(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, content := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// tarFiles returns the regular files of the context tar with contents.
func tarFiles(t *testing.T, spec engine.BuildSpec) (string, map[string]string) {
	t.Helper()
	bc, err := newBuildContext(spec)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := bc.writeTar(&buf); err != nil {
		t.Fatal(err)
	}
	files := map[string]string{}
	tr := tar.NewReader(&buf)
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if hdr.Uid != 0 || hdr.Gid != 0 {
			t.Errorf("%s owned by %d:%d, want 0:0", hdr.Name, hdr.Uid, hdr.Gid)
		}
		if hdr.Typeflag == tar.TypeReg {
			data, _ := io.ReadAll(tr)
			files[hdr.Name] = string(data)
		}
	}
	return bc.dockerfile, files
}

func keys(m map[string]string) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func TestBuildContextDockerignore(t *testing.T) {
	dir := t.TempDir()
	writeTree(t, dir, map[string]string{
		"Dockerfile":        "FROM scratch\n",
		".dockerignore":     "*.log\nnode_modules\nsecret/\n!secret/keep.txt\nDockerfile\n",
		"app.go":            "package main",
		"debug.log":         "x",
		"node_modules/a.js": "x",
		"secret/key":        "x",
		"secret/keep.txt":   "keep",
		"sub/app.log":       "not matched: *.log is not recursive",
	})
	df, files := tarFiles(t, engine.BuildSpec{Context: dir})
	if df != "Dockerfile" {
		t.Errorf("dockerfile = %q", df)
	}
	// The Dockerfile and .dockerignore are sent even though ignored.
	want := []string{".dockerignore", "Dockerfile", "app.go", "secret/keep.txt", "sub/app.log"}
	if got := keys(files); !reflect.DeepEqual(got, want) {
		t.Errorf("files = %v, want %v", got, want)
	}
}

func TestBuildContextDockerfileSpecificIgnore(t *testing.T) {
	dir := t.TempDir()
	writeTree(t, dir, map[string]string{
		"docker/app.Dockerfile":              "FROM scratch\n",
		"docker/app.Dockerfile.dockerignore": "big\n",
		".dockerignore":                      "app.go\n",
		"app.go":                             "package main",
		"big/blob":                           "x",
	})
	df, files := tarFiles(t, engine.BuildSpec{Context: dir, Dockerfile: "docker/app.Dockerfile"})
	if df != "docker/app.Dockerfile" {
		t.Errorf("dockerfile = %q", df)
	}
	want := []string{".dockerignore", "app.go", "docker/app.Dockerfile", "docker/app.Dockerfile.dockerignore"}
	if got := keys(files); !reflect.DeepEqual(got, want) {
		t.Errorf("files = %v, want %v", got, want)
	}
}

func TestBuildContextInlineAndOutside(t *testing.T) {
	dir := t.TempDir()
	writeTree(t, dir, map[string]string{"a.txt": "a"})
	df, files := tarFiles(t, engine.BuildSpec{Context: dir, Inline: "FROM busybox\nCOPY a.txt /\n"})
	if df != inlineDockerfile || files[inlineDockerfile] != "FROM busybox\nCOPY a.txt /\n" || files["a.txt"] != "a" {
		t.Errorf("inline: dockerfile %q files %v", df, files)
	}
	outside := filepath.Join(t.TempDir(), "Dockerfile.prod")
	if err := os.WriteFile(outside, []byte("FROM prod\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	df, files = tarFiles(t, engine.BuildSpec{Context: dir, Dockerfile: outside})
	if df != inlineDockerfile || files[inlineDockerfile] != "FROM prod\n" {
		t.Errorf("outside: dockerfile %q files %v", df, files)
	}
}

func TestBuildContextErrors(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "nope")
	if _, err := newBuildContext(engine.BuildSpec{Context: missing}); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing context: %v", err)
	}
	dir := t.TempDir()
	if _, err := newBuildContext(engine.BuildSpec{Context: dir}); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing Dockerfile: %v", err)
	}
}
