package docker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/docker/docker/api/types/build"

	"github.com/hoist-dev/hoist/engine"
)

// Build sends the context (filtered by the ignore files) to the daemon's
// builder, tags the result spec.Tag and returns the image ID. Step output
// goes to progress; an error in the stream fails the build.
func (b *Backend) Build(ctx context.Context, spec engine.BuildSpec, progress func(msg string)) (string, error) {
	bc, err := newBuildContext(spec)
	if err != nil {
		return "", fmt.Errorf("build %q: %w", spec.Tag, err)
	}
	// The tar is produced while the daemon reads it, so a large context is
	// never held in memory.
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(bc.writeTar(pw)) }()
	defer pr.Close()

	opts := build.ImageBuildOptions{
		Dockerfile: bc.dockerfile,
		BuildArgs:  spec.Args,
		Target:     spec.Target,
		Labels:     spec.Labels,
		NoCache:    spec.NoCache,
		PullParent: spec.Pull,
		// RUN steps' network, as docker compose passes build.network. The
		// Engine's classic builder has no entitlements (nor RUN
		// --network), so spec.Entitlements has nothing to map to.
		NetworkMode: spec.Network,
		Remove:      true,
		ForceRemove: true,
	}
	if spec.Tag != "" {
		opts.Tags = []string{spec.Tag}
	}
	resp, err := b.api.ImageBuild(ctx, pr, opts)
	if err != nil {
		return "", fmt.Errorf("build %q: %w", spec.Tag, mapErr(err))
	}
	defer resp.Body.Close()
	var id string
	aux := func(raw json.RawMessage) {
		var r build.Result
		if json.Unmarshal(raw, &r) == nil && r.ID != "" {
			id = r.ID
		}
	}
	if err := readMessages(resp.Body, progress, aux); err != nil {
		return "", fmt.Errorf("build %q: %w", spec.Tag, err)
	}
	if id == "" && spec.Tag != "" {
		// Older builders report the ID only as text; the tag is exact.
		if id, err = b.ImageID(ctx, spec.Tag); err != nil {
			return "", fmt.Errorf("build %q: %w", spec.Tag, err)
		}
	}
	if id == "" {
		return "", fmt.Errorf("build %q: %w", spec.Tag, errors.New("the daemon reported no image ID"))
	}
	return id, nil
}
