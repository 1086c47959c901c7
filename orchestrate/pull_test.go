package orchestrate

import (
	"context"
	"slices"
	"strings"
	"testing"
)

func TestPullOptions(t *testing.T) {
	p := load(t, "services:\n  a:\n    image: x:1\n  b:\n    image: y:1\n  c:\n    image: z:1\n")
	pulls := func(f *fakeBackend) []string {
		var out []string
		for _, c := range f.calls {
			if strings.HasPrefix(c, "pull ") {
				out = append(out, c)
			}
		}
		slices.Sort(out)
		return out
	}
	f := newFake()
	f.images["x:1"] = "sha256:x"
	f.failPull = "y:1"
	o := &Orchestrator{Backend: f}
	if err := o.Pull(context.Background(), p, nil, PullOptions{}); err == nil || !strings.Contains(err.Error(), `pull y:1 for service "b"`) {
		t.Errorf("a failed pull: %v", err)
	}
	if got := pulls(f); !slices.Equal(got, []string{"pull x:1", "pull y:1", "pull z:1"}) {
		t.Errorf("pulled %q", got)
	}

	f.calls = nil
	if err := o.Pull(context.Background(), p, nil, PullOptions{IgnoreFailures: true}); err != nil {
		t.Errorf("--ignore-pull-failures: %v", err)
	}

	f.calls = nil
	delete(f.images, "z:1")
	if err := o.Pull(context.Background(), p, nil, PullOptions{Missing: true, IgnoreFailures: true}); err != nil {
		t.Fatal(err)
	}
	if got := pulls(f); !slices.Equal(got, []string{"pull y:1", "pull z:1"}) {
		t.Errorf("--policy missing pulled %q", got)
	}
}
