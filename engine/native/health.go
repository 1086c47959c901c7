package native

import (
	"context"
	"fmt"

	"github.com/hoist-dev/hoist/engine"
	"github.com/hoist-dev/hoist/engine/native/runtime"
)

// health is the container's last recorded health ("" when unknown).
func (b *Backend) health(r *record, st runtime.State) string {
	return engine.HealthStarting
}

// waitHealthy waits for a container with a healthcheck to be healthy.
func (b *Backend) waitHealthy(ctx context.Context, r *record) (engine.Container, error) {
	return engine.Container{}, fmt.Errorf("wait for container %q to be healthy: healthchecks need the native supervisor (part 3): %w", r.Name, engine.ErrNotImplemented)
}
