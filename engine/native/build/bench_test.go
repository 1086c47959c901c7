package build

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/hoist-dev/hoist/engine"
)

// BenchmarkBuild measures the seed-shaped Dockerfile on the busybox test
// image: a cold build (no cache), a rebuild after editing a file under
// COPY . (only the last COPY runs), and a build with no change.
//
//	go test -run '^$' -bench Build ./engine/native/build/
func BenchmarkBuild(b *testing.B) {
	f := newFixture(b)
	dir := seedContext(b)
	spec := engine.BuildSpec{Tag: "hoist-bench/web", Service: "web", Context: dir}
	f.mustBuild(b, spec)

	b.Run("cold", func(b *testing.B) {
		cold := spec
		cold.NoCache = true
		for b.Loop() {
			f.mustBuild(b, cold)
		}
	})
	b.Run("edit", func(b *testing.B) {
		n := 0
		for b.Loop() {
			n++
			if err := os.WriteFile(filepath.Join(dir, "app.py"), []byte(fmt.Sprintf("print(%d)\n", n)), 0o644); err != nil {
				b.Fatal(err)
			}
			f.mustBuild(b, spec)
		}
	})
	b.Run("nochange", func(b *testing.B) {
		f.mustBuild(b, spec)
		for b.Loop() {
			f.mustBuild(b, spec)
		}
	})
}
