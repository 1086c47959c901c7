package e2e

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
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

// TestRootlessFastRunRootTakesNoUserEntry: root's hoist pointed at a
// user's run dir (HOIST_RUN_DIR, as sudo -E keeps it) must not replay
// what is in its run cache: a rootless entry (it is refused as such),
// nor one the user rewrote to look like root's, which would run the
// user's container record as real root.
func TestRootlessFastRunRootTakesNoUserEntry(t *testing.T) {
	u := newRootlessUser(t)
	u.importImage(t)
	dir := u.mkdir(t, "proj")
	u.writeFile(t, filepath.Join(dir, "compose.yaml"), "services:\n  box:\n    image: "+testImage+"\n    network_mode: none\n")
	runDir := filepath.Join(os.TempDir(), "hoist-"+strconv.Itoa(u.uid))
	// The same command line, environment included, for both.
	u.env = append(u.env, "HOIST_RUN_DIR="+runDir)
	args := []string{"run", "--rm", "box", "sh", "-c", "echo ran-as-$(cat /proc/self/uid_map | head -1 | tr -s ' ' _)"}
	u.hoist(t, dir, args...)
	u.env = append(u.env, "HOIST_FASTRUN=require")
	if out := u.hoist(t, dir, args...); !strings.Contains(out, "ran-as-") {
		t.Fatalf("replay as the user: %s", out)
	}
	asRoot := func(what string) {
		t.Helper()
		cmd := exec.Command(u.bin, args...)
		cmd.Dir = dir
		cmd.Env = append([]string{"HOME=" + u.home, "USER=" + u.name, "LOGNAME=" + u.name, "PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin"}, u.env...)
		var buf bytes.Buffer
		cmd.Stdout, cmd.Stderr = &buf, &buf
		err := cmd.Run()
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != 125 || strings.Contains(buf.String(), "ran-as-") {
			t.Errorf("root with the user's run dir, %s: %v, want status 125 and nothing run\n%s", what, err, buf.String())
		}
	}
	asRoot("a rootless entry")
	ents, _ := filepath.Glob(filepath.Join(runDir, "runcache", "*.json"))
	if len(ents) != 1 {
		t.Fatalf("run cache entries: %v, want 1", ents)
	}
	// The user rewrites its entry as root's would be (as the user could
	// write any record: privileged, the host's / bound).
	var e map[string]json.RawMessage
	b, err := os.ReadFile(ents[0])
	if err == nil {
		err = json.Unmarshal(b, &e)
	}
	if err != nil {
		t.Fatal(err)
	}
	delete(e, "rootless")
	if b, err = json.Marshal(e); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(ents[0], b, 0o600); err != nil {
		t.Fatal(err)
	}
	u.chown(t, ents[0])
	asRoot("an entry the user rewrote")
}
