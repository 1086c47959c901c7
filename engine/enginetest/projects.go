package enginetest

import (
	"slices"
	"testing"

	"github.com/hoist-dev/hoist/engine"
)

// testProjectLister is hoist ls: the project, with its running and all
// containers counted.
func testProjectLister(t *testing.T, h *harness) {
	l, ok := h.b.(engine.ProjectLister)
	if !ok {
		t.Fatal("backend is not an engine.ProjectLister")
	}
	svc := h.service("app", "sleep", "600")
	svc.Init = new(true)
	id := h.run(h.spec(svc))
	h.wait(id, engine.WaitRunning)
	h.wait(h.run(h.spec(h.service("job", "true"))), engine.WaitExited)
	ps, err := l.Projects(h.ctx())
	if err != nil {
		t.Fatalf("Projects: %v", err)
	}
	i := slices.IndexFunc(ps, func(p engine.ProjectSummary) bool { return p.Name == h.project })
	if i < 0 || ps[i].Running != 1 || ps[i].Total != 2 {
		t.Errorf("Projects = %+v, want %s with 1 of 2 running", ps, h.project)
	}
}

// testUnsupporter: what the suite's own plain service uses, every engine
// applies; and a limit on removals is a number of them.
func testUnsupporter(t *testing.T, h *harness) {
	u, ok := h.b.(engine.Unsupporter)
	if !ok {
		t.Fatal("backend is not an engine.Unsupporter")
	}
	if got := u.Unsupported(h.spec(h.service("app", "true")).Config); len(got) != 0 {
		t.Errorf("Unsupported of a plain service = %q, want nothing", got)
	}
	if l, ok := h.b.(engine.RemovalLimiter); ok && l.MaxParallelRemovals() < 1 {
		t.Errorf("MaxParallelRemovals = %d, want at least 1", l.MaxParallelRemovals())
	}
}
