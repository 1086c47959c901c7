package build

import (
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hoist-dev/hoist/engine"
)

// outsideDir is /tmp/<testdir>/outside on the host, with a sentinel; a
// hostile earlier step aims its symlinks at it.
func outsideDir(t *testing.T) (string, func(t *testing.T)) {
	t.Helper()
	base, err := os.MkdirTemp("/tmp", "hoist-build-inroot-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(base) })
	dir := filepath.Join(base, "outside")
	writeTree(t, dir, map[string]string{"sentinel": "host"})
	snap := func() map[string]string {
		out := map[string]string{}
		filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			out[p] = d.Type().String()
			if d.Type().IsRegular() {
				raw, _ := os.ReadFile(p)
				out[p] += " " + string(raw)
			}
			return nil
		})
		return out
	}
	before := snap()
	return dir, func(t *testing.T) {
		t.Helper()
		if now := snap(); !maps.Equal(now, before) {
			t.Fatalf("the build wrote outside the image:\nbefore %v\nafter  %v", before, now)
		}
	}
}

// A RUN step plants symlinks to a host directory (absolute, relative
// with .., dangling) above and below the destinations of later COPY, ADD
// and WORKDIR steps. Every write lands inside the image or fails; the
// host directory keeps its bytes.
func TestBuildStepsNeverWriteThroughLinksOut(t *testing.T) {
	f := newFixture(t)
	out, check := outsideDir(t)
	dir := t.TempDir()
	writeTree(t, dir, map[string]string{"a.txt": "copied", "tree/sentinel": "from the context", "tree/sub/b.txt": "b"})
	plant := "RUN ln -s " + out + " /abs && mkdir -p /w /b && ln -s ../../../../../../.." + out + " /w/rel" +
		" && ln -s " + out + "/missing /dang && ln -s " + out + " /b/tree && ln -s " + out + "/sentinel /b/file\n"
	steps := []string{
		"COPY a.txt /abs/a.txt",           // above, absolute, target missing in the image
		"COPY a.txt /w/rel/x/a.txt",       // above, relative with ..
		"COPY a.txt /dang/a.txt",          // above, dangling
		"COPY a.txt /abs/sentinel",        // the final name, through a link above
		"COPY a.txt /b/file",              // the final name is a link
		"COPY tree /b/tree",               // a directory over a link
		"COPY tree/ /w/rel/",              // a directory into a link
		"ADD a.txt /dang/",                // ADD, through a dangling link
		"WORKDIR /abs/work",               // WORKDIR through a link
		"COPY --chown=nobody a.txt /abs/", // with an owner
	}
	for _, step := range steps {
		t.Run(step, func(t *testing.T) {
			writeTree(t, dir, map[string]string{"Dockerfile": "FROM " + baseRef + "\n" + plant + step + "\n"})
			r := f.build(t, engine.BuildSpec{Tag: "hoist-test/attack", Context: dir})
			t.Logf("build: %v", r.err)
			if r.count(step) != 1 {
				t.Fatalf("the step did not run:\n%s", strings.Join(r.lines, "\n"))
			}
			check(t)
		})
	}
	// With the link targets present in the image, the same steps write
	// there, inside the image, as they would in a container: /abs, /w/rel
	// and /b/tree all lead to the image's own copy of the outside path.
	mirror := "RUN mkdir -p " + out + "/missing\n"
	writeTree(t, dir, map[string]string{"Dockerfile": "FROM " + baseRef + "\n" + plant + mirror + strings.Join(steps, "\n") + "\n"})
	r := f.mustBuild(t, engine.BuildSpec{Tag: "hoist-test/attack", Context: dir})
	check(t)
	for p, want := range map[string]string{
		out[1:] + "/a.txt":         "copied",
		out[1:] + "/x/a.txt":       "copied",
		out[1:] + "/missing/a.txt": "copied",
		out[1:] + "/sentinel":      "from the context", // COPY tree came after COPY a.txt /abs/sentinel
		out[1:] + "/sub/b.txt":     "b",
		"b/file":                   "copied", // the link was replaced
	} {
		if got, ok := f.readFile(t, r.id, p); !ok || got != want {
			t.Errorf("%s in the image: %q, %v; want %q", p, got, ok, want)
		}
	}
	if o := statInImage(t, f, r.id, out[1:]+"/work"); o == nil {
		t.Error("WORKDIR through /abs was not made inside the image")
	}
}
