package docker

import (
	"context"
	"fmt"
	"sort"
	"time"

	"github.com/hoist-dev/hoist/engine"
)

// InspectImage returns the image's configuration and layers.
func (b *Backend) InspectImage(ctx context.Context, ref string) (engine.ImageDetail, error) {
	im, err := b.api.ImageInspect(ctx, ref)
	if err != nil {
		return engine.ImageDetail{}, fmt.Errorf("inspect image %s: %w", ref, mapErr(err))
	}
	d := engine.ImageDetail{ID: im.ID, Ref: ref, Size: im.Size, DiffIDs: im.RootFS.Layers}
	if t, err := time.Parse(time.RFC3339Nano, im.Created); err == nil {
		d.Created = t
	}
	if c := im.Config; c != nil {
		d.Env, d.Entrypoint, d.Cmd = c.Env, c.Entrypoint, c.Cmd
		d.WorkingDir, d.User, d.StopSignal, d.Labels = c.WorkingDir, c.User, c.StopSignal, c.Labels
		for p := range c.ExposedPorts {
			d.ExposedPorts = append(d.ExposedPorts, p)
		}
		sort.Strings(d.ExposedPorts)
		for v := range c.Volumes {
			d.Volumes = append(d.Volumes, v)
		}
		sort.Strings(d.Volumes)
		if c.Healthcheck != nil {
			d.Healthcheck = c.Healthcheck.Test
		}
	}
	return d, nil
}
