package rootless

import (
	"os"
	"path/filepath"
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
