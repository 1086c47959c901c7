package docker

import (
	"context"
	"testing"

	"github.com/hoist-dev/hoist/engine"
	"github.com/hoist-dev/hoist/engine/enginetest"
)

// apiSyncer is the backend with Sync on the copy API alone: the transport
// for a remote dockerd, or a target under a mount.
type apiSyncer struct{ *Backend }

func (s apiSyncer) Sync(ctx context.Context, id string, changes []engine.SyncChange) error {
	return s.syncThroughAPI(ctx, id, changes)
}

// TestSync: TestConformance runs the shared Syncer test on Sync, which
// writes into the container's merged directory when dockerd is local with
// overlay2, as here (checked first); this runs it on the copy API.
func TestSync(t *testing.T) {
	b := newRealBackend(t)
	img := ensureTestImage(t, b)
	ctx := testCtx(t)
	spec := labelledSpec(testProject(t, b), "sync", 1, img, "sleep", "600")
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
	if b.localMergedDir(ctx, id, []engine.SyncChange{{ContainerPath: "/app/x", Root: "/app"}}) == "" {
		t.Fatal("dockerd is local with overlay2 here, yet the merged directory is not used")
	}
	t.Run("copy-api", func(t *testing.T) {
		enginetest.RunSyncer(t, func(t *testing.T) engine.Backend { return apiSyncer{b} }, enginetest.Options{Image: img})
	})
}
