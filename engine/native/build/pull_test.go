package build

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/hoist-dev/hoist/engine"
)

// With Pull (docker's --pull), a base that cannot be pulled but is present
// locally is used with a warning. The registry is 127.0.0.1:1, where
// nothing listens, so the pull fails at once without leaving the host.
func TestPullFailureWithLocalBaseWarns(t *testing.T) {
	f := newFixture(t)
	const local = "127.0.0.1:1/hoist-test/base:latest"
	if _, err := f.store.Import(context.Background(), bytes.NewReader(baseTar), local, []string{"ENV PATH=/bin"}); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	writeTree(t, dir, map[string]string{"Dockerfile": "FROM " + local + "\nENV A=1\n"})
	r := f.mustBuild(t, engine.BuildSpec{Context: dir, Tag: "pulled:1", Pull: true})
	if r.count("WARN pull "+local) != 1 {
		t.Errorf("want one pull warning, got:\n%s", strings.Join(r.lines, "\n"))
	}
	// Without a local copy the pull failure is the build's error.
	writeTree(t, dir, map[string]string{"Dockerfile": "FROM 127.0.0.1:1/hoist-test/absent:latest\n"})
	if r := f.build(t, engine.BuildSpec{Context: dir, Tag: "pulled:2", Pull: true}); r.err == nil {
		t.Error("build from an absent base that cannot be pulled succeeded")
	}
}
