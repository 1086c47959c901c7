package docker

import (
	"context"
	"fmt"
	"io"

	"github.com/docker/docker/api/types/container"

	"github.com/hoist-dev/hoist/engine"
)

// StatPath is the Engine API's stat of a container path.
func (b *Backend) StatPath(ctx context.Context, id, path string) (engine.PathStat, error) {
	st, err := b.api.ContainerStatPath(ctx, id, path)
	if err != nil {
		return engine.PathStat{}, fmt.Errorf("stat %s in %s: %w", path, id, mapErr(err))
	}
	return pathStat(st), nil
}

// CopyFrom is the Engine API's archive of a container path.
func (b *Backend) CopyFrom(ctx context.Context, id, path string) (io.ReadCloser, engine.PathStat, error) {
	rc, st, err := b.api.CopyFromContainer(ctx, id, path)
	if err != nil {
		return nil, engine.PathStat{}, fmt.Errorf("copy %s from %s: %w", path, id, mapErr(err))
	}
	return rc, pathStat(st), nil
}

// CopyTo is the Engine API's extraction of an archive into a container
// directory; the daemon resolves it inside the container's root. A
// directory is never replaced by a file, as with docker cp.
func (b *Backend) CopyTo(ctx context.Context, id, dir string, content io.Reader, opts engine.CopyToOptions) error {
	err := b.api.CopyToContainer(ctx, id, dir, content, container.CopyToContainerOptions{CopyUIDGID: opts.CopyUIDGID})
	if err != nil {
		return fmt.Errorf("copy to %s in %s: %w", dir, id, mapErr(err))
	}
	return nil
}

func pathStat(st container.PathStat) engine.PathStat {
	return engine.PathStat{Name: st.Name, Size: st.Size, Mode: st.Mode, Mtime: st.Mtime, LinkTarget: st.LinkTarget}
}
