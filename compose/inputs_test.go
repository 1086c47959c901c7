package compose

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

func TestInputs(t *testing.T) {
	root := t.TempDir()
	dir := filepath.Join(root, "app")
	sub := filepath.Join(dir, "sub")
	if err := os.MkdirAll(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	write := func(name, s string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("compose.yaml", "services:\n  web:\n    image: x\n    env_file: [web.env, {path: opt.env, required: false}]\n  dbg:\n    image: y\n    profiles: [debug]\n    env_file: dbg.env\n")
	write("web.env", "A=1\n")
	write(".env", "B=2\n")
	// Discovery from a subdirectory, as docker compose does.
	t.Chdir(sub)
	o := Options{}
	_, paths, err := LoadWithInputs(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	if paths == nil {
		t.Fatal("no inputs")
	}
	for _, want := range []string{
		filepath.Join(dir, "compose.yaml"),
		filepath.Join(dir, "compose.override.yaml"), // absent, but would be merged
		filepath.Join(sub, "compose.yaml"),          // absent, but would win
		filepath.Join(sub, "docker-compose.yml"),    // likewise
		filepath.Join(dir, ".env"), filepath.Join(sub, ".env"),
		filepath.Join(dir, "web.env"), filepath.Join(dir, "opt.env"),
		filepath.Join(dir, "dbg.env"), // a disabled service's: harmless
	} {
		if !slices.Contains(paths, want) {
			t.Errorf("%s not among the inputs %q", want, paths)
		}
	}
	if slices.Contains(paths, filepath.Join(root, "compose.yaml")) {
		t.Error("discovery went on past the directory it found the file in")
	}

	// Files pulled in by include or extends are not listed: not ok.
	write("compose.yaml", "include: [other.yaml]\nservices:\n  web:\n    image: x\n")
	write("other.yaml", "services:\n  db:\n    image: y\n")
	if _, paths, err = LoadWithInputs(context.Background(), o); err != nil || paths != nil {
		t.Errorf("include: inputs %q, %v", paths, err)
	}
}
