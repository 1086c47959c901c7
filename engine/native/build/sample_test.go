package build

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/hoist-dev/hoist/engine"
	"github.com/hoist-dev/hoist/internal/testimage"
)

// sampleTarball is the bookworm rootfs samples/images/build.sh makes.
func sampleTarball() string {
	dir := os.Getenv("HOIST_IMAGE_CACHE")
	if dir == "" {
		dir = "/var/cache/hoist/images"
	}
	return filepath.Join(dir, "bookworm-sample.tar")
}

// copyDir copies the regular files of src (one level deep is enough for
// the sample) into a new temp dir.
func copyDir(tb testing.TB, src string) string {
	tb.Helper()
	dst := tb.TempDir()
	ents, err := os.ReadDir(src)
	if err != nil {
		tb.Fatal(err)
	}
	for _, de := range ents {
		if !de.Type().IsRegular() {
			continue
		}
		raw, err := os.ReadFile(filepath.Join(src, de.Name()))
		if err != nil {
			tb.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dst, de.Name()), raw, 0o644); err != nil {
			tb.Fatal(err)
		}
	}
	return dst
}

// TestFlaskSample builds samples/flask-redis on the sample's python image,
// imported offline as samples/images/load.sh does.
func TestFlaskSample(t *testing.T) {
	f := newFixture(t)
	tarball := sampleTarball()
	r, err := os.Open(tarball)
	if err != nil {
		t.Skipf("sample rootfs %s not built (samples/images/build.sh): %v", tarball, err)
	}
	defer r.Close()
	const pyRef = testimage.SamplePython
	if _, err := f.store.Import(context.Background(), r, pyRef, testimage.SampleChanges(pyRef)); err != nil {
		t.Fatal(err)
	}
	dir := copyDir(t, filepath.Join("..", "..", "..", "samples", "flask-redis"))
	py := pyRef
	spec := engine.BuildSpec{Tag: "hoist-test/flask-web", Service: "web", Context: dir, Args: map[string]*string{"PYTHON_IMAGE": &py}}
	cold := f.mustBuild(t, spec)
	for _, l := range cold.lines {
		t.Log(l)
	}
	if got, ok := f.readFile(t, spec.Tag, "application/app.py"); !ok || got == "" {
		t.Error("app.py missing from the image")
	}
	again := f.mustBuild(t, spec)
	if again.id != cold.id || again.count("CACHED") != 4 {
		t.Errorf("no-change rebuild:\n%v", again.lines)
	}
	if err := os.WriteFile(filepath.Join(dir, "app.py"), []byte("# edited\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	edit := f.mustBuild(t, spec)
	if edit.count("CACHED") != 3 {
		t.Errorf("edit rebuild:\n%v", edit.lines)
	}
	t.Logf("flask sample: cold %v, edit %v, no-change %v", cold.took, edit.took, again.took)
}
