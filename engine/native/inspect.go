package native

import (
	"context"
	"fmt"
	"sort"

	"github.com/hoist-dev/hoist/engine"
)

// InspectImage returns the image's configuration and layers from the store.
func (b *Backend) InspectImage(ctx context.Context, ref string) (engine.ImageDetail, error) {
	im, err := b.Store().Resolve(ctx, ref)
	if err != nil {
		return engine.ImageDetail{}, fmt.Errorf("inspect image %s: %w", ref, err)
	}
	cf := im.Config
	c := cf.Config
	d := engine.ImageDetail{ID: im.ID, Ref: im.Ref, Created: cf.Created.Time,
		Env: c.Env, Entrypoint: c.Entrypoint, Cmd: c.Cmd, WorkingDir: c.WorkingDir, User: c.User,
		Labels: c.Labels, StopSignal: c.StopSignal}
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
	for _, id := range cf.RootFS.DiffIDs {
		d.DiffIDs = append(d.DiffIDs, id.String())
	}
	for _, h := range cf.History {
		d.History = append(d.History, h.CreatedBy)
	}
	if list, err := b.Store().List(); err == nil {
		for _, s := range list {
			if s.ID == im.ID {
				d.Size = s.Size
				break
			}
		}
	}
	return d, nil
}
