package docker

import (
	"context"
	"fmt"
	"time"

	"github.com/docker/docker/api/types/container"

	"github.com/hoist-dev/hoist/engine"
)

// RunContainer is docker run for a one-off container: created with its
// streams attached (stdin too when opts.Stdin is set, as -i), attached
// before it starts so no output is missed, its output copied until it
// exits; with Remove it is removed afterwards, also when ctx ends (which
// kills it first).
func (b *Backend) RunContainer(ctx context.Context, spec engine.ContainerSpec, opts engine.RunAttach) (int, error) {
	cc, err := toCreateConfig(spec, b.api.ClientVersion())
	if err != nil {
		return 0, fmt.Errorf("create container %q: %w", spec.Name, err)
	}
	cc.Config.AttachStdout, cc.Config.AttachStderr = true, true
	if opts.TTY {
		cc.Config.Tty = true
	}
	if opts.Stdin != nil {
		cc.Config.AttachStdin, cc.Config.OpenStdin, cc.Config.StdinOnce = true, true, true
	}
	id, err := b.create(ctx, spec, cc)
	if err != nil {
		return 0, err
	}
	if opts.Remove {
		defer func() {
			rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
			defer cancel()
			_ = b.api.ContainerRemove(rctx, id, container.RemoveOptions{Force: true, RemoveVolumes: true})
		}()
	}
	hj, err := b.api.ContainerAttach(ctx, id, container.AttachOptions{Stream: true, Stdin: opts.Stdin != nil, Stdout: true, Stderr: true})
	if err != nil {
		return 0, fmt.Errorf("attach to container %q: %w", spec.Name, mapErr(err))
	}
	defer hj.Close()
	// Registered before the start, so the exit cannot be missed.
	waitC, waitErr := b.api.ContainerWait(ctx, id, container.WaitConditionNextExit)
	if err := b.api.ContainerStart(ctx, id, container.StartOptions{}); err != nil {
		return 0, fmt.Errorf("start container %q: %w", spec.Name, mapErr(err))
	}
	if opts.TTY {
		stop := b.followSize(ctx, opts.Size, opts.Resize, func(ctx context.Context, o container.ResizeOptions) error {
			return b.api.ContainerResize(ctx, id, o)
		})
		defer stop()
	}
	outDone := make(chan struct{})
	go func() {
		defer close(outDone)
		_ = pipeAttached(hj, opts.Stdin, opts.Stdout, opts.Stderr, cc.Config.Tty)
	}()
	var code int
	select {
	case res := <-waitC:
		if res.Error != nil && res.Error.Message != "" {
			return 0, fmt.Errorf("wait for container %q: %s", spec.Name, res.Error.Message)
		}
		code = int(res.StatusCode)
	case err := <-waitErr:
		if ctx.Err() != nil {
			_ = b.api.ContainerKill(context.WithoutCancel(ctx), id, "KILL")
			return 0, fmt.Errorf("run container %q: %w", spec.Name, ctx.Err())
		}
		return 0, fmt.Errorf("wait for container %q: %w", spec.Name, mapErr(err))
	}
	// The stream ends with the container; a moment more for what is in
	// flight.
	select {
	case <-outDone:
	case <-time.After(5 * time.Second):
	}
	if ctx.Err() != nil {
		return code, fmt.Errorf("run container %q: %w", spec.Name, ctx.Err())
	}
	return code, nil
}
