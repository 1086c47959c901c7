package fastrun

import (
	"os/exec"
	"strings"
	"testing"
)

// The fast path is only fast while it links none of these: each pulls in
// packages whose initialisation Go runs before this package's (see the
// package doc). A dependency that brings one in must be split first.
func TestStaysLight(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	for _, dep := range strings.Fields(string(out)) {
		for _, heavy := range []string{
			"github.com/compose-spec/", "github.com/google/go-containerregistry/", "github.com/moby/buildkit/",
			"github.com/docker/docker/", "github.com/distribution/", "github.com/spf13/cobra",
			"net/http", "net/netip", "unique",
		} {
			if dep == heavy || strings.HasPrefix(dep, heavy) {
				t.Errorf("fastrun depends on %s", dep)
			}
		}
	}
}
