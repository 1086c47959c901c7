package docker

import (
	"context"
	"fmt"
	"io"

	"github.com/docker/docker/api/types/container"

	"github.com/hoist-dev/hoist/engine"
)

// Export streams the container's file system from the daemon.
func (b *Backend) Export(ctx context.Context, id string) (io.ReadCloser, error) {
	rc, err := b.api.ContainerExport(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("export container %q: %w", id, mapErr(err))
	}
	return rc, nil
}

// Commit has the daemon make an image of the container.
func (b *Backend) Commit(ctx context.Context, id string, opts engine.CommitOptions) (string, error) {
	resp, err := b.api.ContainerCommit(ctx, id, container.CommitOptions{
		Reference: opts.Ref, Comment: opts.Message, Author: opts.Author, Changes: opts.Changes, Pause: opts.Pause,
	})
	if err != nil {
		return "", fmt.Errorf("commit container %q: %w", id, mapErr(err))
	}
	return resp.ID, nil
}
