package docker

import (
	"context"
	"fmt"
	"io"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/pkg/stdcopy"

	"github.com/hoist-dev/hoist/engine"
)

// Logs copies the container's output. Without a TTY the daemon multiplexes
// stdout and stderr in one stream, which stdcopy splits; with a TTY there
// is a single raw stream, all of it written to stdout.
func (b *Backend) Logs(ctx context.Context, id string, opts engine.LogOptions, stdout, stderr io.Writer) error {
	info, err := b.api.ContainerInspect(ctx, id)
	if err != nil {
		return fmt.Errorf("logs of container %q: %w", id, mapErr(err))
	}
	rc, err := b.api.ContainerLogs(ctx, id, container.LogsOptions{
		ShowStdout: true,
		ShowStderr: true,
		Follow:     opts.Follow,
		Tail:       opts.Tail,
		Since:      opts.Since,
		Until:      opts.Until,
		Timestamps: opts.Timestamps,
	})
	if err != nil {
		return fmt.Errorf("logs of container %q: %w", id, mapErr(err))
	}
	defer rc.Close()
	if stdout == nil {
		stdout = io.Discard
	}
	if stderr == nil {
		stderr = io.Discard
	}
	if info.Config != nil && info.Config.Tty {
		_, err = io.Copy(stdout, rc)
	} else {
		_, err = stdcopy.StdCopy(stdout, stderr, rc)
	}
	if err != nil && ctx.Err() == nil {
		return fmt.Errorf("logs of container %q: %w", id, err)
	}
	return nil
}
