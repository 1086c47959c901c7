// Package archtest guards the architecture: the loader, the planner, the
// executor, the network planner, watch, cp's rules and the provider
// services' runner stay engine-agnostic, the CLI reaches the engines through the orchestrator,
// and paths inside containers' roots are resolved in one place.
package archtest

import (
	"os/exec"
	"strings"
	"testing"
)

func TestLayering(t *testing.T) {
	forbidden := []string{
		"github.com/docker/docker/client",
		"github.com/hoist-dev/hoist/engine/docker",
		"github.com/hoist-dev/hoist/engine/native",
	}
	for _, pkg := range []string{"compose", "plan", "dag", "netplan", "watch", "orchestrate", "filecopy", "provider"} {
		out, err := exec.Command("go", "list", "-deps", "github.com/hoist-dev/hoist/"+pkg).CombinedOutput()
		if err != nil {
			t.Fatalf("go list %s: %v\n%s", pkg, err, out)
		}
		for _, dep := range strings.Fields(string(out)) {
			for _, f := range forbidden {
				if dep == f || strings.HasPrefix(dep, f+"/") {
					t.Errorf("%s imports %s", pkg, dep)
				}
			}
		}
	}
}

// The native builder gets its RUN steps' networks through an interface of
// its own (build.Network), implemented by the engine: bridges, nftables
// and their records stay out of it.
func TestBuilderHasNoNetworkManager(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "github.com/hoist-dev/hoist/engine/native/build").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	for _, dep := range strings.Fields(string(out)) {
		if dep == "github.com/hoist-dev/hoist/engine/native/network" {
			t.Errorf("engine/native/build imports %s", dep)
		}
	}
}
