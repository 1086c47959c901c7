package netplan

import (
	"os/exec"
	"strings"
	"testing"
)

// netplan is pure planning: it must never pull in a Docker client or any
// hoist engine. compose-go/types itself imports two small Docker helper
// modules (go-connections/nat for port parsing, go-units), so whatever
// compose-go/types needs is accepted as given; anything netplan adds on top
// must not come from Docker, moby or hoist's engines, and the Docker API
// client and CLI are refused even if compose-go ever brings them.
func TestArchitecture(t *testing.T) {
	deps := func(pkg string) []string {
		out, err := exec.Command("go", "list", "-deps", pkg).Output()
		if err != nil {
			t.Skipf("go list -deps %s: %v", pkg, err)
		}
		return strings.Fields(string(out))
	}
	fromCompose := map[string]bool{}
	for _, p := range deps("github.com/compose-spec/compose-go/v2/types") {
		fromCompose[p] = true
	}
	never := []string{"github.com/docker/docker", "github.com/docker/cli", "github.com/moby/", "github.com/hoist-dev/hoist/engine"}
	notAdded := []string{"github.com/docker/"}
	for _, pkg := range deps(".") {
		for _, f := range never {
			if strings.HasPrefix(pkg, f) {
				t.Errorf("netplan depends on %s", pkg)
			}
		}
		for _, f := range notAdded {
			if !fromCompose[pkg] && strings.HasPrefix(pkg, f) {
				t.Errorf("netplan depends on %s (not needed by compose-go/types)", pkg)
			}
		}
	}
}
