package watch

import (
	"os"
	"path/filepath"
	"testing"
)

// A directory renamed inside the tree keeps its inode, and so its inotify
// watch; events below it must still carry the new name.
func TestLiveDirectoryRenamedInsideTree(t *testing.T) {
	dir, stage := tempDir(t), tempDir(t)
	write(t, filepath.Join(dir, "old", "f"), "f")
	l := startRun(t, []Service{svc("web", syncRule(dir, "/app"))}, newFakeClock())

	if err := os.Rename(filepath.Join(dir, "old"), filepath.Join(dir, "new")); err != nil {
		t.Fatal(err)
	}
	l.waitSeen(t, filepath.Join(dir, "new"))
	l.clock.Advance(quiet)
	l.ctrl.waitFor(t, "rename synced", func(c []call) bool {
		return hasChange(Change{HostPath: filepath.Join(dir, "old"), ContainerPath: "/app/old", Deleted: true})(c) &&
			hasChange(Change{HostPath: filepath.Join(dir, "new", "f"), ContainerPath: "/app/new/f"})(c)
	})
	for i := range 3 {
		p := filepath.Join(dir, "new", "g"+string(rune('0'+i)))
		put(t, stage, p, "g")
		l.waitSeen(t, p)
		l.clock.Advance(quiet)
		l.ctrl.waitFor(t, "sync under the renamed directory",
			hasChange(Change{HostPath: p, ContainerPath: "/app/new/" + filepath.Base(p)}))
	}
}
