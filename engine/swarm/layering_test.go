package swarm

import (
	"os/exec"
	"strings"
	"testing"
)

// The engine maps the resolved configuration (runspec) and reads no
// compose itself: compose's rules are said once, in compose.Resolve.
func TestMapsNoCompose(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "github.com/hoist-dev/hoist/engine/swarm").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	for _, dep := range strings.Fields(string(out)) {
		if dep == "github.com/hoist-dev/hoist/compose" || strings.HasPrefix(dep, "github.com/compose-spec/compose-go") {
			t.Errorf("engine/swarm imports %s", dep)
		}
	}
}
