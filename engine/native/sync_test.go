package native

import (
	"bytes"
	"errors"
	"testing"

	"github.com/hoist-dev/hoist/engine"
)

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
