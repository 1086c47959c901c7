package native

import (
	"context"
	"fmt"
	"io"
	"sort"
	"strings"
	"sync"

	"github.com/hoist-dev/hoist/engine"
	"github.com/hoist-dev/hoist/engine/native/build"
	"github.com/hoist-dev/hoist/engine/native/buildnet"
)

// ImageID returns the local ID of ref, or an error wrapping ErrNotFound.
func (b *Backend) ImageID(ctx context.Context, ref string) (string, error) {
	img, err := b.store.Resolve(ctx, ref)
	if err != nil {
		return "", err
	}
	return img.ID, nil
}

// Pull fetches ref into the native store.
func (b *Backend) Pull(ctx context.Context, ref string, progress func(msg string)) error {
	return b.store.Pull(ctx, ref, progress)
}

// Push uploads the local image ref to its registry.
func (b *Backend) Push(ctx context.Context, ref string, progress func(msg string)) error {
	return b.store.Push(ctx, ref, progress)
}

// RemoveImage untags ref. An image a container uses is an ErrConflict
// unless force. Blobs and layers are freed by a GC that keeps the images
// of existing containers.
func (b *Backend) RemoveImage(ctx context.Context, ref string, force bool) error {
	img, err := b.store.Resolve(ctx, ref)
	if err != nil {
		return fmt.Errorf("remove image %s: %w", ref, err)
	}
	recs, err := b.layout.All()
	if err != nil {
		return err
	}
	// As with Docker, a tag shared with other tags is only untagged: the
	// image (which a container may use) stays under its other names.
	shared := false
	if list, err := b.store.List(); err == nil {
		n := 0
		for _, s := range list {
			if s.ID == img.ID {
				n++
			}
		}
		shared = n > 1 && !strings.HasPrefix(strings.TrimPrefix(img.ID, "sha256:"), strings.TrimPrefix(ref, "sha256:"))
	}
	var inUse []string
	for _, r := range recs {
		if r.ImageID == img.ID && !force && !shared {
			return fmt.Errorf("remove image %s: container %s uses it: %w", ref, r.Name, engine.ErrConflict)
		}
		inUse = append(inUse, r.ImageID)
	}
	if err := b.store.Remove(ctx, ref); err != nil {
		return fmt.Errorf("remove image %s: %w", ref, err)
	}
	if _, err := b.store.GC(ctx, inUse...); err != nil {
		return fmt.Errorf("remove image %s: gc: %w", ref, err)
	}
	return nil
}

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

// LoadImages loads a `docker save` or OCI layout archive into the store.
func (b *Backend) LoadImages(ctx context.Context, r io.Reader, progress func(string)) ([]string, error) {
	return b.Store().Load(ctx, r, progress)
}

// ImportImage creates an image from a rootfs tarball, like `docker import`.
func (b *Backend) ImportImage(ctx context.Context, r io.Reader, ref string, changes []string) (string, error) {
	return b.Store().Import(ctx, r, ref, changes)
}

// ListImages lists the store's images.
func (b *Backend) ListImages(ctx context.Context) ([]engine.ImageSummary, error) {
	list, err := b.Store().List()
	if err != nil {
		return nil, err
	}
	out := make([]engine.ImageSummary, 0, len(list))
	for _, s := range list {
		out = append(out, engine.ImageSummary{Ref: s.Ref, ID: s.ID, Size: s.Size, Created: s.Created})
	}
	return out, nil
}

// builderOnce holds the native Dockerfile builder on the engine's store, its
// cache under <Root>/build; made on first use and kept, so the context
// hashes it remembers serve later builds of the same process.
type builderOnce struct {
	once sync.Once
	b    *build.Builder
}

// Build builds spec into the native store with engine/native/build: RUN
// steps run as native containers, each in a network namespace of its own
// on a bridge of the build's (engine/native/buildnet), and the layer cache lives
// under <Root>/build.
func (b *Backend) Build(ctx context.Context, spec engine.BuildSpec, progress func(msg string)) (string, error) {
	b.builder.once.Do(func() {
		b.builder.b = build.New(b.store, build.Options{Network: buildnet.Networks{Manager: b.nets.Manager, RunDir: b.layout.RunDir, Logf: b.logf}, AfterWrite: b.afterWrite})
	})
	return b.builder.b.Build(ctx, spec, progress)
}
