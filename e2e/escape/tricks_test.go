package escape

import (
	"sync"
	"testing"
)

// trickCase is what judgeTricks needs of a trick: its name, and whether
// it is the control that must work on both engines.
type trickCase struct {
	name    string
	control bool
}

// judgeTricks runs run on both engines in parallel, each giving an outcome
// per trick, then judges every trick on both: the control must be allowed
// (else the others mean nothing: broken says what is broken), every other
// trick denied (escaped says what reached the host).
func judgeTricks(t *testing.T, tricks []trickCase, run func(t *testing.T, engine string) map[string]outcome, broken, escaped string) {
	t.Helper()
	got := map[string]map[string]outcome{}
	var mu sync.Mutex
	t.Run("engines", func(t *testing.T) {
		for _, engine := range engines {
			t.Run(engine, func(t *testing.T) {
				t.Parallel()
				res := run(t, engine)
				mu.Lock()
				got[engine] = res
				mu.Unlock()
			})
		}
	})
	if got["docker"] == nil || got["native"] == nil {
		t.Fatal("an engine's run did not finish")
	}
	for _, tr := range tricks {
		t.Run(tr.name, func(t *testing.T) {
			d, n := got["docker"][tr.name], got["native"][tr.name]
			t.Logf("docker: %s (%s); native: %s (%s)", d, d.Detail, n, n.Detail)
			for engine, o := range map[string]outcome{"docker": d, "native": n} {
				switch {
				case tr.control && o.Outcome != "allowed":
					t.Errorf("%s: %s, so the other cases mean nothing: %s", engine, broken, o.Detail)
				case !tr.control && o.Outcome != "denied":
					t.Errorf("%s: %s: %s", engine, escaped, o.Detail)
				}
			}
		})
	}
}
