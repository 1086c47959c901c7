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
	write("compose.yaml", "services:\n  web:\n    image: x\n    env_file: [web.env, {path: opt.env, required: false}]\n    build: ./ctx\n  dbg:\n    image: y\n    profiles: [debug]\n    env_file: dbg.env\n    secrets: [s]\nsecrets:\n  s:\n    file: ./s.txt\n")
	if err := os.MkdirAll(filepath.Join(dir, "ctx"), 0o755); err != nil {
		t.Fatal(err)
	}
	write("ctx/Dockerfile", "FROM scratch\n")
	write("s.txt", "s")
	write("web.env", "A=1\n")
	write(".env", "B=2\n")
	// Discovery from a subdirectory, as docker compose does.
	t.Chdir(sub)
	o := Options{}
	_, in, err := LoadWithInputs(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	if in == nil {
		t.Fatal("no inputs")
	}
	paths := in.Files
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
	for _, want := range []string{filepath.Join(dir, "ctx"), filepath.Join(dir, "ctx", "Dockerfile"), filepath.Join(dir, "s.txt")} {
		if !slices.Contains(in.Present, want) {
			t.Errorf("%s not among the present inputs %q", want, in.Present)
		}
	}

	// Files pulled in by include or extends are not listed: not ok.
	write("compose.yaml", "include: [other.yaml]\nservices:\n  web:\n    image: x\n")
	write("other.yaml", "services:\n  db:\n    image: y\n")
	if _, in, err = LoadWithInputs(context.Background(), o); err != nil || in != nil {
		t.Errorf("include: inputs %+v, %v", in, err)
	}
}

// include and extends with a file are found wherever YAML can put them:
// in a later document, behind an alias, through a merge key.
func TestPullsInFiles(t *testing.T) {
	for yaml, want := range map[string]bool{
		"services:\n  a:\n    image: x\n":                                                                        false,
		"services:\n  a:\n    extends: b\n  b:\n    image: x\n":                                                  false,
		"services:\n  a:\n    extends: {service: b}\n  b:\n    image: x\n":                                       false,
		"services:\n  a:\n    develop:\n      watch: [{path: ., action: sync, target: /a, include: ['*.py']}]\n": false,
		"include: [x.yaml]\n": true,
		"services:\n  a:\n    extends: {file: b.yaml, service: b}\n":                         true,
		"services:\n  a:\n    image: x\n---\ninclude: [inc.yaml]\n":                          true,
		"x-b: &b\n  extends: {file: base.yaml, service: b}\nservices:\n  web:\n    <<: *b\n": true,
		"x-b: &b\n  file: base.yaml\n  service: b\nservices:\n  web:\n    extends: *b\n":     true,
		"x-s: &s\n  web:\n    extends: {file: base.yaml, service: b}\nservices: *s\n":        true,
		"x-s: &s\n  web:\n    extends: {file: base.yaml, service: b}\nservices:\n  <<: *s\n": true,
		"x-i: &i\n  include: [inc.yaml]\n<<: *i\nservices: {}\n":                             true,
		"services: [\n": true,
	} {
		if got := pullsInFiles([]byte(yaml)); got != want {
			t.Errorf("pullsInFiles(%q) = %v", yaml, got)
		}
	}
}
