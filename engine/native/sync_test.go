package native

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hoist-dev/hoist/engine"
)

func TestSyncWritesIntoRootfs(t *testing.T) {
	b := newBackend(t)
	ctx := testCtx(t)
	spec := testSpec("synctest", "app", "sh", "-c", "mkdir -p /app /outside && ln -s /outside /app/evil && ln -s / /app/root && touch /ready && exec sleep 600")
	spec.Service.NetworkMode = "none"
	id, _ := run(t, b, spec.resolved(), engine.WaitRunning)
	exec := func(cmd ...string) (string, int) {
		var out bytes.Buffer
		code, err := b.Exec(ctx, id, engine.ExecSpec{Cmd: cmd, Stdout: &out, Stderr: &out})
		if err != nil {
			t.Fatal(err)
		}
		return out.String(), code
	}
	for {
		if _, code := exec("test", "-e", "/ready"); code == 0 {
			break
		}
		if ctx.Err() != nil {
			t.Fatal("container never got ready")
		}
	}
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "sub"), 0o755)
	os.WriteFile(filepath.Join(dir, "sub", "a.py"), []byte("print(1)\n"), 0o640)
	os.WriteFile(filepath.Join(dir, "x.txt"), []byte("evil"), 0o644)
	os.Symlink("/etc/hostname", filepath.Join(dir, "leak"))

	err := b.Sync(ctx, id, []engine.SyncChange{
		{HostPath: filepath.Join(dir, "sub", "a.py"), ContainerPath: "/app/sub/a.py", Root: "/app"},
		{HostPath: filepath.Join(dir, "leak"), ContainerPath: "/app/leak", Root: "/app"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if out, _ := exec("cat", "/app/sub/a.py"); out != "print(1)\n" {
		t.Errorf("synced content %q", out)
	}
	if out, _ := exec("stat", "-c", "%a", "/app/sub/a.py"); strings.TrimSpace(out) != "640" {
		t.Errorf("mode %q", out)
	}
	// A host symlink arrives as a symlink, not as the host file's content.
	if out, _ := exec("readlink", "/app/leak"); strings.TrimSpace(out) != "/etc/hostname" {
		t.Errorf("leak is not the symlink: %q", out)
	}
	if err := b.Sync(ctx, id, []engine.SyncChange{{ContainerPath: "/app/sub", Root: "/app", Deleted: true}}); err != nil {
		t.Fatal(err)
	}
	if _, code := exec("test", "-e", "/app/sub"); code == 0 {
		t.Error("deleted directory still exists")
	}
	for _, through := range []string{"/app/evil/x.txt", "/app/root/etc/x.txt"} {
		err = b.Sync(ctx, id, []engine.SyncChange{{HostPath: filepath.Join(dir, "x.txt"), ContainerPath: through, Root: "/app"}})
		if err == nil || !strings.Contains(err.Error(), "symlink") {
			t.Errorf("sync to %s: err = %v", through, err)
		}
	}
	if _, code := exec("test", "-e", "/outside/x.txt"); code == 0 {
		t.Error("a write went through a symlink outside the target")
	}
	if _, code := exec("test", "-e", "/etc/x.txt"); code == 0 {
		t.Error("a write went through a symlink to /")
	}
	if err := b.Sync(ctx, id, []engine.SyncChange{{HostPath: filepath.Join(dir, "x.txt"), ContainerPath: "/etc/x.txt", Root: "/app"}}); err == nil {
		t.Error("a path outside the root was accepted")
	}
}

// A non-root user must be able to use the container's root: overlayfs
// takes "/"'s mode from the writable layer.
func TestNonRootUserCanTraverseRoot(t *testing.T) {
	b := newBackend(t)
	ctx := testCtx(t)
	spec := testSpec("usertest", "app", "sh", "-c", "id -u > /tmp/uid; exec sleep 600")
	spec.Service.NetworkMode = "none"
	spec.Service.User = "nobody"
	id, _ := run(t, b, spec.resolved(), engine.WaitRunning)
	var out bytes.Buffer
	code, err := b.Exec(ctx, id, engine.ExecSpec{Cmd: []string{"sh", "-c", "stat -c %a /; id -u"}, User: "nobody", Stdout: &out, Stderr: &out})
	if err != nil || code != 0 {
		t.Fatalf("exec as nobody: code %d, err %v, output %q", code, err, out.String())
	}
	if got := out.String(); got != "755\n65534\n" {
		t.Errorf("output %q", got)
	}
}

// Removing one of two tags of an image only untags it, even while a
// container uses the image (two projects that built the same Dockerfile
// share one image ID); removing the last tag of a used image conflicts.
func TestRemoveSharedTag(t *testing.T) {
	b := newBackend(t)
	ctx := testCtx(t)
	dir := t.TempDir()
	for _, tag := range []string{"shared-a:latest", "shared-b:latest"} {
		spec := engine.BuildSpec{Tag: tag, Context: dir, Inline: "FROM " + testImage + "\nLABEL purpose=shared-tag-test\n"}
		if _, err := b.Build(ctx, spec, nil); err != nil {
			t.Fatal(err)
		}
	}
	ida, err := b.ImageID(ctx, "shared-a:latest")
	if err != nil {
		t.Fatal(err)
	}
	if idb, _ := b.ImageID(ctx, "shared-b:latest"); idb != ida {
		t.Fatalf("the two builds differ: %s %s", ida, idb)
	}
	spec := testSpec("sharedtag", "app", "sleep", "600")
	spec.Image, spec.Service.Image = "shared-a:latest", "shared-a:latest"
	spec.Service.NetworkMode = "none"
	run(t, b, spec.resolved(), engine.WaitRunning)
	if err := b.RemoveImage(ctx, "shared-b:latest", false); err != nil {
		t.Fatalf("untag a shared tag: %v", err)
	}
	if err := b.RemoveImage(ctx, "shared-a:latest", false); !errors.Is(err, engine.ErrConflict) {
		t.Fatalf("remove the last tag of a used image: err = %v, want a conflict", err)
	}
}
