package docker

import (
	"context"
	"fmt"
	"time"

	"github.com/docker/docker/api/types/container"

	"github.com/hoist-dev/hoist/engine"
)

// Attach attaches to the container through the daemon.
func (b *Backend) Attach(ctx context.Context, id string, s engine.AttachStreams) (int, error) {
	info, err := b.api.ContainerInspect(ctx, id)
	if err != nil {
		return 0, fmt.Errorf("attach to container %q: %w", id, mapErr(err))
	}
	if info.State == nil || !info.State.Running {
		return 0, fmt.Errorf("attach to container %q: you cannot attach to a stopped container, start it first: %w", id, engine.ErrConflict)
	}
	stdin := s.Stdin
	if !info.Config.OpenStdin {
		stdin = nil
	}
	hj, err := b.api.ContainerAttach(ctx, id, container.AttachOptions{Stream: true, Stdin: stdin != nil, Stdout: true, Stderr: true})
	if err != nil {
		return 0, fmt.Errorf("attach to container %q: %w", id, mapErr(err))
	}
	defer hj.Close()
	waitC, waitErr := b.api.ContainerWait(ctx, id, container.WaitConditionNextExit)
	outDone := make(chan struct{})
	go func() {
		defer close(outDone)
		_ = pipeAttached(hj, stdin, s.Stdout, s.Stderr, info.Config.Tty)
	}()
	select {
	case res := <-waitC:
		// What is in flight still comes out.
		select {
		case <-outDone:
		case <-time.After(5 * time.Second):
		}
		return int(res.StatusCode), nil
	case err := <-waitErr:
		if ctx.Err() != nil {
			return 0, ctx.Err()
		}
		return 0, fmt.Errorf("wait for container %q: %w", id, mapErr(err))
	case <-outDone:
		// The stream ended first: the container stopped before the
		// wait was registered, or the connection broke.
		if ctx.Err() != nil {
			return 0, ctx.Err()
		}
		after, err := b.api.ContainerInspect(ctx, id)
		if err != nil {
			return 0, fmt.Errorf("attach to container %q: %w", id, mapErr(err))
		}
		if after.State != nil && after.State.Running {
			return 0, fmt.Errorf("attach to container %q: the stream ended", id)
		}
		return after.State.ExitCode, nil
	}
}
