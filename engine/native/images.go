package native

import (
	"context"
	"fmt"
	"strings"

	"github.com/hoist-dev/hoist/engine"
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
	recs, err := b.allRecords()
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
