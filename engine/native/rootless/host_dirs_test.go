package rootless

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestDirsStoreIsPrivate: a store that was there before, open to other
// users, is closed to them (0700); one of another user is refused.
func TestDirsStoreIsPrivate(t *testing.T) {
	tmp := t.TempDir()
	root := filepath.Join(tmp, "store")
	if err := os.Mkdir(root, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(root, 0o755); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"HOIST_ROOT": root, "HOIST_RUN_DIR": filepath.Join(tmp, "run")}
	if _, err := DirsFor(func(k string) string { return env[k] }, os.Getuid()); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(root)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o700 {
		t.Errorf("store %s left %v, want 0700: other users may read its volumes and run its setuid files", root, fi.Mode().Perm())
	}
	if err := privateStore(root, os.Getuid()+1); err == nil {
		t.Errorf("a store of uid %d taken as uid %d's", os.Getuid(), os.Getuid()+1)
	}
}

// TestRunDirParentOfAnother: a run dir in a directory another user may
// rename in (XDG_RUNTIME_DIR pointing into theirs) is refused, even
// when the dir itself is the user's: they could swap it afterwards.
func TestRunDirParentOfAnother(t *testing.T) {
	if os.Geteuid() != 0 {
		if os.Getenv("HOIST_REQUIRE_NATIVE") == "1" {
			t.Fatal("needs root, to give a directory to another uid")
		}
		t.Skip("needs root, to give a directory to another uid")
	}
	parent := filepath.Join(t.TempDir(), "theirs")
	if err := os.Mkdir(parent, 0o777); err != nil {
		t.Fatal(err)
	}
	if err := errors.Join(os.Chmod(parent, 0o777), os.Chown(parent, 54321, 54321)); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(parent, "hoist")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := ownDir(dir, os.Getuid()); err == nil || !strings.Contains(err.Error(), "another user") {
		t.Errorf("run dir in a directory of uid 54321 open to all: %v, want a refusal", err)
	}
	// The user's own parent, and a sticky root one (/tmp), do.
	if err := os.Chown(parent, os.Getuid(), os.Getgid()); err != nil {
		t.Fatal(err)
	}
	if err := ownDir(dir, os.Getuid()); err != nil {
		t.Errorf("run dir in a directory of the user's: %v", err)
	}
	if err := ownDir(filepath.Join(os.TempDir(), "hoist-rlreview-test"), os.Getuid()); err != nil {
		t.Errorf("run dir in %s: %v", os.TempDir(), err)
	}
	_ = os.Remove(filepath.Join(os.TempDir(), "hoist-rlreview-test"))
}

// TestExistingDirsChangesNothing: the fast path's look at the dirs
// (before main, for any command line with a "run" word) neither makes
// them nor closes a store open to others, as DirsFor would; it takes
// them only as DirsFor leaves them.
func TestExistingDirsChangesNothing(t *testing.T) {
	tmp := t.TempDir()
	root, run := filepath.Join(tmp, "store"), filepath.Join(tmp, "run")
	env := map[string]string{"HOIST_ROOT": root, "HOIST_RUN_DIR": run}
	getenv := func(k string) string { return env[k] }
	if _, err := ExistingDirs(getenv, os.Getuid()); err == nil {
		t.Error("dirs that are not there taken")
	}
	for _, dir := range []string{root, run} {
		if _, err := os.Lstat(dir); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s after ExistingDirs: %v, want it not made", dir, err)
		}
	}
	if err := os.Mkdir(root, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(run, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(root, 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := ExistingDirs(getenv, os.Getuid()); err == nil {
		t.Error("a store open to others taken")
	}
	if fi, err := os.Stat(root); err != nil || fi.Mode().Perm() != 0o755 {
		t.Errorf("store after ExistingDirs: %v %v, want 0755 left as it was", fi.Mode(), err)
	}
	want, err := DirsFor(getenv, os.Getuid())
	if err != nil {
		t.Fatal(err)
	}
	got, err := ExistingDirs(getenv, os.Getuid())
	if err != nil || got != want {
		t.Errorf("ExistingDirs after DirsFor: %+v, %v; want %+v", got, err, want)
	}
	if _, err := ExistingDirs(getenv, os.Getuid()+1); err == nil {
		t.Errorf("dirs of uid %d taken as uid %d's", os.Getuid(), os.Getuid()+1)
	}
}
