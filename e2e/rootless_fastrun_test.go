package e2e

import (
	"os"
	"path/filepath"
	"strconv"
	"testing"
)

// TestRootlessFastRunChangesNoDirs: run --rm's fast path looks for its
// entry before main, for any command line with a "run" word in it, of
// the docker engine too. As a user, it must leave the rootless dirs as
// it found them: not make the store or the run dir of a user who never
// used the native engine, nor close a store of the user's that is open
// to others (HOIST_ROOT), as only the native engine's own start may.
func TestRootlessFastRunChangesNoDirs(t *testing.T) {
	u := newRootlessUser(t)
	dir := u.mkdir(t, "proj")
	store := filepath.Join(u.home, ".local", "share", "hoist")
	runDir := filepath.Join(os.TempDir(), "hoist-"+strconv.Itoa(u.uid))
	// A docker engine command whose service is named run: the user is
	// not in the docker group, so it fails, having made nothing.
	_, _ = u.hoistErr(dir, "--engine", "docker", "logs", "run")
	for _, p := range []string{store, runDir} {
		if _, err := os.Lstat(p); err == nil {
			t.Errorf("%s was made by a docker engine command (hoist --engine docker logs run)", p)
		}
	}
	shared := u.mkdir(t, "shared")
	if err := os.Chmod(shared, 0o755); err != nil {
		t.Fatal(err)
	}
	u.env = append(u.env, "HOIST_ROOT="+shared)
	_, _ = u.hoistErr(dir, "--engine", "docker", "logs", "run")
	if fi, err := os.Stat(shared); err != nil || fi.Mode().Perm() != 0o755 {
		t.Errorf("HOIST_ROOT %s after a docker engine command: %v %v, want 0755 as it was", shared, fi.Mode(), err)
	}
}
