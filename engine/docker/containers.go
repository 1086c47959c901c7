package docker

import (
	"archive/tar"
	"bytes"
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/docker/docker/api/types/container"

	"github.com/hoist-dev/hoist/engine"
)

// CreateContainer creates spec.Name and connects it to every network in
// spec.Networks. If a connect fails the half-made container is removed, so
// a retry starts clean.
func (b *Backend) CreateContainer(ctx context.Context, spec engine.ContainerSpec) (string, error) {
	cc, err := toCreateConfig(spec, b.api.ClientVersion())
	if err != nil {
		return "", fmt.Errorf("create container %q: %w", spec.Name, err)
	}
	return b.create(ctx, spec, cc)
}

// create makes the container of cc, connects its other networks and
// writes its files.
func (b *Backend) create(ctx context.Context, spec engine.ContainerSpec, cc *createConfig) (string, error) {
	resp, err := b.api.ContainerCreate(ctx, cc.Config, cc.Host, cc.Networking, cc.Platform, spec.Name)
	if err != nil {
		return "", fmt.Errorf("create container %q: %w", spec.Name, mapErr(err))
	}
	for _, n := range cc.Connect {
		if err := b.api.NetworkConnect(ctx, n.Network, resp.ID, endpoint(n)); err != nil {
			// Best effort: the original error is what the caller needs.
			_ = b.api.ContainerRemove(context.WithoutCancel(ctx), resp.ID, container.RemoveOptions{Force: true})
			return "", fmt.Errorf("create container %q: connect network %q: %w", spec.Name, n.Network, mapErr(err))
		}
	}
	if len(spec.Config.Files) > 0 {
		// As docker compose injects secrets and configs given as content.
		if err := b.api.CopyToContainer(ctx, resp.ID, "/", filesTar(spec.Config.Files), container.CopyToContainerOptions{}); err != nil {
			_ = b.api.ContainerRemove(context.WithoutCancel(ctx), resp.ID, container.RemoveOptions{Force: true})
			return "", fmt.Errorf("create container %q: write secrets and configs: %w", spec.Name, mapErr(err))
		}
	}
	return resp.ID, nil
}

// filesTar is a tar of files, without entries for their parent
// directories: the Engine creates missing ones and leaves the image's
// alone.
func filesTar(files []engine.File) io.Reader {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, f := range files {
		// Writes to a bytes.Buffer do not fail.
		_ = tw.WriteHeader(&tar.Header{
			Typeflag: tar.TypeReg, Name: strings.TrimPrefix(f.Path, "/"), Size: int64(len(f.Content)),
			Mode: int64(f.Mode.Perm()), Uid: f.UID, Gid: f.GID, ModTime: time.Now(),
		})
		_, _ = tw.Write(f.Content)
	}
	_ = tw.Close()
	return &buf
}

// StartContainer starts a created or stopped container.
func (b *Backend) StartContainer(ctx context.Context, id string) error {
	if err := b.api.ContainerStart(ctx, id, container.StartOptions{}); err != nil {
		return fmt.Errorf("start container %q: %w", id, mapErr(err))
	}
	return nil
}

// StopContainer sends the stop signal and kills after timeout.
func (b *Backend) StopContainer(ctx context.Context, id string, timeout time.Duration) error {
	secs := int(timeout.Round(time.Second) / time.Second)
	if err := b.api.ContainerStop(ctx, id, container.StopOptions{Timeout: &secs}); err != nil {
		return fmt.Errorf("stop container %q: %w", id, mapErr(err))
	}
	return nil
}

// RemoveContainer removes a container and, with opts.Volumes, its
// anonymous volumes.
func (b *Backend) RemoveContainer(ctx context.Context, id string, opts engine.RemoveOptions) error {
	err := b.api.ContainerRemove(ctx, id, container.RemoveOptions{Force: opts.Force, RemoveVolumes: opts.Volumes})
	if err != nil {
		return fmt.Errorf("remove container %q: %w", id, mapErr(err))
	}
	return nil
}

// Kill sends signal (a name like "SIGTERM" or a number) to the main process.
func (b *Backend) Kill(ctx context.Context, id string, signal string) error {
	if err := b.api.ContainerKill(ctx, id, signal); err != nil {
		return fmt.Errorf("kill container %q: %w", id, mapErr(err))
	}
	return nil
}

// Top lists the container's processes as ps shows them.
func (b *Backend) Top(ctx context.Context, id string) ([]string, [][]string, error) {
	resp, err := b.api.ContainerTop(ctx, id, nil)
	if err != nil {
		return nil, nil, fmt.Errorf("top container %q: %w", id, mapErr(err))
	}
	return resp.Titles, resp.Processes, nil
}
