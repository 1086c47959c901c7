package native

import (
	"context"
	"fmt"
	"path/filepath"

	"github.com/hoist-dev/hoist/engine"
	"github.com/hoist-dev/hoist/engine/native/runtime"
	"github.com/hoist-dev/hoist/internal/rootfswrite"
)

var _ engine.Syncer = (*Backend)(nil)

// Sync writes straight into the running container's merged overlay
// directory (see internal/rootfswrite): hoist owns the rootfs, so there is
// no tar, no exec and no daemon round trip.
func (b *Backend) Sync(ctx context.Context, id string, changes []engine.SyncChange) error {
	r, err := b.load(id)
	if err != nil {
		return fmt.Errorf("sync: %w", err)
	}
	st, started, err := b.status(r)
	if err != nil {
		return fmt.Errorf("sync %s: %w", r.Name, err)
	}
	if !started || st.Status != runtime.StatusRunning {
		return fmt.Errorf("sync %s: it is not running: %w", r.Name, engine.ErrConflict)
	}
	if err := rootfswrite.Apply(ctx, filepath.Join(b.layerDir(r.ID), "rootfs"), changes); err != nil {
		return fmt.Errorf("sync %s: %w", r.Name, err)
	}
	return nil
}
