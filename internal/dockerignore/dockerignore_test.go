package dockerignore

import (
	"os"
	"path/filepath"
	"testing"
)

func TestLoadFirstExistingOnly(t *testing.T) {
	dir := t.TempDir()
	df := filepath.Join(dir, "Dockerfile")
	files := BuildFiles(dir, df)
	if len(files) != 2 || files[0] != df+".dockerignore" || files[1] != filepath.Join(dir, ".dockerignore") {
		t.Fatalf("BuildFiles = %q", files)
	}
	if got := BuildFiles(dir, ""); len(got) != 1 {
		t.Errorf("inline Dockerfile: BuildFiles = %q", got)
	}
	if m, err := Load(files...); m != nil || err != nil {
		t.Fatalf("no files: %v, %v", m, err)
	}
	os.WriteFile(files[1], []byte("*.log\n"), 0o644)
	m, err := Load(files...)
	if err != nil || m == nil {
		t.Fatalf("context ignore: %v, %v", m, err)
	}
	if ok, _ := m.MatchesOrParentMatches("a.log"); !ok {
		t.Error("a.log not ignored")
	}
	// The Dockerfile's own ignore file wins, even when it excludes nothing.
	os.WriteFile(files[0], []byte("# nothing\n"), 0o644)
	if m, err := Load(files...); m != nil || err != nil {
		t.Errorf("empty Dockerfile ignore file: %v, %v", m, err)
	}
	os.WriteFile(files[0], []byte("[\n"), 0o644)
	if _, err := Load(files...); err == nil {
		t.Error("a bad pattern was accepted")
	}
}
