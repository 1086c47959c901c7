package docker

import (
	"context"
	"fmt"
	"io"

	"github.com/docker/docker/api/types"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/pkg/stdcopy"

	"github.com/hoist-dev/hoist/engine"
)

// Exec runs spec.Cmd in a running container, wiring the given streams, and
// returns the command's exit code.
func (b *Backend) Exec(ctx context.Context, id string, spec engine.ExecSpec) (int, error) {
	created, err := b.api.ContainerExecCreate(ctx, id, container.ExecOptions{
		User:         spec.User,
		Tty:          spec.TTY,
		AttachStdin:  spec.Stdin != nil,
		AttachStdout: true,
		AttachStderr: true,
		Env:          spec.Env,
		WorkingDir:   spec.WorkDir,
		Cmd:          spec.Cmd,
	})
	if err != nil {
		return 0, fmt.Errorf("exec in container %q: %w", id, mapErr(err))
	}
	// Attaching starts the exec and hijacks the connection for its streams.
	hj, err := b.api.ContainerExecAttach(ctx, created.ID, container.ExecAttachOptions{Tty: spec.TTY})
	if err != nil {
		return 0, fmt.Errorf("exec in container %q: %w", id, mapErr(err))
	}
	defer hj.Close()
	stop := context.AfterFunc(ctx, hj.Close) // unblock the copies on cancel
	defer stop()
	if spec.TTY {
		stop := b.followSize(ctx, spec.Size, spec.Resize, func(ctx context.Context, o container.ResizeOptions) error {
			return b.api.ContainerExecResize(ctx, created.ID, o)
		})
		defer stop()
	}
	err = pipeAttached(hj, spec.Stdin, spec.Stdout, spec.Stderr, spec.TTY)
	if ctx.Err() != nil {
		return 0, fmt.Errorf("exec in container %q: %w", id, ctx.Err())
	}
	if err != nil {
		return 0, fmt.Errorf("exec in container %q: read output: %w", id, err)
	}
	res, err := b.api.ContainerExecInspect(ctx, created.ID)
	if err != nil {
		return 0, fmt.Errorf("exec in container %q: %w", id, mapErr(err))
	}
	return res.ExitCode, nil
}

// pipeAttached copies stdin, when set, into an attached connection
// (closing its write side at EOF, the command's end of input) and the
// command's output out of it (one raw stream with a TTY, else stdout and
// stderr multiplexed) until the output ends. Nil writers discard.
func pipeAttached(hj types.HijackedResponse, stdin io.Reader, stdout, stderr io.Writer, tty bool) error {
	if stdin != nil {
		go func() {
			_, _ = io.Copy(hj.Conn, stdin)
			_ = hj.CloseWrite()
		}()
	}
	if stdout == nil {
		stdout = io.Discard
	}
	if stderr == nil {
		stderr = io.Discard
	}
	var err error
	if tty {
		_, err = io.Copy(stdout, hj.Reader)
	} else {
		_, err = stdcopy.StdCopy(stdout, stderr, hj.Reader)
	}
	return err
}

// followSize applies a terminal's size now and each later one until stop
// (API 1.41 takes no console size at create: the terminal starts at the
// daemon's default size and is resized at once).
func (b *Backend) followSize(ctx context.Context, size engine.WinSize, resize <-chan engine.WinSize, apply func(context.Context, container.ResizeOptions) error) (stop func()) {
	set := func(ws engine.WinSize) {
		if ws.Rows > 0 && ws.Cols > 0 {
			_ = apply(ctx, container.ResizeOptions{Height: uint(ws.Rows), Width: uint(ws.Cols)})
		}
	}
	set(size)
	if resize == nil {
		return func() {}
	}
	rctx, cancel := context.WithCancel(ctx)
	go func() {
		for {
			select {
			case <-rctx.Done():
				return
			case ws, ok := <-resize:
				if !ok {
					return
				}
				set(ws)
			}
		}
	}()
	return cancel
}
