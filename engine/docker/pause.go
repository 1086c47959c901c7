package docker

import (
	"context"
	"fmt"
	"strings"

	"github.com/hoist-dev/hoist/engine"
)

// Pause freezes the container's processes (docker pause).
func (b *Backend) Pause(ctx context.Context, id string) error {
	if err := b.api.ContainerPause(ctx, id); err != nil {
		return fmt.Errorf("pause container %q: %w", id, mapErr(err))
	}
	return nil
}

// Unpause thaws them (docker unpause).
func (b *Backend) Unpause(ctx context.Context, id string) error {
	if err := b.api.ContainerUnpause(ctx, id); err != nil {
		// Docker Engine 20.10 answers 500 for a container that is not
		// paused; it is a conflict, as a pause of a paused one is.
		if strings.Contains(err.Error(), "is not paused") {
			return fmt.Errorf("unpause container %q: %w: %w", id, err, engine.ErrConflict)
		}
		return fmt.Errorf("unpause container %q: %w", id, mapErr(err))
	}
	return nil
}
