package docker

import (
	"context"
	"fmt"
	"maps"

	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/api/types/volume"

	"github.com/hoist-dev/hoist/engine"
)

// objectLabels adds the compose project and key labels (unless the caller
// set them) so that Observe, which filters on the project label, finds the
// object again.
func objectLabels(labels map[string]string, project, keyLabel, key string) map[string]string {
	out := make(map[string]string, len(labels)+2)
	if project != "" {
		out[engine.LabelProject] = project
	}
	if key != "" {
		out[keyLabel] = key
	}
	maps.Copy(out, labels)
	return out
}

// CreateNetwork creates spec.Name; an existing name is an ErrConflict (the
// client asks the daemon to check duplicates on older API versions).
func (b *Backend) CreateNetwork(ctx context.Context, spec engine.NetworkSpec) error {
	opts := network.CreateOptions{
		Driver:   spec.Driver,
		Internal: spec.Internal,
		Labels:   objectLabels(spec.Labels, spec.Project, engine.LabelNetwork, spec.Key),
		Options:  spec.Options,
	}
	if len(spec.Subnets) > 0 {
		opts.IPAM = &network.IPAM{Driver: "default"}
		for _, s := range spec.Subnets {
			opts.IPAM.Config = append(opts.IPAM.Config, network.IPAMConfig{Subnet: s})
		}
	}
	if _, err := b.api.NetworkCreate(ctx, spec.Name, opts); err != nil {
		return fmt.Errorf("create network %q: %w", spec.Name, mapErr(err))
	}
	return nil
}

// RemoveNetwork removes a network by name or ID.
func (b *Backend) RemoveNetwork(ctx context.Context, name string) error {
	if err := b.api.NetworkRemove(ctx, name); err != nil {
		return fmt.Errorf("remove network %q: %w", name, mapErr(err))
	}
	return nil
}

// CreateVolume creates spec.Name. The daemon silently returns an existing
// volume of the same name, so existence is checked first to report
// ErrConflict like networks do.
func (b *Backend) CreateVolume(ctx context.Context, spec engine.VolumeSpec) error {
	_, err := b.api.VolumeInspect(ctx, spec.Name)
	switch mapped := mapErr(err); {
	case err == nil:
		return fmt.Errorf("create volume %q: %w", spec.Name, &kindError{kind: engine.ErrConflict, err: fmt.Errorf("volume %q already exists", spec.Name)})
	case !isNotFound(mapped):
		return fmt.Errorf("create volume %q: %w", spec.Name, mapped)
	}
	_, err = b.api.VolumeCreate(ctx, volume.CreateOptions{
		Name:       spec.Name,
		Driver:     spec.Driver,
		DriverOpts: spec.Options,
		Labels:     objectLabels(spec.Labels, spec.Project, engine.LabelVolume, spec.Key),
	})
	if err != nil {
		return fmt.Errorf("create volume %q: %w", spec.Name, mapErr(err))
	}
	return nil
}

// RemoveVolume removes a named volume; in use is an ErrConflict.
func (b *Backend) RemoveVolume(ctx context.Context, name string) error {
	if err := b.api.VolumeRemove(ctx, name, false); err != nil {
		return fmt.Errorf("remove volume %q: %w", name, mapErr(err))
	}
	return nil
}
