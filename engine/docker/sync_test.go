package docker

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hoist-dev/hoist/engine"
)

// TestSync runs both transports: the merged-dir writer (dockerd is local
// here) and the copy API.
func TestSync(t *testing.T) {
	b := newRealBackend(t)
	t.Run("merged-dir", func(t *testing.T) { testSync(t, b, b.Sync, true) })
	t.Run("copy-api", func(t *testing.T) { testSync(t, b, b.syncThroughAPI, false) })
}

func testSync(t *testing.T, b *Backend, sync func(context.Context, string, []engine.SyncChange) error, merged bool) {
	img := ensureTestImage(t, b)
	ctx := testCtx(t)
	spec := labelledSpec(testProject(t, b), "sync", 1, img, "sh", "-c", "mkdir -p /app /outside && ln -s /outside /app/evil && exec sleep 600")
	id, err := b.CreateContainer(ctx, spec)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.StartContainer(ctx, id); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Wait(ctx, id, engine.WaitRunning); err != nil {
		t.Fatal(err)
	}
	run := func(cmd ...string) (string, int) {
		var out bytes.Buffer
		code, err := b.Exec(ctx, id, engine.ExecSpec{Cmd: cmd, Stdout: &out, Stderr: &out})
		if err != nil {
			t.Fatal(err)
		}
		return out.String(), code
	}
	// The container's setup must have happened before syncing.
	for {
		if _, code := run("test", "-L", "/app/evil"); code == 0 {
			break
		}
		if ctx.Err() != nil {
			t.Fatal("container never created /app/evil")
		}
	}
	if merged {
		probe := []engine.SyncChange{{ContainerPath: "/app/x", Root: "/app"}}
		if b.localMergedDir(ctx, id, probe) == "" {
			t.Fatal("dockerd is local with overlay2 here, yet the merged directory is not used")
		}
	}
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "sub"), 0o755)
	os.WriteFile(filepath.Join(dir, "sub", "a.py"), []byte("print(1)\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "x.txt"), []byte("evil"), 0o644)
	err = sync(ctx, id, []engine.SyncChange{{HostPath: filepath.Join(dir, "sub", "a.py"), ContainerPath: "/app/sub/a.py", Root: "/app"}})
	if err != nil {
		t.Fatal(err)
	}
	if out, _ := run("cat", "/app/sub/a.py"); out != "print(1)\n" {
		t.Errorf("synced content %q", out)
	}
	err = sync(ctx, id, []engine.SyncChange{{ContainerPath: "/app/sub/a.py", Root: "/app", Deleted: true}})
	if err != nil {
		t.Fatal(err)
	}
	if _, code := run("test", "-e", "/app/sub/a.py"); code == 0 {
		t.Error("deleted file still exists")
	}
	// A symlink inside the container must not redirect the write.
	err = sync(ctx, id, []engine.SyncChange{{HostPath: filepath.Join(dir, "x.txt"), ContainerPath: "/app/evil/x.txt", Root: "/app"}})
	if err == nil || !strings.Contains(err.Error(), "symlink") {
		t.Errorf("sync through a symlink: err = %v", err)
	}
	if _, code := run("test", "-e", "/outside/x.txt"); code == 0 {
		t.Error("a write went through the symlink outside the target")
	}
	err = sync(ctx, id, []engine.SyncChange{{HostPath: filepath.Join(dir, "x.txt"), ContainerPath: "/etc/x.txt", Root: "/app"}})
	if err == nil {
		t.Error("a path outside the root was accepted")
	}
}
